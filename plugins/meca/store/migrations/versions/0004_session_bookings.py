"""Classroom session bookings and the booking ledger lock

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meca.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LEDGER = "bookings"


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("session_id", sa.String(length=250), nullable=False),
        sa.Column("series_id", sa.String(length=250), nullable=False),
        sa.Column("occurrence", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("asked_region", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("template", sa.String(length=128), nullable=False),
        sa.Column("offering", sa.String(length=128), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("vm_memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("vm_cpu_mhz", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("holds_from", UTCDateTime(), nullable=False),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_bookings")),
    )
    op.create_index(
        "ix_bookings_region_window", "bookings", ["region", "state", "holds_from", "ends_at"], unique=False
    )
    op.create_index(op.f("ix_bookings_series_id"), "bookings", ["series_id"], unique=False)
    lock = op.create_table(
        "booking_ledger_lock",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_booking_ledger_lock")),
    )
    op.bulk_insert(lock, [{"name": LEDGER, "version": 0}])


def downgrade() -> None:
    op.drop_table("booking_ledger_lock")
    op.drop_index(op.f("ix_bookings_series_id"), table_name="bookings")
    op.drop_index("ix_bookings_region_window", table_name="bookings")
    op.drop_table("bookings")
