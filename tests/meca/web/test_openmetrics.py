"""``/metrics`` is valid OpenMetrics text with the stored values, per region and capacity type."""

from __future__ import annotations

from meca.cloudstack.capacity import BY_TYPE
from meca.web.openmetrics import CONTENT_TYPE, render
from meca.web.queries import Capacity, OpenAlert, RegionStatus
from tests.meca.web.conftest import CAPACITY, Api, Federation, region_total
from tests.meca.web.openmetrics_reader import read


def test_metrics_endpoint_serves_the_stored_values(airflow_api: Api, federation: Federation) -> None:
    response = airflow_api.get("/metrics")

    assert response.headers["content-type"] == CONTENT_TYPE
    families = read(response.text)
    assert list(families) == [
        "meca_capacity_used",
        "meca_capacity_total",
        "meca_region_up",
        "meca_region_last_sample_timestamp_seconds",
        "meca_alerts_open",
    ]
    expected = {
        (name, BY_TYPE[kind].name, BY_TYPE[kind].unit): region_total(name, kind)
        for name, zones in CAPACITY.items()
        for kind in {k for zone in zones.values() for k in zone}
    }
    for index, family in enumerate(("meca_capacity_used", "meca_capacity_total")):
        got = {
            (labels["region"], labels["type"], labels["unit"]): value for labels, value in families[family]
        }
        assert got == {key: pair[index] for key, pair in expected.items()}
    up = {labels["region"]: value for labels, value in families["meca_region_up"]}
    assert up == {"alpha": 1, "beta": 1, "gamma": 0, "delta": 0}
    stamps = {
        labels["region"]: value for labels, value in families["meca_region_last_sample_timestamp_seconds"]
    }
    assert stamps == {
        "alpha": federation.fresh_at.timestamp(),
        "beta": federation.fresh_at.timestamp(),
        "gamma": federation.gamma_ok_at.timestamp(),
        "delta": federation.delta_ok_at.timestamp(),
    }
    assert families["meca_alerts_open"] == []


def test_label_values_are_escaped_and_alerts_counted() -> None:
    odd = 'we"ird\\name\nx'
    region = RegionStatus(
        name=odd,
        display_name="Odd",
        colour="#000",
        city=None,
        country=None,
        last_sample_at=None,
        last_sweep_at=None,
        status=None,
        last_error=None,
        stale=True,
        age_s=None,
        capacities={0: Capacity(0, 5, 10)},
    )
    alert = OpenAlert(1, "r", odd, "critical", "m", None, False, None, None)  # type: ignore[arg-type]

    families = read(render([region], [alert, alert]))

    assert families["meca_capacity_used"] == [({"region": odd, "type": "MEMORY", "unit": "bytes"}, 5)]
    assert families["meca_region_up"] == [({"region": odd}, 0)]
    assert families["meca_region_last_sample_timestamp_seconds"] == []
    assert families["meca_alerts_open"] == [({"region": odd, "severity": "critical"}, 2)]
