"""``meca_template_replication`` run with ``dag.test()``: a real SFTP MGTR, staging HTTP and the simulator.

The simulator really downloads each image from the staging server and checks its SHA-256.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from meca.mgtr.catalog import CatalogTemplate
from meca.mgtr.status import status_rows
from tests.dags.replication_fixtures import REGIONS, Federation, federation, image_bytes
from tests.meca.mgtr.archive_builder import archive_bytes, write_volumes

__all__ = ["federation"]
DAY = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


def _states(run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}


def _by_task(run, task_id: str) -> list[str]:
    return sorted(state for (task, _), state in _states(run).items() if task == task_id)


def _status(engine: Engine) -> dict[tuple[str, str], Any]:
    return {(row.template_path, row.region): row for row in status_rows(engine)}


def _hostile(fed: Federation, relative: str, entry: str) -> None:
    """A template folder whose archive holds an entry with an unsafe name."""
    folder = fed.mgtr_root / relative / "01"
    harmless = "x" * len(entry)
    write_volumes(folder, "evil.7z", archive_bytes({harmless: b"payload"}, rename={harmless: entry}), 200)
    (folder / "config.ini").write_text(
        "[template]\nname = evil\nversion = 01\nos_type = Ubuntu 22\nformat = QCOW2\nhypervisor = KVM\n"
    )


def test_good_templates_reach_ready_everywhere_bad_ones_fail_alone(
    dagbag, federation: Federation, data_engine
) -> None:
    fed = federation
    good = {"linux/alpha": image_bytes(1), "linux/beta": image_bytes(2, 150_000)}
    fed.publish("linux/alpha", "alpha", "01.00", good["linux/alpha"])
    fed.publish("linux/beta", "beta", "02.00", good["linux/beta"], manifest=False, compression="copy")
    fed.publish("broken/config", "cfg", "01", image_bytes(3))
    (fed.mgtr_root / "broken/config/01/config.ini").write_text("[template]\nname = cfg\nformat = QCOW2\n")
    missing = fed.publish("broken/missing", "gap", "01", image_bytes(4))
    (missing / "gap.7z.002").unlink()
    (missing / "manifest.json").unlink()
    _hostile(fed, "broken/dotdot", "../../etc/evil")
    _hostile(fed, "broken/absolute", "/etc/evil.img")
    bad = ["broken/config", "broken/missing", "broken/dotdot", "broken/absolute"]
    fed.write_catalog([*good, *bad])
    dag = dagbag.get_dag("meca_template_replication")

    run = dag.test(logical_date=DAY)

    assert _by_task(run, "fetch_and_extract") == ["failed"] * 4 + ["success"] * 2
    assert _by_task(run, "register") == ["success"] * 6
    assert _states(run)[("record", -1)] == "success"
    for region in REGIONS:
        listed = {t["details"]["mgtr_path"]: t for t in fed.templates(region)}
        assert sorted(listed) == sorted(fed.path(r) for r in good)
        for relative, data in good.items():
            template = listed[fed.path(relative)]
            assert template["isready"] is True
            assert template["checksum"] == hashlib.sha256(data).hexdigest()
            assert template["ostypename"] == "Ubuntu 22.04 LTS"
            assert template["size"] == len(data)
    rows = _status(data_engine)
    for relative in good:
        assert {rows[(fed.path(relative), r)].state for r in REGIONS} == {"Ready"}
    expected_errors = {
        "broken/config": "[template] version is missing",
        "broken/missing": "missing volume(s) gap.7z.002",
        "broken/dotdot": "archive entry '../../etc/evil' is a '..' component",
        "broken/absolute": "archive entry '/etc/evil.img' is an absolute path",
    }
    for relative, message in expected_errors.items():
        for region in REGIONS:
            row = rows[(fed.path(relative), region)]
            assert row.state == "Error"
            assert message in row.last_error
    assert not (fed.mgtr_root.parent / "etc").exists()

    fed.write_catalog(list(good))
    again = dag.test(logical_date=DAY + timedelta(days=1))

    states = _states(again)
    assert states[("plan", -1)] == "success"
    assert not [
        key for key in states if key[0] in ("fetch_and_extract", "register") and states[key] != "skipped"
    ]
    for region in REGIONS:
        assert len(fed.templates(region)) == 2
    assert {row.state for row in status_rows(data_engine) if row.template_path in map(fed.path, good)} == {
        "Ready"
    }


def test_a_failed_download_fails_one_region_and_the_next_run_registers_it(
    dagbag, federation: Federation, data_engine
) -> None:
    fed = federation
    fed.publish("linux/gamma", "gamma", "01.00", image_bytes(5))
    fed.write_catalog(["linux/gamma"], keep_versions=1)
    fed.simulator.control.set_faults("r2", template_download_failure=True)
    dag = dagbag.get_dag("meca_template_replication")
    path = fed.path("linux/gamma")

    first = dag.test(logical_date=DAY)

    registers = {i: s for (task, i), s in _states(first).items() if task == "register"}
    assert sorted(registers.values()) == ["failed", "success", "success"]
    row = _status(data_engine)[(path, "r2")]
    assert row.state == "Error"
    assert "secondary storage VM reported an I/O error" in row.last_error
    assert {_status(data_engine)[(path, r)].state for r in ("r1", "r3")} == {"Ready"}

    fed.simulator.control.set_faults("r2", template_download_failure=False)
    second = dag.test(logical_date=DAY + timedelta(days=1))

    assert _by_task(second, "register") == ["success"]
    assert _status(data_engine)[(path, "r2")].state == "Ready"
    templates = fed.templates("r2")
    assert [t["isready"] for t in templates] == [True]
    ids_before = {r: [t["id"] for t in fed.templates(r)] for r in REGIONS}

    third = dag.test(logical_date=DAY + timedelta(days=2))

    assert _by_task(third, "fetch_and_extract") == ["skipped"]
    assert {r: [t["id"] for t in fed.templates(r)] for r in REGIONS} == ids_before

    fed.publish("linux/gamma", "gamma", "01.01", image_bytes(6))
    fourth = dag.test(logical_date=DAY + timedelta(days=3))

    assert _by_task(fourth, "register") == ["success"] * 3
    for region in REGIONS:
        (only,) = fed.templates(region)
        assert only["details"]["mgtr_version"] == "01.01"
        assert only["checksum"] == hashlib.sha256(image_bytes(6)).hexdigest()
    staged = fed.staging_root / CatalogTemplate(path=path, regions=None, keep_versions=1).key
    assert sorted(p.name for p in staged.iterdir()) == ["01.01"]
