"""API keys: made here, shown once, stored as a SHA-256 hash.

A key is 32 random bytes (URL-safe base64), so a fast hash is enough: there is nothing to brute-force,
unlike a password. The prefix (the first 16 characters: "sb_live_" and 8 random ones, 48 bits) names a
key in listings and for revocation; it is not unique by construction (a chosen SPANBASE_INIT_API_KEY can
share it with another key), so revocation also takes any longer start of the key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

PREFIX_LEN = 16


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: an organization and one of its environments."""

    org_id: int
    org_uid: str
    environment: str
    key_id: int = 0  # the API key's own id: spans record it as organization_key_id


def new_key(environment: str) -> str:
    return f"sb_{'live' if environment == 'prod' else 'test'}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LEN]
