"""Booking lifecycle: the alternatives of a refused booking and when a session's VMs were all Running

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


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_column("running_since")
        batch.drop_column("alternatives")
