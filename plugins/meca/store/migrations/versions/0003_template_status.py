"""Template replication status: one row per MGTR template and region

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meca.store.types import UTCDateTime

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_status",
        sa.Column("template_path", sa.String(length=512), nullable=False),
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cloudstack_id", sa.String(length=64), nullable=True),
        sa.Column("last_verified_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_template_status_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("template_path", "region_id", name=op.f("pk_template_status")),
    )


def downgrade() -> None:
    op.drop_table("template_status")
