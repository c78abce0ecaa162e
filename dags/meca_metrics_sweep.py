"""DAG ``meca_metrics_sweep``: every 5 minutes, every region's capacity and VMs into the MECA data database.

Nothing here touches a Connection, a Variable or the network at parse time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, get_current_context, task

from meca.security.roles import OPERATIONS_DAG_ACCESS

log = logging.getLogger("meca.metrics_sweep")

DOC_MD = """
### MECA metrics sweep

Every 5 minutes, one mapped task per region (labelled with the region's name) asks the region for
`listCapacity`, `listServiceOfferings` and `listVirtualMachines` (3 API calls), plus, once an hour,
`listConfigurations` (its CPU and memory allocation disable thresholds, recorded and used by the
session bookings' seats), and writes the sample into the MECA data
database (Connection `meca_data`) at the run's *data interval end*, so re-running a run rewrites the
same rows.

* **A red region task** is a region that is down, slow, answering 5xx or refusing the key: its log
  and the `sweep_health` table hold the error; the other regions are not affected. The dashboard
  shows that region as stale with its last numbers.
* **`finalize`** runs whatever happened upstream: it records a `missing` row for every region whose
  task left nothing (killed worker, timeout), refreshes the hourly and daily rollups, applies the
  raw-sample retention (Variable `meca_raw_retention_days`) and evaluates the monitoring rules
  (`include/monitoring_rules.yaml`).
* API calls go through the `cloudstack_api` pool. One run at a time; a run times out after 4 min.
"""

REGION_TIMEOUT = timedelta(seconds=90)


def _sampled_at() -> datetime:
    """The sample time of this run: its data interval end (the 5-minute tick), in UTC."""
    context = get_current_context()
    end = context.get("data_interval_end") or context["dag_run"].run_after
    return end.astimezone(UTC)


@dag(
    dag_id="meca_metrics_sweep",
    schedule="*/5 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=4),
    tags=["meca", "cloudstack", "metrics"],
    access_control=OPERATIONS_DAG_ACCESS,
    doc_md=DOC_MD,
    default_args={"owner": "meca-ops", "retries": 0},
)
def meca_metrics_sweep() -> None:
    """Sweep every region's capacity into the historical tables."""

    @task
    def regions() -> list[str]:
        """The Connection ids of every region, from the region registry."""
        from meca.regions import region_conn_ids

        return region_conn_ids()

    @task(
        pool="cloudstack_api",
        retries=0,  # the next sweep, 5 minutes later, is the retry; a gap is recorded meanwhile
        execution_timeout=REGION_TIMEOUT,
        map_index_template="{{ region_name | default(task.op_kwargs.conn_id) }}",
    )
    def sweep_region(conn_id: str) -> dict[str, Any]:
        """Collect one region's sample and store it; a failing region stores its error and fails.

        :param conn_id: the region's ``cloudstack`` Connection id.
        """
        from meca.cloudstack.errors import CloudStackError
        from meca.cloudstack.hook import CloudStackHook
        from meca.metrics.collect import collect_region
        from meca.metrics.samples import fresh_thresholds, write_error, write_sample
        from meca.store.engine import get_engine

        hook = CloudStackHook(cloudstack_conn_id=conn_id)
        region = hook.region
        get_current_context()["region_name"] = region.name  # type: ignore[typeddict-unknown-key]
        sampled_at = _sampled_at()
        engine = get_engine()
        try:
            sample = collect_region(hook, thresholds=fresh_thresholds(engine, region, now=sampled_at))
        except CloudStackError as exc:
            write_error(engine, region, sampled_at, str(exc))
            raise
        write_sample(engine, sample, sampled_at)
        summary = sample.to_xcom()
        log.info("Region %s at %s: %s", region.name, sampled_at.isoformat(), summary)
        return summary

    @task(trigger_rule="all_done", retries=1, retry_delay=timedelta(seconds=10))
    def finalize(conn_ids: list[str]) -> dict[str, Any]:
        """Record gaps, refresh rollups, apply retention and the monitoring rules.

        A re-run of a sweep older than the raw retention only records its gaps: its raw samples are
        gone, so its rollups and rules are left as they were.

        :param conn_ids: every region's Connection id, as the ``regions`` task listed them.
        """
        from meca.metrics.health import stale_regions
        from meca.metrics.notifier import notify_changes
        from meca.metrics.retention import apply_retention, raw_retention_days
        from meca.metrics.rollups import refresh_rollups
        from meca.metrics.rules import evaluate_rules, load_rules
        from meca.metrics.samples import mark_missing
        from meca.paths import include_dir
        from meca.regions import get_region
        from meca.store.engine import get_engine

        sampled_at = _sampled_at()
        engine = get_engine()
        missing = mark_missing(engine, [get_region(conn_id) for conn_id in conn_ids], sampled_at)
        stale = stale_regions(engine, sampled_at)
        for name, error in sorted(stale.items()):
            log.warning("Region %s is stale at %s: %s", name, sampled_at.isoformat(), error)
        summary: dict[str, Any] = {
            "sampled_at": sampled_at.isoformat(),
            "missing": missing,
            "stale": sorted(stale),
        }
        now = datetime.now(UTC)
        raw_days = raw_retention_days()
        if sampled_at < now - timedelta(days=raw_days):
            log.warning(
                "Sample time is older than the %d-day raw retention: rollups and rules skipped", raw_days
            )
            return summary
        refresh_rollups(engine, sampled_at)
        retention = apply_retention(engine, now, raw_days=raw_days)
        rules = load_rules(include_dir() / "monitoring_rules.yaml")
        changes = evaluate_rules(engine, rules, sampled_at)
        notify_changes(changes, rules, get_current_context())
        summary["deleted"] = retention.deleted
        summary["alert_changes"] = [change.to_dict() for change in changes]
        return summary

    conn_ids = regions()
    swept = sweep_region.expand(conn_id=conn_ids)
    swept >> finalize(conn_ids)


meca_metrics_sweep()
