"""Every DAG file imports cleanly, fast, without I/O, and carries the metadata operators rely on.

Parsing happens in the dag-processor every 30 s for every file, so a DAG file must not look up a
Connection or a Variable, nor touch the network, at import time. The guard below proves it by
counting every such call during a real ``DagBag`` parse, and the ``test_guard_catches_*`` tests show
the guard is not blind: each parses a deliberately bad DAG and expects it to be caught.
"""

from __future__ import annotations

import importlib
import socket
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "dags"
# A generous bound that only catches gross problems (heavy imports, I/O at parse time); a DAG file
# typically parses in well under 0.2 s. Not a performance target.
PARSE_BUDGET_S = 2.0
SECRET_BACKEND_METHODS = ("get_variable", "get_connection", "get_conn_value")
SECRET_BACKEND_MODULES = (
    "airflow.secrets.environment_variables",
    "airflow.secrets.local_filesystem",
    "airflow.secrets.metastore",
    "airflow.sdk.execution_time.secrets.execution_api",
)
SECRET_BACKEND_ROOTS = (
    ("airflow._shared.secrets_backend.base", "BaseSecretsBackend"),
    ("airflow.sdk._shared.secrets_backend.base", "BaseSecretsBackend"),
)


@dataclass
class GuardedParse:
    """What a ``DagBag`` parse did: the bag, and every forbidden call made while parsing."""

    dagbag: Any
    lookups: list[str] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)


def _subclasses(cls: type) -> Iterator[type]:
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        yield sub
        yield from _subclasses(sub)


def _secret_backend_classes() -> set[type]:
    for module in SECRET_BACKEND_MODULES:
        importlib.import_module(module)
    classes: set[type] = set()
    for module, name in SECRET_BACKEND_ROOTS:
        root = getattr(importlib.import_module(module), name)
        classes.update({root, *_subclasses(root)})
    return classes


def _counting(calls: list[str], label: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original``, recording ``label`` and its arguments in ``calls`` each time it is called."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        names = [arg for arg in (*args, *kwargs.values()) if isinstance(arg, str)]
        calls.append(f"{label}{names}")
        return original(*args, **kwargs)

    return wrapper


def parse_guarded(folder: Path) -> GuardedParse:
    """Parse ``folder`` with a ``DagBag`` while counting Connection/Variable look-ups and refusing sockets.

    Counted: the SDK getters behind ``Variable.get``, ``Connection.get`` and ``BaseHook.get_connection``,
    the core models' getters, and every secrets backend's ``get_variable``/``get_connection``/
    ``get_conn_value``. Any ``socket.connect`` or ``socket.create_connection`` raises ``OSError``.
    """
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.connection import Connection
    from airflow.models.variable import Variable
    from airflow.sdk.execution_time import context as sdk_context

    result = GuardedParse(dagbag=None)

    def refuse(address: Any, *args: Any, **kwargs: Any) -> Any:
        result.connects.append(repr(address))
        raise OSError(f"network access at DAG parse time: {address!r}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "create_connection", refuse)
        patch.setattr(socket.socket, "connect", lambda sock, address: refuse(address))
        patch.setattr(socket.socket, "connect_ex", lambda sock, address: refuse(address))
        for name in ("_get_variable", "_get_connection"):
            patch.setattr(sdk_context, name, _counting(result.lookups, name, getattr(sdk_context, name)))
        patch.setattr(Variable, "get", _counting(result.lookups, "Variable.get", Variable.get))
        patch.setattr(
            Connection,
            "get_connection_from_secrets",
            _counting(result.lookups, "Connection.get", Connection.get_connection_from_secrets),
        )
        for cls in _secret_backend_classes():
            for method in SECRET_BACKEND_METHODS:
                if method in vars(cls):
                    label = f"{cls.__name__}.{method}"
                    patch.setattr(cls, method, _counting(result.lookups, label, vars(cls)[method]))
        result.dagbag = DagBag(dag_folder=str(folder))
    return result


@pytest.fixture(scope="module")
def project_parse() -> GuardedParse:
    return parse_guarded(DAGS_FOLDER)


def test_every_dag_file_imports_without_errors(project_parse: GuardedParse) -> None:
    dag_files = sorted(path.name for path in DAGS_FOLDER.glob("*.py"))
    assert dag_files, "no DAG file found"
    assert project_parse.dagbag.import_errors == {}
    parsed_files = sorted(Path(stat.file).name for stat in project_parse.dagbag.dagbag_stats)
    assert parsed_files == dag_files


def test_parse_makes_no_lookup_and_no_network_call(project_parse: GuardedParse) -> None:
    assert project_parse.lookups == []
    assert project_parse.connects == []


def test_each_file_parses_within_budget(project_parse: GuardedParse) -> None:
    slow = {
        stat.file: stat.duration.total_seconds()
        for stat in project_parse.dagbag.dagbag_stats
        if stat.duration.total_seconds() > PARSE_BUDGET_S
    }
    assert slow == {}, f"DAG files over the {PARSE_BUDGET_S} s parse budget"


def test_each_file_defines_one_dag_named_after_it(project_parse: GuardedParse) -> None:
    dag_files = sorted(path.stem for path in DAGS_FOLDER.glob("*.py"))
    by_file = sorted((Path(dag.fileloc).stem, dag_id) for dag_id, dag in project_parse.dagbag.dags.items())
    assert by_file == [(stem, stem) for stem in dag_files]


def test_every_dag_has_tags_owner_retries_and_docs(project_parse: GuardedParse) -> None:
    dags = project_parse.dagbag.dags
    assert dags
    for dag_id, dag in dags.items():
        assert dag.tags, f"{dag_id}: no tags"
        assert (dag.doc_md or "").strip(), f"{dag_id}: no doc_md"
        assert "retries" in dag.default_args, f"{dag_id}: default_args must set retries explicitly"
        owners = {task.owner for task in dag.tasks}
        assert "airflow" not in owners, f"{dag_id}: tasks {owners} still have the default owner"


def test_every_dag_grants_access_to_meca_roles_only(project_parse: GuardedParse) -> None:
    from meca.security.roles import DAG_ACCESS, ROLES

    dags = project_parse.dagbag.dags
    assert sorted(dags) == sorted(DAG_ACCESS)
    for dag_id, dag in dags.items():
        assert dag.access_control, f"{dag_id}: no access_control"
        assert set(dag.access_control) <= set(ROLES), f"{dag_id}: a role outside {ROLES}"
        assert dag.access_control == DAG_ACCESS[dag_id], f"{dag_id}: access_control is not roles.DAG_ACCESS's"


BAD_DAGS = {
    "variable": "from airflow.sdk import Variable\nREGIONS = Variable.get('meca_regions', default=None)\n",
    "connection": (
        "from airflow.sdk import BaseHook\n"
        "try:\n    BaseHook.get_connection('cloudstack_somewhere')\nexcept Exception:\n    pass\n"
    ),
    "network": (
        "import socket\n"
        "try:\n    socket.create_connection(('192.0.2.1', 8080), timeout=1)\nexcept OSError:\n    pass\n"
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_DAGS))
def test_guard_catches_io_at_parse_time(kind: str, tmp_path: Path) -> None:
    source = BAD_DAGS[kind] + textwrap.dedent(
        """
        from airflow.sdk import dag, task

        @dag(dag_id="bad_dag", schedule=None)
        def bad_dag():
            @task
            def noop() -> None:
                pass

            noop()

        bad_dag()
        """
    )
    (tmp_path / "bad_dag.py").write_text(source)
    parsed = parse_guarded(tmp_path)
    assert "bad_dag" in parsed.dagbag.dags
    if kind == "network":
        assert parsed.connects == ["('192.0.2.1', 8080)"]
        assert parsed.lookups == []
    else:
        assert parsed.connects == []
        looked_up = "meca_regions" if kind == "variable" else "cloudstack_somewhere"
        assert any(looked_up in call for call in parsed.lookups), f"a top-level {kind} look-up went unnoticed"
