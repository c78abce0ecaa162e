"""``python -m mgtr_repository.standalone``: the compose ``mgtr`` service, run as a real process.

The Connection file it writes is read back the way ``airflow connections import`` reads it, and the
demo template is fetched over SFTP and extracted by the replication's own code.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from meca.mgtr.extract import extract_image
from meca.mgtr.sftp_connection import SftpSettings
from meca.mgtr.transfer import fetch_template_async
from mgtr_repository.standalone import DEMO_IMAGE_BYTES, DEMO_TEMPLATE_PATH

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _command(root: Path, state: Path, port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mgtr_repository.standalone",
        "--root",
        str(root),
        "--state",
        str(state),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--advertise-host",
        "127.0.0.1",
        *extra,
    ]


@contextmanager
def standalone(root: Path, state: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """The server as a child process, until it has written its port file; SIGTERM at the end."""
    process = subprocess.Popen(
        _command(root, state, port), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (state / "port").is_file():
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}: {process.stdout.read()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no port file within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _airflow_connection(state: Path):
    """The Connection exactly as ``airflow connections import STATE/connections.json`` loads it."""
    from airflow.secrets.local_filesystem import load_connections_dict

    connections = load_connections_dict(str(state / "connections.json"))
    assert list(connections) == ["meca_mgtr"]
    return connections["meca_mgtr"]


def test_it_serves_the_demo_template_that_the_replication_can_fetch_and_extract(tmp_path: Path) -> None:
    root, state, port = tmp_path / "root", tmp_path / "state", _free_port()
    with standalone(root, state, port) as process:
        assert int((state / "port").read_text()) == port
        assert stat.S_IMODE((state / "connections.json").stat().st_mode) == 0o600
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        conn = _airflow_connection(state)
        assert (conn.conn_type, conn.host, conn.port, conn.login) == ("sftp", "127.0.0.1", port, "mgtr")
        settings = SftpSettings.from_connection(conn)
        remote = "/" + DEMO_TEMPLATE_PATH
        fetched = asyncio.run(fetch_template_async(settings, remote, tmp_path / "cache"))
        extracted = extract_image(
            fetched.volumes,
            tmp_path / "staging",
            image_name=fetched.config.image,
            expected_sha256=fetched.manifest.image_sha256,
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    expected = random.Random(2026).randbytes(DEMO_IMAGE_BYTES)
    assert extracted.sha256 == hashlib.sha256(expected).hexdigest()
    assert extracted.path.read_bytes() == expected
    assert fetched.config.os_type == "Ubuntu 22.04"  # a key of the catalog's os_types
    assert [v.name for v in fetched.volumes] == sorted(fetched.manifest.volumes)  # several 1 MiB volumes
    assert len(fetched.volumes) > 1
    assert not (state / "port").exists(), "the port file must go when the server stops"


def test_a_restart_keeps_the_keys_and_the_published_template(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    with standalone(root, state, _free_port()):
        first = json.loads((state / "connections.json").read_text())["meca_mgtr"]
        published = sorted(p.relative_to(root) for p in root.rglob("*"))
        mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    port = _free_port()
    with standalone(root, state, port):
        second = json.loads((state / "connections.json").read_text())["meca_mgtr"]
        settings = SftpSettings.from_connection(_airflow_connection(state))
    assert second["extra"] == first["extra"], "same keys after a restart: the imported Connection stays valid"
    assert second["port"] == port
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == published
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == mtimes
    assert settings.private_key is not None


def test_an_existing_repository_is_served_as_it_is(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    (root / "MGTR" / "own").mkdir(parents=True)
    with standalone(root, state, _free_port()):
        pass
    assert [p.name for p in (root / "MGTR").iterdir()] == ["own"]


def test_partial_keys_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    state.mkdir()
    (state / "client_ed25519_key").write_text("left over")
    result = subprocess.run(
        _command(root, state, _free_port()), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "only some of the MGTR keys" in result.stderr
    assert sorted(p.name for p in state.iterdir()) == ["client_ed25519_key"]
    assert not root.exists()


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            _command(tmp_path / "root", tmp_path / "state", port),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "state" / "port").exists()
