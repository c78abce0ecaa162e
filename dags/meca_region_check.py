"""DAG ``meca_region_check``: does every MECA CloudStack region answer its API right now?

Nothing here touches a Connection, a Variable or the network at parse time: the region list is
read by the ``regions`` task when the run starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from meca.security.roles import OPERATIONS_DAG_ACCESS

log = logging.getLogger("meca.region_check")

DOC_MD = """
### MECA region check

Asks every region of the federation, one mapped task per region, for its zones (`listZones`) and
its capacity records (`listCapacity`), and reports which regions answered.

* **When to run it:** on demand — after adding a region, rotating its API keys, or when another
  pipeline reports a region as unreachable. It has no schedule.
* **Which regions:** the Connection ids in the Variable `meca_regions`, read when the run starts.
* **Reading the grid:** each `check` task is labelled with its region name. A red `check` holds the
  region's error (connection refused, bad credentials, HTTP 5xx...) in its log. `check` is not
  retried, so a flaky region shows up here instead of being hidden by a retry.
* **The run is red** when any region did not answer; the `report` task logs a table of every region
  (answered or not, latency, zones) before failing.
* API calls go through the `cloudstack_api` pool, shared with every other MECA pipeline.
"""

CHECK_TIMEOUT = timedelta(minutes=2)


def _table(rows: Iterable[tuple[str, ...]]) -> str:
    """Lay out rows of text as an aligned plain-text table (the first row is the header)."""
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@dag(
    dag_id="meca_region_check",
    schedule=None,
    catchup=False,
    tags=["meca", "cloudstack", "health"],
    access_control=OPERATIONS_DAG_ACCESS,
    doc_md=DOC_MD,
    default_args={"owner": "meca-ops", "retries": 0},
)
def meca_region_check() -> None:
    """Check every region of the federation; fail the run when any region does not answer."""

    @task
    def regions() -> list[str]:
        """The Connection ids of every region, from the region registry."""
        from meca.regions import region_conn_ids

        return region_conn_ids()

    @task(
        pool="cloudstack_api",
        retries=0,
        execution_timeout=CHECK_TIMEOUT,
        map_index_template="{{ region_name | default(task.op_kwargs.conn_id) }}",
    )
    def check(conn_id: str) -> dict[str, Any]:
        """Ask one region for its zones and capacity records; any error fails this task.

        :param conn_id: the region's ``cloudstack`` Connection id.
        """
        from meca.cloudstack.hook import CloudStackHook

        hook = CloudStackHook(cloudstack_conn_id=conn_id)
        region = hook.region
        get_current_context()["region_name"] = region.name  # type: ignore[typeddict-unknown-key]
        started = time.perf_counter()
        zones = hook.list("listZones")
        latency_ms = (time.perf_counter() - started) * 1000
        capacity_records = len(hook.list("listCapacity"))
        log.info(
            "Region %s answered in %.1f ms: %d zone(s), %d capacity record(s)",
            region.name,
            latency_ms,
            len(zones),
            capacity_records,
        )
        return {
            "conn_id": conn_id,
            "region": region.name,
            "region_id": region.region_id,
            "display_name": region.display_name,
            "ok": True,
            "latency_ms": round(latency_ms, 1),
            "zones": [zone["name"] for zone in zones],
            "capacity_records": capacity_records,
        }

    @task(trigger_rule="all_done", retries=0)
    def report(conn_ids: list[str], results: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """Log which regions answered and which did not; fail when any did not.

        A failed ``check`` pushes no result, so "did not answer" is the registry minus the answers.

        :param conn_ids: every region's Connection id, as the ``regions`` task listed them.
        :param results: the results of the ``check`` tasks that succeeded.
        :raises AirflowFailException: when the registry is empty or a region did not answer.
        """
        if not conn_ids:
            raise AirflowFailException("the Variable meca_regions lists no region: nothing was checked")
        answered = {result["conn_id"]: result for result in results}
        missing = [conn_id for conn_id in conn_ids if conn_id not in answered]
        rows = [("connection", "region", "answered", "latency ms", "zones")]
        for conn_id in conn_ids:
            result = answered.get(conn_id)
            if result is None:
                rows.append((conn_id, "?", "NO", "-", "-"))
            else:
                rows.append(
                    (
                        conn_id,
                        result["display_name"],
                        "yes",
                        f"{result['latency_ms']:.1f}",
                        str(len(result["zones"])),
                    )
                )
        log.info("Region check: %d of %d answered\n%s", len(answered), len(conn_ids), _table(rows))
        if missing:
            raise AirflowFailException(
                f"{len(missing)} of {len(conn_ids)} region(s) did not answer: {', '.join(missing)}. "
                "The failed check task of each holds the error in its log."
            )
        return {"answered": sorted(answered), "missing": missing}

    conn_ids = regions()
    # TaskFlow passes XComArgs here; Airflow resolves them to the annotated types at run time.
    report(conn_ids, check.expand(conn_id=conn_ids))  # type: ignore[arg-type]


meca_region_check()
