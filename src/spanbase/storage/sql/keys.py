"""Organizations and API keys in SQL."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from spanbase.domain.keys import Principal, hash_key, key_prefix
from spanbase.storage.sql.tables import api_keys, organizations


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    organization: str
    environment: str
    name: str | None
    created_us: int
    revoked_us: int | None


class KeyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure_organization(self, name: str) -> int:
        with self._engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            row = conn.execute(select(organizations.c.id).where(organizations.c.name == name)).first()
            if row is not None:
                return int(row[0])
            result = conn.execute(organizations.insert().values(uid=uuid.uuid4().hex, name=name, created_us=_now_us()))
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])

    def add(self, key: str, organization: str, environment: str, name: str | None = None) -> bool:
        """Store a key (hashed). False when the key exists already."""
        org_id = self.ensure_organization(organization)
        digest = hash_key(key)
        with self._engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            if conn.execute(select(api_keys.c.id).where(api_keys.c.key_hash == digest)).first():
                return False
            conn.execute(
                api_keys.insert().values(
                    prefix=key_prefix(key),
                    key_hash=digest,
                    org_id=org_id,
                    environment=environment,
                    name=name,
                    created_us=_now_us(),
                )
            )
        return True

    def count(self) -> int:
        with self._engine.connect() as conn:
            return len(conn.execute(select(api_keys.c.id)).all())

    def list(self) -> list[KeyInfo]:
        query = (
            select(api_keys, organizations.c.name.label("organization"))
            .join(organizations, organizations.c.id == api_keys.c.org_id)
            .order_by(api_keys.c.created_us)
        )
        with self._engine.connect() as conn:
            return [
                KeyInfo(r.prefix, r.organization, r.environment, r.name, r.created_us, r.revoked_us)
                for r in conn.execute(query)
            ]

    def revoke(self, prefix: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_keys)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_us.is_(None))
                .values(revoked_us=_now_us())
            )
            return result.rowcount > 0

    def principal(self, key: str) -> Principal | None:
        """The organization and environment of a valid key; None when unknown or revoked."""
        query = (
            select(api_keys.c.org_id, api_keys.c.environment, organizations.c.uid)
            .join(organizations, organizations.c.id == api_keys.c.org_id)
            .where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_us.is_(None))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else Principal(org_id=row.org_id, org_uid=row.uid, environment=row.environment)
