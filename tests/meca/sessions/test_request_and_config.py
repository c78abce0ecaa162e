"""Request parsing round trip, the sessions file, and the trigger form's Params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from meca.sessions.config import InvalidSessionsConfig, SessionsConfig, load_config
from meca.sessions.params import session_params
from meca.sessions.request import FIELDS, SessionRequest

NOW = datetime(2030, 1, 7, 8, 0, tzinfo=UTC)
CONF = {
    "start": "2030-01-08T09:00:00+01:00",
    "end": "2030-01-08T11:30:00+01:00",
    "title": " Lab ",
    "owner": "ann@polito.it",
    "template": "Ubuntu 22.04",
    "instances": 3,
    "offering": "Small",
    "recurrence_weeks": 2,
}


def test_conf_becomes_a_utc_request_and_back() -> None:
    request = SessionRequest.from_conf(CONF, now=NOW, config=SessionsConfig())
    assert request.start == datetime(2030, 1, 8, 8, 0, tzinfo=UTC)
    assert (request.title, request.region, request.comments) == ("Lab", "any", "")
    assert request.occurrences()[2] == (request.start + timedelta(weeks=2), request.end + timedelta(weeks=2))
    assert SessionRequest.from_conf(request.to_conf(), now=NOW, config=SessionsConfig()) == request


def test_the_repository_sessions_file_is_valid(repo: Path) -> None:
    config = load_config(repo / "include" / "sessions.yaml")
    assert config.lead_time == timedelta(minutes=10)
    assert config.home_region("someone@polito.it") == "MECA-PolITO"


def test_home_region_by_owner_before_institution(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "home_regions:\n  owners: {ann@polito.it: MECA-BME}\n  institutions: {PoliTO.it: MECA-PolITO}\n"
    )
    config = load_config(path)
    assert config.home_region("ann@polito.it") == "MECA-BME"
    assert config.home_region("bob@polito.it") == "MECA-PolITO"
    assert config.home_region("carol") is None
    assert load_config(tmp_path / "missing.yaml") == SessionsConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_instances: 0\n", "'max_instances' must be a whole number from 1 to 100"),
        ("max_duration_hours: -1\n", "'max_duration_hours' must be a number > 0"),
        ("lead_time: 5\n", "unknown keys ['lead_time']"),
        ("home_regions: {teachers: {}}\n", "'home_regions' must be a mapping"),
    ],
)
def test_bad_sessions_file_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(InvalidSessionsConfig, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def validate(conf: dict[str, object]) -> dict[str, object]:
    """Validate ``conf`` with the form's Params, as a trigger does."""
    from airflow.sdk.definitions.param import ParamsDict

    form = ParamsDict(session_params())
    form.update(conf)
    return form.validate()


def test_params_cover_the_request_fields_and_validate_with_json_schema() -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = session_params()
    assert set(params) == set(FIELDS)
    assert validate(CONF)["instances"] == 3
    for key, bad, words in [
        ("start", "tomorrow", "is not a 'date-time'"),
        ("instances", 0, "less than the minimum of 1"),
        ("instances", "five", "is not of type 'integer'"),
        ("title", "", "should be non-empty"),
    ]:
        with pytest.raises(ParamValidationError, match=words):
            validate({**CONF, key: bad})
