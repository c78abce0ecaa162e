"""``docker-compose.yaml``, the ``Dockerfile`` and ``.env.example`` against the specification and the project.

No Docker engine is needed: the file is validated with the Compose specification's JSON schema,
vendored in ``tests/data/compose-spec.json`` (provenance in ``tests/data/README.md``), then against
what the project expects of it: the services the README and the operations guide name, the documented
variables, the order of the init steps, the modules the commands run, the image pins, health checks,
and Connections that the MECA code accepts. Each kind of check has a negative test showing it can fail.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
SCHEMA_FILE = REPO / "tests" / "data" / "compose-spec.json"
OPERATIONS_GUIDE = REPO / "docs" / "operations.md"

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
DEMO_SERVICES = {"cloudstack-simulator", "mgtr", "meca-demo-setup"}
# Services that run once and exit; every other service runs until stopped.
ONE_SHOT = {"airflow-init", "meca-demo-setup"}
# Services that use neither Airflow's databases nor what airflow-init creates.
NEEDS_NO_INIT = {"postgres", "redis", "airflow-init", "cloudstack-simulator", "mgtr"}
SECRETS = (
    "POSTGRES_PASSWORD",
    "MECA_DATA_DB_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
# The setup steps of airflow-init, in the order they must run.
INIT_STEPS = (
    "airflow db migrate",
    "python -m meca.store.migrate",
    "airflow pools import",
    "python -m meca.security.sync_roles",
    "airflow users create",
)
PYTHON_MODULE = re.compile(r"\bpython3? -m ([A-Za-z_][\w.]*)")
PYTHON_IMPORT = re.compile(r"^\s*from ([A-Za-z_][\w.]*) import ", re.MULTILINE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema declares draft 2019-09 but is written in draft-07 style ("definitions", "id").
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


# ------------------------------------------------------------------------------------------------
# Helpers: each returns what is wrong (an empty list when all is well), so negative tests can feed
# them broken copies.


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<top>'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def _env_example() -> dict[str, str]:
    """``.env.example``'s settings, name → value."""
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def _undocumented_settings(env_text: str) -> list[str]:
    """Settings of an env file that have no comment line right above them."""
    problems, previous = [], ""
    for line in env_text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not previous.startswith("#"):
            problems.append(stripped.partition("=")[0])
        if stripped:
            previous = stripped
    return problems


def _readme_compose_services() -> set[str]:
    """Service names in the first column of the table under the README's "Docker Compose" heading."""
    section = (REPO / "README.md").read_text().split("\n## Docker Compose\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))


_VALUE_OPTIONS = {"--scale", "-u", "--user", "-e", "--env", "-w", "--workdir", "--tail", "--since"}
_VALUE_OPTIONS |= {"--entrypoint", "--profile", "-f", "--file", "-p", "--project-name", "--index"}
_SHELL_STOP = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1"}
_ONE_SERVICE = {"exec", "run"}  # the first positional is the service, the rest its command
_SERVICES = {"up", "stop", "start", "restart", "logs", "rm", "kill", "ps", "pull", "build", "create", "top"}


def _compose_commands(markdown: str) -> list[list[str]]:
    """The ``docker compose ...`` commands of a Markdown text (code blocks, inline code), split in words."""
    text = re.sub(r"\\\n\s*", " ", markdown)  # join continued lines
    commands = []
    for match in re.finditer(r"docker compose [^`\n]*", text):
        try:
            commands.append(shlex.split(match.group(0), comments=True))
        except ValueError:  # an unbalanced quote in prose
            commands.append(match.group(0).split())
    return commands


def _services_named(command: list[str]) -> list[str]:
    """The services a ``docker compose`` command names (``--scale NAME=N`` included)."""
    words = command[2:]
    while words and words[0].startswith("-"):  # global options: --profile demo, -f FILE
        words = words[2:] if words[0] in _VALUE_OPTIONS else words[1:]
    if not words or words[0] not in _ONE_SERVICE | _SERVICES:
        return []
    verb, rest, named = words[0], words[1:], []
    index = 0
    while index < len(rest):
        word = rest[index]
        if word in _SHELL_STOP or word.startswith((">", "<")):
            break
        if word == "--scale" and index + 1 < len(rest):
            named.append(rest[index + 1].split("=", 1)[0])
        if word.startswith("-"):
            index += 2 if word in _VALUE_OPTIONS else 1
            continue
        named.append(word)
        if verb in _ONE_SERVICE:
            break
        index += 1
    return named


def _unknown_services_in(markdown: str, services: set[str]) -> list[str]:
    return sorted(
        {name for command in _compose_commands(markdown) for name in _services_named(command)} - services
    )


def _command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(command)


def _init_order_problems(services: dict[str, Any]) -> list[str]:
    """What is wrong with airflow-init's steps and with how the other services wait for it."""
    problems = []
    script = _command_text(services["airflow-init"])
    if "set -euo pipefail" not in script:
        problems.append("airflow-init: the script must stop at the first failing step (set -euo pipefail)")
    lines = script.splitlines()
    positions = []
    for step in INIT_STEPS:
        found = [number for number, line in enumerate(lines) if step in line]
        if len(found) != 1:
            problems.append(f"airflow-init: step {step!r} appears {len(found)} times")
        positions.append(found[0] if len(found) == 1 else -1)
    for index in range(len(INIT_STEPS) - 1):
        first, second = positions[index], positions[index + 1]
        if first >= 0 and second >= 0 and first > second:
            problems.append(f"airflow-init: {INIT_STEPS[index]!r} must run before {INIT_STEPS[index + 1]!r}")
    for name, service in services.items():
        if name in NEEDS_NO_INIT:
            continue
        condition = service.get("depends_on", {}).get("airflow-init", {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(
                f"{name}: must wait for airflow-init with condition service_completed_successfully"
            )
    return problems


def _module_path(module: str, *, runnable: bool) -> Path | None:
    """The repository file that defines ``module`` (a package needs ``__main__.py`` to be run)."""
    parts = module.split(".")
    for base in (REPO / "plugins", REPO):
        candidates = [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__main__.py")]
        if not runnable:
            candidates.append(base.joinpath(*parts, "__init__.py"))
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    return None


def _missing_modules(services: dict[str, Any]) -> list[str]:
    missing = []
    for name, service in services.items():
        text = _command_text(service) + "\n" + json.dumps(service.get("healthcheck", {}).get("test", ""))
        for module in PYTHON_MODULE.findall(text):
            if _module_path(module, runnable=True) is None:
                missing.append(f"{name}: python -m {module}")
        for module in PYTHON_IMPORT.findall(text):
            if module.split(".")[0] in sys.stdlib_module_names:
                continue
            if _module_path(module, runnable=False) is None:
                missing.append(f"{name}: from {module} import")
    return missing


def _dockerfile_base() -> str:
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert len(froms) == 1, f"the Dockerfile must have one FROM, has {froms}"
    return froms[0]


def _airflow_pin() -> str:
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned, "requirements.txt pins no apache-airflow version"
    return pinned.group(1)


def _image_problems(services: dict[str, Any], base: str, airflow_pin: str) -> list[str]:
    """Images must be pinned; the built image's tag must be the base image's, which must be the pin."""
    problems = []
    expected_tag = f"{airflow_pin}-python3.11"
    if base != f"apache/airflow:{expected_tag}":
        problems.append(f"Dockerfile: FROM {base}, but requirements.txt pins apache-airflow=={airflow_pin}")
    for name, service in services.items():
        image = service.get("image", "")
        repository, _, tag = image.partition(":")
        if not tag or tag == "latest":
            problems.append(f"{name}: image {image!r} is not pinned by tag")
        if "build" in service and tag != base.partition(":")[2]:
            problems.append(f"{name}: builds {image!r}, whose tag is not the Dockerfile's base tag ({base})")
        if repository == "apache/airflow" and "build" not in service:
            problems.append(f"{name}: runs {image} directly; use the MECA image (build) instead")
    return problems


def _healthcheck_problems(services: dict[str, Any]) -> list[str]:
    problems = []
    for name, service in services.items():
        if name in ONE_SHOT:
            if "restart" in service:
                problems.append(f"{name}: a one-shot service must not be restarted")
            continue
        test = service.get("healthcheck", {}).get("test")
        if not test or test == ["NONE"] or service.get("healthcheck", {}).get("disable"):
            problems.append(f"{name}: a long-running service needs a health check")
        if service.get("restart") not in {"always", "unless-stopped"}:
            problems.append(f"{name}: a long-running service needs restart: always")
    return problems


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation of ``${NAME}``, ``${NAME:-default}``, ``${NAME:?message}`` and ``$$``."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        if operator.endswith("?"):
            raise KeyError(f"{name}: {argument}")
        return argument

    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", replace, value)


# ------------------------------------------------------------------------------------------------
# The Compose specification


def test_compose_file_follows_the_compose_specification(compose, validator):
    assert _errors(validator, compose) == []


def test_the_schema_check_rejects_a_malformed_service(compose, validator):
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-scheduler"]["restart_policy"] = "always"  # not a service key
    broken["services"]["redis"]["healthcheck"]["retries"] = "many"
    errors = _errors(validator, broken)
    assert any(e.startswith("services/airflow-scheduler:") and "restart_policy" in e for e in errors), errors
    assert any("services/redis/healthcheck/retries" in error for error in errors), errors


# ------------------------------------------------------------------------------------------------
# Services: the official set, the README, the operations guide


def test_it_has_the_official_airflow_services_and_the_demo_profile(compose):
    services = compose["services"]
    assert set(services) >= AIRFLOW_SERVICES | {"meca-staging"}
    profiled = {name for name, service in services.items() if service.get("profiles")}
    assert profiled == DEMO_SERVICES
    assert all(services[name]["profiles"] == ["demo"] for name in profiled)
    assert services["airflow-worker"]["command"] == "celery worker"
    assert services["airflow-apiserver"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_every_service_the_readme_names_exists_and_every_service_is_in_the_readme(compose):
    named = _readme_compose_services()
    assert named, "README.md has no service table under '## Docker Compose'"
    assert named == set(compose["services"])


def test_every_service_the_operations_guide_names_exists(compose):
    guide = OPERATIONS_GUIDE.read_text()
    named = {name for command in _compose_commands(guide) for name in _services_named(command)}
    assert {"airflow-init", "airflow-worker", "postgres", "airflow-scheduler"} <= named, named
    assert _unknown_services_in(guide, set(compose["services"])) == []


def test_the_guide_check_catches_an_unknown_service(compose):
    text = (
        "```bash\n"
        "docker compose exec -T airflow-webserver airflow dags list\n"
        "docker compose up -d --scale airflow-workers=3\n"
        "docker compose --profile demo logs --tail 50 airflow-scheduler flower > out.txt\n"
        "docker compose exec postgres pg_dump -U airflow meca-data\n"
        "```\n"
    )
    assert _unknown_services_in(text, set(compose["services"])) == [
        "airflow-webserver",
        "airflow-workers",
        "flower",
    ]


# ------------------------------------------------------------------------------------------------
# Variables and secrets


def test_every_interpolated_variable_is_documented_in_env_example():
    used = set(INTERPOLATION.findall(COMPOSE_FILE.read_text()))
    documented = set(_env_example())
    assert used - documented == set(), "used in docker-compose.yaml, missing from .env.example"
    assert documented - used == set(), "in .env.example, used nowhere in docker-compose.yaml"
    assert _undocumented_settings((REPO / ".env.example").read_text()) == []


def test_the_documentation_check_catches_a_setting_without_comment():
    text = "# the port\nAIRFLOW_PORT=8080\nAIRFLOW_SECRET=\n\n# documented\nOTHER=1\n"
    assert _undocumented_settings(text) == ["AIRFLOW_SECRET"]


def test_secrets_are_required_not_defaulted_and_empty_in_the_example():
    text = COMPOSE_FILE.read_text()
    example = _env_example()
    for secret in SECRETS:
        uses = re.findall(r"(?<!\$)\$\{" + secret + r"([^}]*)\}", text)
        assert uses, f"{secret} is not used"
        assert all(use.startswith(":?") for use in uses), f"{secret} must be ${{{secret}:?...}}: {uses}"
        assert example[secret] == "", f".env.example must not carry a value for {secret}"
    assert ".env" in (REPO / ".gitignore").read_text().split()
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in text, "the image is built, not patched at start"


def test_the_connections_in_the_environment_are_what_the_meca_code_reads(compose, monkeypatch):
    from airflow.secrets.environment_variables import EnvironmentVariablesBackend

    from meca.mgtr.publish import StagingSettings
    from meca.store.engine import url_from_connection

    env = {name: value or f"example-{name.lower()}" for name, value in _env_example().items()}
    services = _interpolate(compose["services"], env)
    worker = services["airflow-worker"]
    for name, value in worker["environment"].items():
        if name.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(name, value)
    backend = EnvironmentVariablesBackend()

    data_url = url_from_connection(backend.get_connection("meca_data"))
    assert (data_url.host, data_url.database, data_url.username) == ("postgres", "meca", "meca")
    assert data_url.password == env["MECA_DATA_DB_PASSWORD"]

    staging = StagingSettings.from_connection(backend.get_connection("meca_staging_http"))
    assert staging.base_url == env["MECA_STAGING_URL"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in worker["volumes"]}
    served = {volume.split(":")[0]: volume.split(":")[1] for volume in services["meca-staging"]["volumes"]}
    # The folder the workers stage into is the volume the staging server serves, at its nginx root.
    assert mounts[str(staging.root)] == "meca-staging"
    assert mounts[str(staging.cache)] == "mgtr-cache"
    nginx = (REPO / "deploy" / "staging" / "nginx.conf").read_text()
    assert f"root {served['meca-staging']};" in nginx


def test_missing_secrets_stop_the_interpolation(compose):
    env = {name: value or "x" for name, value in _env_example().items()}
    del env["AIRFLOW_FERNET_KEY"]
    with pytest.raises(KeyError, match="AIRFLOW_FERNET_KEY"):
        _interpolate(compose["services"], env)


def test_the_demo_mgtr_matches_the_catalog(compose):
    from mgtr_repository.standalone import DEMO_TEMPLATE_PATH

    catalog = yaml.safe_load((REPO / "include" / "templates_catalog" / "catalog.yaml").read_text())
    command = compose["services"]["mgtr"]["command"]
    conn_id = command[command.index("--conn-id") + 1] if "--conn-id" in command else "meca_mgtr"
    assert conn_id == catalog["mgtr_conn_id"]
    assert "/" + DEMO_TEMPLATE_PATH.rsplit("/", 1)[0] in {
        template["path"] for template in catalog["templates"]
    }


# ------------------------------------------------------------------------------------------------
# The init service


def test_the_init_service_runs_the_setup_steps_in_order_before_everything_else(compose):
    assert _init_order_problems(compose["services"]) == []


def test_the_order_check_catches_a_swapped_step_and_a_service_that_does_not_wait(compose):
    broken = copy.deepcopy(compose["services"])
    lines = broken["airflow-init"]["command"][1].splitlines()
    sync = next(i for i, line in enumerate(lines) if "sync_roles" in line)
    migrate = next(i for i, line in enumerate(lines) if "airflow db migrate" in line)
    lines[sync], lines[migrate] = lines[migrate], lines[sync]
    broken["airflow-init"]["command"][1] = "\n".join(lines)
    broken["airflow-dag-processor"]["depends_on"]["airflow-init"]["condition"] = "service_started"
    del broken["airflow-worker"]["depends_on"]["airflow-init"]
    problems = _init_order_problems(broken)
    assert "airflow-init: 'airflow db migrate' must run before 'python -m meca.store.migrate'" in problems
    assert (
        "airflow-init: 'airflow pools import' must run before 'python -m meca.security.sync_roles'"
        in problems
    )
    assert any(problem.startswith("airflow-dag-processor:") for problem in problems)
    assert any(problem.startswith("airflow-worker:") for problem in problems)


# ------------------------------------------------------------------------------------------------
# Modules, images, health checks


def test_every_python_module_the_commands_run_exists_in_the_repository(compose):
    modules = {
        m for service in compose["services"].values() for m in PYTHON_MODULE.findall(_command_text(service))
    }
    assert {"meca.store.migrate", "meca.security.sync_roles", "cloudstack_simulator"} <= modules
    assert _missing_modules(compose["services"]) == []


def test_the_module_check_catches_a_missing_module(compose):
    broken = copy.deepcopy(compose["services"])
    broken["mgtr"]["command"][2] = "mgtr_repository.serve_forever"
    broken["meca-demo-setup"]["command"][2] += "\nfrom cloudstack_simulator.nowhere import x\n"
    broken["cloudstack-simulator"]["command"][2] += " python -m meca.store"  # a package without __main__
    assert _missing_modules(broken) == [
        "cloudstack-simulator: python -m meca.store",
        "mgtr: python -m mgtr_repository.serve_forever",
        "meca-demo-setup: from cloudstack_simulator.nowhere import",
    ]


def test_images_are_pinned_and_the_airflow_image_is_the_pinned_version(compose):
    services = compose["services"]
    assert _image_problems(services, _dockerfile_base(), _airflow_pin()) == []
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(services) - {"postgres", "redis", "meca-staging"}
    assert services["postgres"]["image"] == "postgres:16.15"
    assert services["redis"]["image"] == "redis:7.2.11-bookworm"
    assert services["meca-staging"]["image"] == "nginx:1.28.0-alpine"


def test_the_image_check_catches_drift(compose):
    services = copy.deepcopy(compose["services"])
    services["redis"]["image"] = "redis:latest"
    services["postgres"]["image"] = "postgres"
    services["mgtr"]["image"] = "meca-mclouds-airflow:3.3.1-python3.11"
    problems = _image_problems(services, "apache/airflow:3.3.1-python3.11", "3.3.2")
    assert (
        "Dockerfile: FROM apache/airflow:3.3.1-python3.11, but requirements.txt pins apache-airflow==3.3.2"
        in problems
    )
    assert "redis: image 'redis:latest' is not pinned by tag" in problems
    assert "postgres: image 'postgres' is not pinned by tag" in problems
    assert any(p.startswith("airflow-worker: builds") for p in problems)
    assert not any(p.startswith("mgtr:") for p in problems)  # its tag is the (wrong) base's: consistent


def test_the_dockerfile_installs_the_runtime_requirements_at_their_pins():
    text = DOCKERFILE.read_text()
    install = text.split('"apache-airflow==${AIRFLOW_VERSION}"', 1)[1].split("\n\n", 1)[0]
    installed = install.replace("\\", " ").split()
    runtime = (REPO / "requirements.in").read_text().split("# test and tooling", 1)[0]
    wanted = [re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0] for line in runtime.splitlines()]
    wanted = [name for name in wanted if name and not name.startswith("#") and name != "apache-airflow"]
    assert installed == wanted, "the Dockerfile must install requirements.in's runtime part, in its order"
    pinned = {line.split("==")[0].lower() for line in (REPO / "requirements.txt").read_text().splitlines()}
    assert {name.lower() for name in installed} <= pinned
    allowed = (REPO / ".dockerignore").read_text().split()
    for source in re.findall(r"^COPY --chown=\S+ (.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert f"!{path}" in allowed or f"!{path}/" in allowed, (
                f".dockerignore keeps {path} out of the build"
            )
            assert (REPO / path).exists(), path


def test_every_long_running_service_has_a_health_check(compose):
    assert {name for name, service in compose["services"].items() if "restart" not in service} == ONE_SHOT
    assert _healthcheck_problems(compose["services"]) == []


def test_the_health_check_check_catches_a_missing_one(compose):
    broken = copy.deepcopy(compose["services"])
    del broken["meca-staging"]["healthcheck"]
    broken["mgtr"]["healthcheck"] = {"disable": True, "test": ["NONE"]}
    broken["airflow-init"]["restart"] = "always"
    assert _healthcheck_problems(broken) == [
        "airflow-init: a one-shot service must not be restarted",
        "meca-staging: a long-running service needs a health check",
        "mgtr: a long-running service needs a health check",
    ]


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
