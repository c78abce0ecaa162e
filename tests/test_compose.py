"""``docker-compose.yaml`` against the Compose specification, the README and ``.env.example``.

No Docker engine is needed: the file is validated with the Compose specification's JSON schema,
vendored in ``tests/data/compose-spec.json`` (provenance in ``tests/data/README.md``).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
SCHEMA_FILE = REPO / "tests" / "data" / "compose-spec.json"

# ${NAME}, ${NAME:-default}, ${NAME:?message}, ... but not the escaped $${NAME}.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
# The official compose file's services, for the CeleryExecutor.
AIRFLOW_SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema declares draft 2019-09 but is written in draft-07 style ("definitions", "id").
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<top>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _env_example_names() -> set[str]:
    names = set()
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


def _readme_compose_services() -> set[str]:
    """Service names in the first column of the table under the README's "Docker Compose" heading."""
    section = (REPO / "README.md").read_text().split("\n## Docker Compose\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))


def test_compose_file_follows_the_compose_specification(compose, validator):
    assert _errors(validator, compose) == []


def test_the_schema_check_rejects_a_malformed_service(compose, validator):
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-scheduler"]["restart_policy"] = "always"  # not a service key
    broken["services"]["redis"]["healthcheck"]["retries"] = "many"
    errors = _errors(validator, broken)
    assert any(e.startswith("services/airflow-scheduler:") and "restart_policy" in e for e in errors), errors
    assert any("services/redis/healthcheck/retries" in error for error in errors), errors


def test_it_has_the_official_airflow_services_and_the_demo_profile(compose):
    services = compose["services"]
    assert set(services) >= AIRFLOW_SERVICES
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == {"cloudstack-simulator", "meca-demo-setup"}
    assert all(services[name]["profiles"] == ["demo"] for name in profiled)
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_every_service_the_readme_names_exists_and_every_service_is_in_the_readme(compose):
    named = _readme_compose_services()
    assert named, "README.md has no service table under '## Docker Compose'"
    assert named == set(compose["services"])


def test_every_interpolated_variable_is_documented_in_env_example():
    used = set(INTERPOLATION.findall(COMPOSE_FILE.read_text()))
    documented = _env_example_names()
    assert used - documented == set(), "used in docker-compose.yaml, missing from .env.example"
    assert documented - used == set(), "in .env.example, used nowhere in docker-compose.yaml"


def test_secrets_are_required_not_defaulted():
    text = COMPOSE_FILE.read_text()
    for secret in ("POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} must be ${{{secret}:?...}}: {uses}"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_images_are_pinned_and_airflow_matches_requirements(compose):
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements.txt pins no apache-airflow version"
    airflow_image = f"apache/airflow:{pinned.group(1)}-python3.11"
    images = {name: service["image"] for name, service in compose["services"].items()}
    for name, image in images.items():
        repository, _, tag = image.partition(":")
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        if repository == "apache/airflow":
            assert image == airflow_image, f"{name}: {image} but requirements.txt pins {airflow_image}"
    assert images["postgres"] == "postgres:16"
    assert images["redis"] == "redis:7.2-bookworm"


def test_dependencies_exist_and_never_point_into_an_optional_profile(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            if not service.get("profiles"):
                assert not services[dependency].get("profiles"), (
                    f"{name} runs in every profile but depends on {dependency}, which runs only in "
                    f"{services[dependency]['profiles']}"
                )
