"""Historical resource tables: regions, zones, capacity samples, sweep health, VM counts, rollups, alerts

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:51:28.935042
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from meca.store.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capacity_types",
        sa.Column("type", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint("type", name=op.f("pk_capacity_types")),
        sa.UniqueConstraint("name", name=op.f("uq_capacity_types_name")),
    )
    op.create_table(
        "regions",
        sa.Column(
            "id", sa.SmallInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("conn_id", sa.String(length=250), nullable=False),
        sa.Column("cloudstack_id", sa.Integer(), nullable=True),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("city", sa.String(length=64), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("name", name=op.f("uq_regions_name")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("marks_full", sa.Boolean(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("cleared_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_alerts_region_id_regions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_open", "alerts", ["rule", "region_id", "cleared_at"], unique=False)
    op.create_table(
        "capacity_daily",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("used_min", sa.BigInteger(), nullable=False),
        sa.Column("used_max", sa.BigInteger(), nullable=False),
        sa.Column("used_mean", sa.Float(), nullable=False),
        sa.Column("total_max", sa.BigInteger(), nullable=False),
        sa.Column("percent_max", sa.Float(), nullable=True),
        sa.Column("percent_mean", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_capacity_daily_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["type"], ["capacity_types.type"], name=op.f("fk_capacity_daily_type_capacity_types")
        ),
        sa.PrimaryKeyConstraint("region_id", "type", "bucket", name=op.f("pk_capacity_daily")),
    )
    op.create_table(
        "capacity_hourly",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", UTCDateTime(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("used_min", sa.BigInteger(), nullable=False),
        sa.Column("used_max", sa.BigInteger(), nullable=False),
        sa.Column("used_mean", sa.Float(), nullable=False),
        sa.Column("total_max", sa.BigInteger(), nullable=False),
        sa.Column("percent_max", sa.Float(), nullable=True),
        sa.Column("percent_mean", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_capacity_hourly_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["type"], ["capacity_types.type"], name=op.f("fk_capacity_hourly_type_capacity_types")
        ),
        sa.PrimaryKeyConstraint("region_id", "type", "bucket", name=op.f("pk_capacity_hourly")),
    )
    op.create_table(
        "sweep_health",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("sampled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("api_calls", sa.SmallInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_sweep_health_region_id_regions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("region_id", "sampled_at", name=op.f("pk_sweep_health")),
    )
    op.create_index("ix_sweep_health_sampled_at", "sweep_health", ["sampled_at"], unique=False)
    op.create_table(
        "vm_counts",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("sampled_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_vm_counts_region_id_regions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("region_id", "sampled_at", "state", name=op.f("pk_vm_counts")),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("cloudstack_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_zones_region_id_regions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("region_id", "name", name=op.f("uq_zones_region_id")),
    )
    op.create_table(
        "service_offerings",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("cloudstack_id", sa.String(length=64), nullable=False),
        sa.Column("cpu_number", sa.Integer(), nullable=False),
        sa.Column("cpu_speed_mhz", sa.Integer(), nullable=False),
        sa.Column("memory_mib", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_service_offerings_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("region_id", "name", name=op.f("pk_service_offerings")),
    )
    op.create_table(
        "capacity_samples",
        sa.Column("region_id", sa.SmallInteger(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("sampled_at", UTCDateTime(), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.Column("allocated", sa.BigInteger(), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("percent", sa.REAL(), nullable=True),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["regions.id"],
            name=op.f("fk_capacity_samples_region_id_regions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["type"], ["capacity_types.type"], name=op.f("fk_capacity_samples_type_capacity_types")
        ),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_capacity_samples_zone_id_zones"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(
            "region_id", "zone_id", "type", "sampled_at", name=op.f("pk_capacity_samples")
        ),
    )
    op.create_index("ix_capacity_samples_sampled_at", "capacity_samples", ["sampled_at"], unique=False)

    capacity_types = sa.table(
        "capacity_types", sa.column("type"), sa.column("name"), sa.column("label"), sa.column("unit")
    )
    op.bulk_insert(
        capacity_types,
        [
            {"type": t, "name": n, "label": lbl, "unit": u}
            for t, n, lbl, u in (
                (0, "MEMORY", "Memory", "bytes"),
                (1, "CPU", "CPU", "MHz"),
                (2, "STORAGE", "Primary storage", "bytes"),
                (3, "STORAGE_ALLOCATED", "Allocated storage", "bytes"),
                (4, "VIRTUAL_NETWORK_PUBLIC_IP", "Public IPs", "count"),
                (5, "PRIVATE_IP", "Management IP addresses", "count"),
                (6, "SECONDARY_STORAGE", "Secondary storage", "bytes"),
                (7, "VLAN", "VLANs", "count"),
                (8, "DIRECT_ATTACHED_PUBLIC_IP", "Shared network IPs", "count"),
                (9, "LOCAL_STORAGE", "Local storage", "bytes"),
                (10, "VIRTUAL_NETWORK_IPV6_SUBNET", "IPv6 subnets", "count"),
                (19, "GPU", "GPU", "count"),
                (90, "CPU_CORE", "CPU cores", "count"),
            )
        ],
    )
    op.execute(
        """
        CREATE VIEW capacity_samples_named AS
        SELECT r.name AS region, z.name AS zone, s.type, t.name, t.unit, s.used, s.allocated, s.total,
               s.percent, s.sampled_at
        FROM capacity_samples s
        JOIN regions r ON r.id = s.region_id
        JOIN zones z ON z.id = s.zone_id
        JOIN capacity_types t ON t.type = s.type
        """
    )


def downgrade() -> None:
    op.execute("DROP VIEW capacity_samples_named")
    op.drop_index("ix_capacity_samples_sampled_at", table_name="capacity_samples")
    op.drop_table("capacity_samples")
    op.drop_table("zones")
    op.drop_table("vm_counts")
    op.drop_table("service_offerings")
    op.drop_index("ix_sweep_health_sampled_at", table_name="sweep_health")
    op.drop_table("sweep_health")
    op.drop_table("capacity_hourly")
    op.drop_table("capacity_daily")
    op.drop_index("ix_alerts_open", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("regions")
    op.drop_table("capacity_types")
