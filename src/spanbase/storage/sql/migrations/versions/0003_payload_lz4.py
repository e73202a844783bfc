"""PostgreSQL: span payloads compressed with lz4 rather than pglz, where the server has lz4.

A payload (~5 KB of JSON) is over TOAST's 2 KB threshold, so PostgreSQL compresses each one as it is
written, in the backend that the one span writer waits for. COPY of 20,000 generated payloads into a
table of this shape (PostgreSQL 15, the 2-core VM) cost the backend 87-89 us of CPU a payload with the
default pglz, 28-36 us with lz4 (4,084 bytes a row stored, against pglz's 3,317), and 21.5 us with no
compression at all (STORAGE EXTERNAL, 5,663 bytes). Payloads stored already keep their compression;
reads decompress either. SQLite does not compress: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _has_lz4() -> bool:
    """PostgreSQL 14 and later, built with lz4 (the Debian, Ubuntu and official Docker builds are)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    methods = bind.execute(
        sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
    ).scalar()
    return methods is not None and "lz4" in methods


def upgrade() -> None:
    if _has_lz4():
        op.execute("ALTER TABLE span_payloads ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if _has_lz4():
        op.execute("ALTER TABLE span_payloads ALTER COLUMN body SET COMPRESSION DEFAULT")
