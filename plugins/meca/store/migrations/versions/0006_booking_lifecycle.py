"""Booking lifecycle: alternatives of a refusal, when the VMs were all Running, and split sessions' parts

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meca.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("alternatives", sa.Text(), nullable=True))
        batch.add_column(sa.Column("running_since", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("part", sa.SmallInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("part")
        batch.drop_column("running_since")
        batch.drop_column("alternatives")
