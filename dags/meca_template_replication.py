"""DAG ``meca_template_replication``: nightly, the MGTR's newest template versions into every region.

Nothing here touches a Connection, a Variable, the MGTR or the network at parse time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import dag, get_current_context, task

from meca.mgtr.register_operator import RegisterTemplateOperator
from meca.security.roles import OPERATIONS_DAG_ACCESS

if TYPE_CHECKING:
    from meca.mgtr.catalog import Catalog

log = logging.getLogger("meca.template_replication")

CATALOG_VARIABLE = "meca_templates_catalog"
DEFAULT_CATALOG = Path(__file__).resolve().parents[1] / "include" / "templates_catalog"

DOC_MD = """
### MECA template replication

Nightly. Reads the templates catalog (`include/templates_catalog/catalog.yaml`, or the path in
the Variable `meca_templates_catalog`), the MGTR (SFTP Connection `meca_mgtr`) and the
`template_status` table of the MECA data database (Connection `meca_data`).

* **`plan`** lists each catalog template's version folders and keeps the newest; a region needs
  it unless the status table says that version is Ready there. Its log says what is left alone.
* **`fetch_and_extract`** (one per template needing work): parallel, resumable SFTP fetch into the
  cache, checksums, extraction into the staging folder (Connection `meca_staging_http`: base URL
  the regions download from, `extra.root` the folder it serves, `extra.cache` the MGTR cache).
  A red one is that template only (malformed `config.ini`, missing volume, unsafe name,
  checksum mismatch...): its regions get the error in the status table.
* **`register`** (one per template and region, pool `cloudstack_api`): `registerTemplate` with the
  image's SHA-256, unless the region already has it Ready; then it *defers* (no worker slot) until
  CloudStack has downloaded and checked the image. A red one is that region only, with
  CloudStack's status text; the next run (or a clear) registers it again. Older versions beyond the
  catalog's `keep_versions` are deleted.
* **`record`** runs whatever happened and writes the Ready rows of the status table.
"""


def _catalog() -> Catalog:
    """The templates catalog, from the Variable's path or the repository's ``include/``."""
    from airflow.sdk import Variable

    from meca.mgtr.catalog import load_catalog

    return load_catalog(Path(Variable.get(CATALOG_VARIABLE, default=None) or DEFAULT_CATALOG))


@dag(
    dag_id="meca_template_replication",
    schedule="0 1 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=20),
    tags=["meca", "cloudstack", "mgtr"],
    access_control=OPERATIONS_DAG_ACCESS,
    doc_md=DOC_MD,
    default_args={"owner": "meca-ops", "retries": 0},
)
def meca_template_replication() -> None:
    """Replicate MGTR templates to every region of the catalog."""

    @task
    def plan() -> list[dict[str, Any]]:
        """The templates to fetch and the regions needing each (status table vs MGTR)."""
        from meca.mgtr import status
        from meca.mgtr.listing import list_versions
        from meca.mgtr.plan import plan_work
        from meca.mgtr.sftp_connection import load_sftp_settings
        from meca.regions import get_region, region_conn_ids
        from meca.store.engine import get_engine

        catalog = _catalog()
        regions = {get_region(conn_id).name: conn_id for conn_id in region_conn_ids()}
        versions = list_versions(
            load_sftp_settings(catalog.mgtr_conn_id), [t.path for t in catalog.templates]
        )
        work, notes = plan_work(catalog, versions, regions, status.status_rows(get_engine()))
        for note in notes:
            log.info("%s", note)
        for item in work:
            log.info("%s: version %s for %s", item.path, item.version, ", ".join(item.regions))
        return [item.to_dict() for item in work]

    @task(map_index_template="{{ task.op_kwargs.work.path }}", execution_timeout=timedelta(hours=12))
    def fetch_and_extract(work: dict[str, Any]) -> list[dict[str, Any]]:
        """Fetch, verify and extract one template; return one registration job per region needing it.

        :param work: a :class:`~meca.mgtr.plan.TemplateWork` as a dict.
        """
        from meca.mgtr import status
        from meca.mgtr.plan import TemplateWork
        from meca.mgtr.publish import load_staging_settings
        from meca.mgtr.staging import stage_template
        from meca.regions import get_region
        from meca.store.engine import get_engine

        item = TemplateWork.from_dict(work)
        catalog = _catalog()
        try:
            staged = stage_template(item, catalog, load_staging_settings(catalog.staging_conn_id))
        except Exception as exc:
            now = datetime.now(UTC)
            for conn_id in item.regions.values():
                status.record(
                    get_engine(),
                    get_region(conn_id),
                    item.path,
                    item.version,
                    status.ERROR,
                    now,
                    error=str(exc),
                )
            raise
        now = datetime.now(UTC)
        for conn_id in item.regions.values():
            status.record(
                get_engine(),
                get_region(conn_id),
                item.path,
                item.version,
                status.PENDING,
                now,
                checksum=staged.image.sha256,
            )
        return [{"conn_id": conn_id, "image": staged.image.to_dict()} for conn_id in item.regions.values()]

    @task(trigger_rule="all_done")
    def jobs(staged: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Every (template, region) registration of the templates staged successfully."""
        return [job for per_template in staged if per_template for job in per_template]

    @task(trigger_rule="all_done")
    def record(planned: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
        """Write the Ready rows; mark planned pairs that neither succeeded nor recorded an error.

        :param planned: the plan.
        :param results: what the ``register`` tasks that succeeded returned.
        """
        from meca.mgtr import status
        from meca.regions import get_region
        from meca.store.engine import get_engine

        engine, now = get_engine(), datetime.now(UTC)
        started = get_current_context()["dag_run"].start_date
        ok = {(r["template_path"], r["region"]) for r in results if r}
        for result in (r for r in results if r):
            status.record(
                engine,
                get_region(result["conn_id"]),
                result["template_path"],
                result["version"],
                status.READY,
                now,
                checksum=result["sha256"],
                cloudstack_id=result["template_id"],
            )
        rows = {(row.template_path, row.region): row for row in status.status_rows(engine)}
        unfinished = []
        for work in planned:
            for region, conn_id in work["regions"].items():
                row = rows.get((work["path"], region))
                if (work["path"], region) in ok or (
                    row is not None and row.state == status.ERROR and row.updated_at >= started
                ):
                    continue
                unfinished.append(f"{work['path']} @ {region}")
                status.record(
                    engine,
                    get_region(conn_id),
                    work["path"],
                    work["version"],
                    status.ERROR,
                    now,
                    error="the run ended before this template was registered (see the task logs)",
                )
        failed = sum(len(w["regions"]) for w in planned) - len(ok)
        summary = {"ready": sorted(f"{p} @ {r}" for p, r in ok), "failed": failed, "unfinished": unfinished}
        log.info("Replication: %s", summary)
        return summary

    planned = plan()
    staged = fetch_and_extract.expand(work=planned)
    registered = RegisterTemplateOperator.partial(
        task_id="register",
        pool="cloudstack_api",
        map_index_template="{{ replica | default('') }}",
    ).expand_kwargs(jobs(staged))
    record(planned, registered.output)


meca_template_replication()
