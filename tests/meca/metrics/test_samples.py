from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cs import CloudStack
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloudstack_simulator.airflow_connections import airflow_env, conn_id_for
from cloudstack_simulator.testing import region_mapping, topology_mapping
from meca.cloudstack.errors import CloudStackUnreachableError
from meca.cloudstack.hook import CloudStackHook
from meca.metrics.collect import collect_region
from meca.metrics.samples import mark_missing, write_error, write_sample
from meca.store import models

SAMPLED_AT = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)


TOPOLOGY = topology_mapping(
    [region_mapping("alpha", 1, zones=2), region_mapping("beta", 2, zones=2)], seed=11
)


@pytest.fixture
def federation(simulator_factory, monkeypatch: pytest.MonkeyPatch):
    handle = simulator_factory(TOPOLOGY)
    for key, value in airflow_env(handle.endpoints, timeout_s=5.0).items():
        monkeypatch.setenv(key, value)
    return handle


def _api(handle, region: str) -> CloudStack:
    info = handle.region(region)
    return CloudStack(endpoint=info["endpoint"], key=info["api_key"], secret=info["secret_key"])


def test_sample_stores_what_the_region_reports(federation, data_engine: Engine) -> None:
    api = _api(federation, "alpha")
    zone = api.listZones()["zone"][0]["id"]
    template = api.listTemplates(templatefilter="featured")["template"][0]["id"]
    offering = api.listServiceOfferings()["serviceoffering"][0]["id"]
    for i in range(3):
        api.deployVirtualMachine(
            zoneid=zone, templateid=template, serviceofferingid=offering, name=f"vm{i}", fetch_result=True
        )
    expected = {(c["zonename"], c["type"]): c for c in api.listCapacity()["capacity"]}

    sample = collect_region(CloudStackHook(conn_id_for("alpha")))
    write_sample(data_engine, sample, SAMPLED_AT)

    assert sample.api_calls == 4
    with Session(data_engine) as session:
        rows = session.execute(
            select(models.Zone.name, models.CapacitySample).join(
                models.Zone, models.Zone.id == models.CapacitySample.zone_id
            )
        ).all()
        stored = {(zone_name, s.type): s for zone_name, s in rows}
        assert set(stored) == set(expected)
        for key, c in expected.items():
            assert stored[key].used == c["capacityused"]
            assert stored[key].total == c["capacitytotal"]
            assert stored[key].percent == pytest.approx(float(c["percentused"]), abs=0.01)
            assert stored[key].sampled_at == SAMPLED_AT
        counts = dict(session.execute(select(models.VmCount.state, models.VmCount.count)).all())
        assert counts == {"Running": 3}
        offerings = session.execute(
            select(models.ServiceOffering.name, models.ServiceOffering.memory_mib)
        ).all()
        assert offerings == [("Small", 1024)]
        health = session.scalars(select(models.SweepHealth)).one()
        assert (health.status, health.api_calls, health.error) == ("ok", 4, None)
        threshold = session.scalars(select(models.CapacityThreshold)).one()
        assert (threshold.cpu, threshold.memory, threshold.sampled_at) == (0.85, 0.85, SAMPLED_AT)


def test_sample_stores_the_thresholds_the_region_enforces(federation, data_engine: Engine) -> None:
    _api(federation, "beta").updateConfiguration(
        name="cluster.memory.allocated.capacity.disablethreshold", value="0.9"
    )
    hook = CloudStackHook(conn_id_for("beta"))
    write_sample(data_engine, collect_region(hook), SAMPLED_AT)
    later = SAMPLED_AT.replace(minute=10)
    _api(federation, "beta").updateConfiguration(
        name="cluster.cpu.allocated.capacity.disablethreshold", value="0.8"
    )
    write_sample(data_engine, collect_region(hook), later)
    with Session(data_engine) as session:
        [row] = session.scalars(select(models.CapacityThreshold)).all()
        assert (row.cpu, row.memory, row.sampled_at) == (0.8, 0.9, later)


def test_recorded_thresholds_are_read_again_only_once_they_are_an_hour_old(
    federation, data_engine: Engine
) -> None:
    from datetime import timedelta

    from meca.metrics.samples import fresh_thresholds

    hook = CloudStackHook(conn_id_for("beta"))
    write_sample(data_engine, collect_region(hook), SAMPLED_AT)
    _api(federation, "beta").updateConfiguration(
        name="cluster.cpu.allocated.capacity.disablethreshold", value="0.7"
    )
    soon = SAMPLED_AT + timedelta(minutes=5)
    cached = fresh_thresholds(data_engine, hook.region, now=soon)
    assert cached is not None
    assert (cached.cpu, cached.memory) == (0.85, 0.85)
    sample = collect_region(hook, thresholds=cached)
    write_sample(data_engine, sample, soon)
    assert sample.api_calls == 3  # the sweep's 3 calls: no listConfigurations
    assert fresh_thresholds(data_engine, hook.region, now=SAMPLED_AT + timedelta(minutes=61)) is None
    later = SAMPLED_AT + timedelta(minutes=61)
    reread = collect_region(hook, thresholds=fresh_thresholds(data_engine, hook.region, now=later))
    write_sample(data_engine, reread, later)
    assert reread.api_calls == 4
    with Session(data_engine) as session:
        [row] = session.scalars(select(models.CapacityThreshold)).all()
        assert (row.cpu, row.memory, row.sampled_at) == (0.7, 0.85, later)


def test_rerun_of_the_same_interval_rewrites_the_same_rows(federation, data_engine: Engine) -> None:
    hook = CloudStackHook(conn_id_for("beta"))
    write_sample(data_engine, collect_region(hook), SAMPLED_AT)
    with Session(data_engine) as session:
        first = session.scalar(select(func.count()).select_from(models.CapacitySample))
    write_sample(data_engine, collect_region(hook), SAMPLED_AT)
    with Session(data_engine) as session:
        assert session.scalar(select(func.count()).select_from(models.CapacitySample)) == first
        assert session.scalar(select(func.count()).select_from(models.SweepHealth)) == 1
    assert first > 0


def test_region_down_is_recorded_as_error_and_a_silent_region_as_missing(
    federation, data_engine: Engine
) -> None:
    federation.control.set_faults("beta", down=True)
    beta = CloudStackHook(conn_id_for("beta"))
    with pytest.raises(CloudStackUnreachableError) as caught:
        collect_region(beta)
    write_error(data_engine, beta.region, SAMPLED_AT, str(caught.value))
    alpha = CloudStackHook(conn_id_for("alpha")).region

    assert mark_missing(data_engine, [alpha, beta.region], SAMPLED_AT) == ["alpha"]

    with Session(data_engine) as session:
        health = {
            name: (status, error)
            for name, status, error in session.execute(
                select(models.Region.name, models.SweepHealth.status, models.SweepHealth.error).join(
                    models.Region
                )
            )
        }
    assert health["alpha"] == ("missing", "no result from the sweep task")
    assert health["beta"][0] == "error"
    assert "region beta: listCapacity" in health["beta"][1]
