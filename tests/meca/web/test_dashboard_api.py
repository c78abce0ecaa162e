"""The JSON endpoints give the stored numbers in the types' own units."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from meca.cloudstack.capacity import BY_TYPE
from meca.store import models
from tests.meca.web.conftest import CAPACITY, GAMMA_ERROR, OFFERINGS, Api, Federation, region_total, sample

MIB = 1024**2


def test_summary_gives_each_region_and_the_totals(airflow_api: Api, federation: Federation) -> None:
    body = airflow_api.get("/api/summary").json()

    regions = {r["name"]: r for r in body["regions"]}
    assert list(regions) == list(CAPACITY)
    for name, region in regions.items():
        kinds = sorted({k for zone in CAPACITY[name].values() for k in zone})
        assert [c["type"] for c in region["capacity"]] == kinds
        for c in region["capacity"]:
            assert (c["used"], c["total"]) == region_total(name, c["type"])
            assert (c["name"], c["unit"]) == (BY_TYPE[c["type"]].name, BY_TYPE[c["type"]].unit)
            assert c["percent"] == pytest.approx(100 * c["used"] / c["total"], abs=0.01)
    totals = {c["type"]: (c["used"], c["total"]) for c in body["totals"]}
    for kind, (used, total) in totals.items():
        pairs = [region_total(name, kind) for name in CAPACITY]
        assert (used, total) == (sum(u for u, _ in pairs), sum(t for _, t in pairs))
    assert body["last_updated"] == federation.fresh_at.isoformat()
    assert body["stale_after_s"] == 600


def test_summary_health_and_staleness(airflow_api: Api, federation: Federation) -> None:
    regions = {r["name"]: r for r in airflow_api.get("/api/summary").json()["regions"]}

    assert {n: (r["status"], r["stale"]) for n, r in regions.items()} == {
        "alpha": ("ok", False),
        "beta": ("ok", False),
        "gamma": ("error", True),
        "delta": ("ok", True),
    }
    gamma = regions["gamma"]
    assert gamma["last_error"] == GAMMA_ERROR
    assert gamma["last_sample_at"] == federation.gamma_ok_at.isoformat()
    assert gamma["last_sweep_at"] == federation.fresh_at.isoformat()
    assert gamma["age_s"] >= 30 * 60
    assert regions["delta"]["last_error"] is None
    assert regions["delta"]["age_s"] >= 20 * 60
    assert regions["alpha"]["vm_states"] == {"Running": 3, "Stopped": 1}


def test_region_endpoint_adds_seats_and_alerts(airflow_api: Api, federation: Federation) -> None:
    body = airflow_api.get("/api/regions/beta").json()

    assert body["name"] == "beta"
    memory_used, memory_total = region_total("beta", 0)
    cpu_used, cpu_total = region_total("beta", 1)
    expected = {
        o.name: min(
            (memory_total - memory_used) // (o.memory_mib * MIB),
            (cpu_total - cpu_used) // (o.cpu_number * o.cpu_speed_mhz),
        )
        for o in OFFERINGS
    }
    assert {s["offering"]: s["seats"] for s in body["seats"]} == expected
    assert body["alerts"] == []
    assert airflow_api.get("/api/regions/nowhere").status_code == 404


def test_seats_endpoint(airflow_api: Api, federation: Federation) -> None:
    seats = airflow_api.get("/api/seats").json()["seats"]
    assert {
        (s["region"], s["offering"]): (s["seats"], s["limited_by"]) for s in seats if s["region"] == "alpha"
    } == {
        ("alpha", "Small"): (42, "cpu"),
        ("alpha", "Large"): (5, "cpu"),
    }
    assert len(seats) == len(CAPACITY) * len(OFFERINGS)
    only = airflow_api.get("/api/seats", region="gamma").json()["seats"]
    assert {s["region"] for s in only} == {"gamma"}


def test_open_alerts_only(airflow_api: Api, federation: Federation) -> None:
    with federation.engine.begin() as connection:
        ids = dict(connection.execute(select(models.Region.name, models.Region.id)).tuples().all())
        opened = federation.now - timedelta(minutes=15)
        common = {"opened_at": opened, "last_seen_at": federation.fresh_at, "value": 93.75}
        connection.execute(
            models.Alert.__table__.insert(),
            [
                {
                    "rule": "memory_high",
                    "region_id": ids["beta"],
                    "severity": "critical",
                    "message": "memory 93.8% used",
                    "marks_full": True,
                    "cleared_at": None,
                    **common,
                },
                {
                    "rule": "memory_high",
                    "region_id": ids["alpha"],
                    "severity": "warning",
                    "message": "cleared one",
                    "marks_full": False,
                    "cleared_at": federation.fresh_at,
                    **common,
                },
            ],
        )

    alerts = airflow_api.get("/api/alerts").json()["alerts"]
    assert [(a["region"], a["rule"], a["severity"], a["marks_full"], a["value"]) for a in alerts] == [
        ("beta", "memory_high", "critical", True, 93.75)
    ]
    assert alerts[0]["opened_at"] == opened.isoformat()
    assert airflow_api.get("/api/alerts", region="alpha").json()["alerts"] == []
    assert [a["rule"] for a in airflow_api.get("/api/regions/beta").json()["alerts"]] == ["memory_high"]
    page = airflow_api.get("/").text
    assert "memory 93.8% used" in page
    assert "cleared one" not in page


def test_history_from_raw_samples_and_rollups(airflow_api: Api, federation: Federation) -> None:
    with federation.engine.begin() as connection:
        alpha = connection.scalar(select(models.Region.id).where(models.Region.name == "alpha"))
        day = federation.now.replace(hour=0, minute=0, second=0)
        row = {
            "region_id": alpha,
            "type": 1,
            "samples": 288,
            "used_min": 1000,
            "used_max": 3000,
            "used_mean": 2000.5,
            "total_max": 48000,
            "percent_max": 6.25,
            "percent_mean": 4.17,
        }
        connection.execute(
            models.CapacityDaily.__table__.insert(),
            [{**row, "bucket": day - timedelta(days=d)} for d in (10, 40)],
        )

    raw = airflow_api.get("/api/history", type=1, region="alpha").json()
    [series] = raw["series"]
    expected_used = [
        sum(c.used for c in sample("alpha", scale=s).capacities if c.type == 1) for s in (0.5, 0.75, 1.0)
    ]
    assert [p["used"] for p in series["points"]] == expected_used
    assert {p["total"] for p in series["points"]} == {48000}
    assert [p["at"] for p in series["points"]] == [
        (federation.now - timedelta(hours=2)).isoformat(),
        (federation.now - timedelta(hours=1)).isoformat(),
        federation.fresh_at.isoformat(),
    ]
    assert (raw["source"], raw["name"], raw["unit"]) == ("raw", "CPU", "MHz")
    everyone = airflow_api.get("/api/history", type=1).json()
    assert [s["region"] for s in everyone["series"]] == list(CAPACITY)

    month = airflow_api.get("/api/history", type=1, window="30d").json()
    assert month["source"] == "daily"
    assert [
        (s["region"], [(p["at"], p["used"], p["total"]) for p in s["points"]]) for s in month["series"]
    ] == [("alpha", [((day - timedelta(days=10)).isoformat(), 2000.5, 48000)])]
    assert airflow_api.get("/api/history", type=1, window="1y").status_code == 422
    assert airflow_api.get("/api/history", type=42).status_code == 404
