"""The HTML pages show the numbers stored in the data DB, the stale regions and their errors."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from meca.cloudstack.capacity import BY_TYPE, DASHBOARD_TYPES
from meca.store import models
from meca.web.humanize import used_of_total
from tests.meca.web.conftest import CAPACITY, GAMMA_ERROR, GIB, Api, Federation, region_total
from tests.meca.web.html_nodes import parse


def federation_total(kind: int) -> tuple[int, int]:
    pairs = [region_total(name, kind) for name in CAPACITY]
    return sum(u for u, _ in pairs), sum(t for _, t in pairs)


def test_federation_tiles_sum_every_region_in_the_seed_order(
    airflow_api: Api, federation: Federation
) -> None:
    page = parse(airflow_api.get("/").text)

    tiles = page.find_all(cls="tile")
    assert [int(t.attrs["data-type"]) for t in tiles] == list(DASHBOARD_TYPES)
    for tile in tiles:
        kind = int(tile.attrs["data-type"])
        used, total = federation_total(kind)
        assert (int(tile.attrs["data-used"]), int(tile.attrs["data-total"])) == (used, total)
        assert BY_TYPE[kind].label in tile.text
        assert used_of_total(used, total, BY_TYPE[kind].unit) in tile.text
    memory = page.one(cls="tile", data_type="0")
    assert "45.0 GiB / 160.0 GiB" in memory.text
    assert memory.one("svg").attrs["aria-label"] == "Memory: 28% used"
    assert "22.5 GHz / 80.0 GHz" in page.one(cls="tile", data_type="1").text
    assert "17 / 40" in page.one(cls="tile", data_type="5").text
    assert page.one("time", id="last-updated").attrs["datetime"] == federation.fresh_at.isoformat()


def test_federation_marks_stale_regions_with_their_error_and_age(
    airflow_api: Api, federation: Federation
) -> None:
    page = parse(airflow_api.get("/").text)

    rows = {row.attrs["data-region"]: row for row in page.find_all("tr", cls="region")}
    assert list(rows) == ["alpha", "beta", "gamma", "delta"]
    assert {name: row.attrs["data-stale"] for name, row in rows.items()} == {
        "alpha": "false",
        "beta": "false",
        "gamma": "true",
        "delta": "true",
    }
    assert rows["gamma"].one(cls="error").text == GAMMA_ERROR
    assert re.search(r"numbers 3\d min old", rows["gamma"].text)
    assert re.search(r"numbers 2\d min old", rows["delta"].text)
    assert rows["delta"].find_all(cls="error") == []
    assert "up" in rows["alpha"].one(cls="badge").text
    assert page.one(id="stale-count").text == "2"
    assert [a.text for a in page.one("header").find_all("a", cls="stale")] == ["gamma", "delta"]


def test_region_page_shows_its_own_numbers_and_vms(airflow_api: Api, federation: Federation) -> None:
    page = parse(airflow_api.get("/regions/alpha").text)

    for tile in page.find_all(cls="tile"):
        kind = int(tile.attrs["data-type"])
        assert (int(tile.attrs["data-used"]), int(tile.attrs["data-total"])) == region_total("alpha", kind)
    assert "12.0 GiB / 96.0 GiB" in page.one(cls="tile", data_type="0").text
    assert page.one(id="status").text == "up"
    assert page.find_all(id="stale-banner") == []
    vms = [[cell.text for cell in row.find_all("td")] for row in page.one("table", cls="vms").find_all("tr")]
    assert vms == [[], ["Running", "3"], ["Stopped", "1"]]
    assert page.one("time", id="last-updated").attrs["datetime"] == federation.fresh_at.isoformat()


def test_region_page_of_a_failed_region_shows_the_stale_banner(
    airflow_api: Api, federation: Federation
) -> None:
    page = parse(airflow_api.get("/regions/gamma").text)

    banner = page.one(id="stale-banner")
    assert banner.one(cls="error").text == GAMMA_ERROR
    assert "Latest sweep" in banner.text
    assert ": error." in banner.text
    assert re.search(r"these numbers are 3\d min old", banner.text)
    assert page.one(id="status").text == "stale"
    # The last known numbers are still shown.
    assert int(page.one(cls="tile", data_type="0").attrs["data-used"]) == 1 * GIB


def test_unknown_region_is_404(airflow_api: Api, federation: Federation) -> None:
    response = airflow_api.get("/regions/nowhere")
    assert response.status_code == 404
    assert "nowhere" in response.json()["detail"]


def test_seats_left_table(airflow_api: Api, federation: Federation) -> None:
    page = parse(airflow_api.get("/").text)

    seats = {
        (row.attrs["data-region"], cell.attrs["data-offering"]): int(cell.attrs["data-seats"])
        for row in page.one("table", cls="seats").find_all("tr")
        if "data-region" in row.attrs
        for cell in row.find_all("td")
        if "data-offering" in cell.attrs
    }
    # alpha: 84 GiB and 42 GHz free; Small needs 1 GiB and 1 GHz, Large 8 GiB and 8 GHz.
    assert seats[("alpha", "Small")] == 42
    assert seats[("alpha", "Large")] == 5
    # beta: 2 GiB and 1 GHz free.
    assert seats[("beta", "Small")] == 1
    assert seats[("beta", "Large")] == 0
    assert set(seats) == {(r, o) for r in CAPACITY for o in ("Small", "Large")}


def test_history_charts_per_window(airflow_api: Api, federation: Federation) -> None:
    with federation.engine.begin() as connection:
        alpha = connection.scalar(select(models.Region.id).where(models.Region.name == "alpha"))
        hour = federation.now.replace(minute=0, second=0)
        connection.execute(
            models.CapacityHourly.__table__.insert(),
            [
                {
                    "region_id": alpha,
                    "type": 0,
                    "bucket": hour - timedelta(days=d),
                    "samples": 12,
                    "used_min": 1,
                    "used_max": 3,
                    "used_mean": 2.0,
                    "total_max": 4,
                    "percent_max": 75.0,
                    "percent_mean": 50.0,
                }
                for d in (3, 8)
            ],
        )

    day_page = parse(airflow_api.get("/regions/alpha").text)
    week_page = parse(airflow_api.get("/regions/alpha", window="7d").text)
    month_page = parse(airflow_api.get("/", window="30d").text)

    figures = day_page.find_all("figure")
    assert [int(f.attrs["data-type"]) for f in figures] == list(DASHBOARD_TYPES)
    memory_day = day_page.one("figure", data_type="0")
    # Three samples of alpha in the last 24 h: a line of 3 points for used and one for total, with dots.
    assert [len(p.attrs["points"].split()) for p in memory_day.find_all("polyline")] == [3, 3]
    assert len(memory_day.find_all("circle")) == 6
    memory_week = week_page.one("figure", data_type="0")
    assert [len(p.attrs["points"].split()) for p in memory_week.find_all("polyline")] == [1, 1]
    assert week_page.one(cls="windows").one("a", cls="current").text == "7 days"
    assert month_page.one("figure", data_type="0").find_all("polyline") == []
