"""SQLAlchemy 2 models of the MECA data database (the historical resource tables).

Times are UTC (:class:`~meca.store.types.UTCDateTime`); capacities are in the unit of their type
(bytes, MHz or a count, see :mod:`meca.cloudstack.capacity`). ``docs/data-model.md`` is the analysts'
description of every table and column.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    REAL,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from meca.store.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them to alter SQLite tables)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Region(Base):
    """A CloudStack region of the federation, as the registry described it at the last sweep."""

    __tablename__ = "regions"

    # SQLite numbers rows only for an ``INTEGER PRIMARY KEY``; PostgreSQL keeps the 2-byte id.
    id: Mapped[int] = mapped_column(
        SmallInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    name: Mapped[str] = mapped_column(String(64), unique=True)
    conn_id: Mapped[str] = mapped_column(String(250))
    cloudstack_id: Mapped[int | None] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(128))
    city: Mapped[str | None] = mapped_column(String(64))
    country: Mapped[str | None] = mapped_column(String(2))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    colour: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Zone(Base):
    """A zone of a region (capacity is reported per zone)."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    cloudstack_id: Mapped[str | None] = mapped_column(String(64))


class CapacityType(Base):
    """The ``listCapacity`` types: number, CloudStack name, dashboard label and unit."""

    __tablename__ = "capacity_types"

    type: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(8))


class CapacitySample(Base):
    """One ``listCapacity`` entry of one zone at one sweep (the raw samples, kept for the retention)."""

    __tablename__ = "capacity_samples"
    __table_args__ = (Index("ix_capacity_samples_sampled_at", "sampled_at"),)

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True)
    type: Mapped[int] = mapped_column(SmallInteger, ForeignKey("capacity_types.type"), primary_key=True)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger)
    allocated: Mapped[int | None] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    percent: Mapped[float | None] = mapped_column(REAL)


class SweepHealth(Base):
    """How a region answered one sweep: ``ok``, ``error`` (with the error) or ``missing`` (no answer)."""

    __tablename__ = "sweep_health"
    __table_args__ = (Index("ix_sweep_health_sampled_at", "sampled_at"),)

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    latency_ms: Mapped[float | None] = mapped_column(Float)
    api_calls: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)


class VmCount(Base):
    """How many VMs of a region were in each state at one sweep."""

    __tablename__ = "vm_counts"

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class _Rollup:
    """Columns shared by the hourly and daily rollups of region totals (zones summed)."""

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[int] = mapped_column(SmallInteger, ForeignKey("capacity_types.type"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    used_min: Mapped[int] = mapped_column(BigInteger)
    used_max: Mapped[int] = mapped_column(BigInteger)
    used_mean: Mapped[float] = mapped_column(Float)
    total_max: Mapped[int] = mapped_column(BigInteger)
    percent_max: Mapped[float | None] = mapped_column(Float)
    percent_mean: Mapped[float | None] = mapped_column(Float)


class CapacityHourly(_Rollup, Base):
    """Hourly min / max / mean of each region's total per capacity type."""

    __tablename__ = "capacity_hourly"


class CapacityDaily(_Rollup, Base):
    """Daily min / max / mean of each region's total per capacity type."""

    __tablename__ = "capacity_daily"


class ServiceOffering(Base):
    """A service offering of a region as last seen by the sweep (for "seats left")."""

    __tablename__ = "service_offerings"

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    cloudstack_id: Mapped[str] = mapped_column(String(64))
    cpu_number: Mapped[int] = mapped_column(Integer)
    cpu_speed_mhz: Mapped[int] = mapped_column(Integer)
    memory_mib: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CapacityThreshold(Base):
    """A region's CloudStack allocation disable thresholds as last seen by the sweep (one row per region).

    Shares (0..1) of a cluster's total past which CloudStack places no more VMs: seats are counted
    under them.
    """

    __tablename__ = "capacity_thresholds"

    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    cpu: Mapped[float] = mapped_column(Float)
    memory: Mapped[float] = mapped_column(Float)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Alert(Base):
    """An alert opened by a monitoring rule; ``cleared_at`` is set when the condition clears."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "rule", "region_id", "cleared_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(128))
    region_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    marks_full: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Classroom sessions (issue 5): bookings and the ledger lock ---------------------------------


class SessionBooking(Base):
    """One booked occurrence of a classroom session and the capacity it holds in its region.

    The capacity (``instances`` times the per-VM memory and CPU) is held from ``holds_from`` (the start minus
    the provisioning lead time) to ``ends_at`` while ``state`` is ``accepted``, ``provisioning`` or
    ``running`` (:data:`meca.sessions.ledger.HOLDING`). A ``refused`` row holds nothing: ``placement``
    has its reasons and ``alternatives`` (JSON) what would fit instead. A session split across
    regions has one row per part: the session's own id for the first, ``<id>.part<k>`` for the others.
    """

    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_region_window", "region", "state", "holds_from", "ends_at"),)

    session_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    series_id: Mapped[str] = mapped_column(String(250), index=True)
    occurrence: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(64))
    asked_region: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(128))
    template: Mapped[str] = mapped_column(String(128))
    offering: Mapped[str] = mapped_column(String(128))
    instances: Mapped[int] = mapped_column(Integer)
    vm_memory_bytes: Mapped[int] = mapped_column(BigInteger)
    vm_cpu_mhz: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    holds_from: Mapped[datetime] = mapped_column(UTCDateTime)
    placement: Mapped[str] = mapped_column(Text)
    comments: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by: Mapped[str | None] = mapped_column(String(128))
    alternatives: Mapped[str | None] = mapped_column(Text)
    running_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: 0, or k for the k-th further part of a session split across regions (id ``<session>.part<k>``).
    part: Mapped[int] = mapped_column(SmallInteger, server_default="0")


class BookingLedgerLock(Base):
    """The single row every booking transaction updates first, so bookings are checked one at a time."""

    __tablename__ = "booking_ledger_lock"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


# --- Template replication (issue 4): one row per MGTR template and region ---------------------------


class TemplateStatus(Base):
    """Where a catalog template stands in one region: the version replicated last and how it went.

    ``state`` is ``Ready`` (registered, downloaded, checksum verified by CloudStack), ``Pending``
    (planned, not done yet) or ``Error`` (``last_error`` says why).
    """

    __tablename__ = "template_status"

    template_path: Mapped[str] = mapped_column(String(512), primary_key=True)
    region_id: Mapped[int] = mapped_column(
        SmallInteger, ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[str] = mapped_column(String(64))
    checksum: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    cloudstack_id: Mapped[str | None] = mapped_column(String(64))
    last_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
