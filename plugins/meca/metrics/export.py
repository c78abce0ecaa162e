"""Export a MECA data table to CSV or Parquet, for analysts.

``python -m meca.metrics.export --table capacity_daily --since 2026-01-01 --until 2027-01-01
--format parquet --out daily.parquet [--conn-id meca_data | --url URL]``

Rows come out as stored, plus the ``region`` name next to ``region_id`` and the capacity ``type_name``
next to ``type``; times are UTC. ``--since`` (inclusive) and ``--until`` (exclusive) filter on the
table's time column (``sampled_at``, ``bucket`` or ``opened_at``). The table is read in chunks, so
exports larger than memory work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Boolean, ColumnElement, Engine, Float, Integer, Select, Table, create_engine, select
from sqlalchemy.sql.type_api import TypeEngine

from meca.store import models
from meca.store.engine import DEFAULT_CONN_ID, get_engine
from meca.store.types import UTCDateTime

CHUNK_ROWS = 100_000
FORMATS = ("csv", "parquet")

#: The exportable tables and the column ``--since`` / ``--until`` filter on (``None``: no time).
TABLES: dict[str, tuple[type[models.Base], str | None]] = {
    "capacity_samples": (models.CapacitySample, "sampled_at"),
    "capacity_hourly": (models.CapacityHourly, "bucket"),
    "capacity_daily": (models.CapacityDaily, "bucket"),
    "sweep_health": (models.SweepHealth, "sampled_at"),
    "vm_counts": (models.VmCount, "sampled_at"),
    "alerts": (models.Alert, "opened_at"),
    "service_offerings": (models.ServiceOffering, None),
    "regions": (models.Region, None),
    "zones": (models.Zone, None),
    "capacity_types": (models.CapacityType, None),
}


class ExportError(ValueError):
    """The export cannot be done as asked; the message says why."""


def export_query(table: str, since: datetime | None = None, until: datetime | None = None) -> Select:
    """The query exporting ``table``: its columns, the region and type names, ordered by key.

    :raises ExportError: for an unknown table, or a time filter on a table without time.
    """
    if table not in TABLES:
        raise ExportError(f"unknown table {table!r} (one of: {', '.join(TABLES)})")
    model, time_column = TABLES[table]
    mapped = cast(Table, model.__table__)
    columns: list[ColumnElement[Any]] = []
    query = select()
    for column in mapped.columns:
        columns.append(column)
        if column.name == "region_id" and table != "regions":
            columns.append(models.Region.name.label("region"))
            query = query.join_from(mapped, models.Region.__table__, models.Region.id == column)
        elif column.name == "type" and table != "capacity_types":
            columns.append(models.CapacityType.name.label("type_name"))
            query = query.join_from(mapped, models.CapacityType.__table__, models.CapacityType.type == column)
    query = query.add_columns(*columns).select_from(mapped).order_by(*mapped.primary_key.columns)
    if since is not None or until is not None:
        if time_column is None:
            raise ExportError(f"table {table} has no time column: export it without --since / --until")
        moment = mapped.columns[time_column]
        if since is not None:
            query = query.where(moment >= since)
        if until is not None:
            query = query.where(moment < until)
    return query


def _arrow_type(sql_type: TypeEngine) -> pa.DataType:
    if isinstance(sql_type, UTCDateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(sql_type, Boolean):
        return pa.bool_()
    if isinstance(sql_type, Integer):
        return pa.int64()
    if isinstance(sql_type, Float):
        return pa.float64()
    return pa.string()


def arrow_schema(query: Select) -> pa.Schema:
    """The Parquet schema of an export query, from the SQL column types (stable across chunks)."""
    return pa.schema([(c.name, _arrow_type(c.type)) for c in query.selected_columns])


def _chunks(engine: Engine, query: Select) -> Iterator[pd.DataFrame]:
    with engine.connect() as connection:
        streaming = connection.execution_options(stream_results=True)
        yield from pd.read_sql(query, streaming, chunksize=CHUNK_ROWS)


def export_table(
    engine: Engine,
    table: str,
    out: Path,
    file_format: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write ``table`` (rows in ``[since, until)`` of its time column) to ``out``.

    :param engine: the MECA data database.
    :param table: one of :data:`TABLES`.
    :param out: the file to write (replaced).
    :param file_format: ``csv`` or ``parquet``.
    :return: the number of rows written.
    :raises ExportError: for an unknown table or format, or a time filter on a table without time.
    """
    if file_format not in FORMATS:
        raise ExportError(f"unknown format {file_format!r} (one of: {', '.join(FORMATS)})")
    query = export_query(table, since, until)
    rows = 0
    if file_format == "csv":
        for number, chunk in enumerate(_chunks(engine, query)):
            chunk.to_csv(out, mode="w" if number == 0 else "a", header=number == 0, index=False)
            rows += len(chunk)
        if rows == 0:
            pd.DataFrame(columns=[c.name for c in query.selected_columns]).to_csv(out, index=False)
        return rows
    schema = arrow_schema(query)
    with pq.ParquetWriter(out, schema) as writer:
        for chunk in _chunks(engine, query):
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            rows += len(chunk)
    return rows


def _moment(text: str) -> datetime:
    """An ISO 8601 date or time; without a time zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m meca.metrics.export",
        description="Export a MECA data table to CSV or Parquet (times in UTC).",
    )
    parser.add_argument("--table", required=True, choices=list(TABLES))
    parser.add_argument("--since", type=_moment, help="first time included (ISO 8601; UTC unless given)")
    parser.add_argument("--until", type=_moment, help="first time excluded (ISO 8601; UTC unless given)")
    parser.add_argument("--format", dest="file_format", choices=FORMATS, help="default: from --out's suffix")
    parser.add_argument("--out", required=True, type=Path, help="the file to write")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--conn-id", default=DEFAULT_CONN_ID, help="Airflow Connection of the data database")
    target.add_argument("--url", help="SQLAlchemy URL instead of a Connection")
    args = parser.parse_args(argv)
    file_format = args.file_format or args.out.suffix.lstrip(".").lower()
    if file_format not in FORMATS:
        parser.error(f"give --format ({' or '.join(FORMATS)}): cannot tell it from {args.out.name!r}")
    engine = create_engine(args.url) if args.url else get_engine(args.conn_id)
    try:
        rows = export_table(engine, args.table, args.out, file_format, args.since, args.until)
    except ExportError as exc:
        parser.error(str(exc))
    print(f"{rows} rows of {args.table} written to {args.out} ({file_format})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
