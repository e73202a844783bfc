"""Organizations and API keys in SQL."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from spanbase.domain.keys import Principal, hash_key, key_prefix
from spanbase.storage.sql.dialects import insert_ignoring_conflicts
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
        # Insert-if-missing then read: two processes making the same organization at once both succeed.
        with self._engine.begin() as conn:
            conn.execute(
                insert_ignoring_conflicts(
                    organizations, conn.dialect.name, uid=uuid.uuid4().hex, name=name, created_us=_now_us()
                )
            )
            return int(conn.execute(select(organizations.c.id).where(organizations.c.name == name)).scalar_one())

    def add(self, key: str, organization: str, environment: str, name: str | None = None) -> bool:
        """Store a key (hashed). False when the key exists already."""
        org_id = self.ensure_organization(organization)
        with self._engine.begin() as conn:
            result = conn.execute(
                insert_ignoring_conflicts(
                    api_keys,
                    conn.dialect.name,
                    prefix=key_prefix(key),
                    key_hash=hash_key(key),
                    org_id=org_id,
                    environment=environment,
                    name=name,
                    created_us=_now_us(),
                )
            )
            return result.first() is not None

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

    def revoke(self, prefix_or_key: str) -> int:
        """Revoke the active key given whole, or else the one whose listed prefix this is.

        Returns how many active keys matched: 1 means revoked; 0 none; more means the prefix is shared
        and nothing was revoked (give the whole key instead).
        """
        by_hash = api_keys.c.key_hash == hash_key(prefix_or_key)
        by_prefix = api_keys.c.prefix == prefix_or_key
        active = api_keys.c.revoked_us.is_(None)
        with self._engine.begin() as conn:
            ids = conn.execute(select(api_keys.c.id).where(by_hash, active)).scalars().all()
            if not ids:
                ids = conn.execute(select(api_keys.c.id).where(by_prefix, active)).scalars().all()
            if len(ids) == 1:
                conn.execute(update(api_keys).where(api_keys.c.id == ids[0]).values(revoked_us=_now_us()))
            return len(ids)

    def principal(self, key: str) -> Principal | None:
        """The organization and environment of a valid key; None when unknown or revoked."""
        query = (
            select(api_keys.c.id, api_keys.c.org_id, api_keys.c.environment, organizations.c.uid)
            .join(organizations, organizations.c.id == api_keys.c.org_id)
            .where(api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_us.is_(None))
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Principal(org_id=row.org_id, org_uid=row.uid, environment=row.environment, key_id=row.id)
