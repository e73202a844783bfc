"""What a start does before serving: migrate, and make sure some API key can reach the server."""

from __future__ import annotations

from collections.abc import Callable

from spanbase.domain.keys import new_key
from spanbase.settings import Settings
from spanbase.storage.sql.keys import KeyStore


def ensure_keys(keys: KeyStore, settings: Settings, say: Callable[[str], None]) -> None:
    """SPANBASE_INIT_API_KEY is created if missing; with no key at all, one is made and shown once."""
    if settings.init_api_key:
        if keys.add(settings.init_api_key, settings.init_organization, "prod", name="SPANBASE_INIT_API_KEY"):
            say(f"Created the API key from SPANBASE_INIT_API_KEY for organization {settings.init_organization!r}.")
        return
    if keys.count() == 0:
        key = new_key("prod")
        keys.add(key, settings.init_organization, "prod", name="first start")
        say(
            "No API key existed, so spanbase made one. It is shown only this once; keep it:\n"
            f"  organization {settings.init_organization!r}, environment 'prod'\n"
            f"  {key}"
        )
