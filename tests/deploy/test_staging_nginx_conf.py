"""``deploy/staging/nginx.conf`` (the compose ``meca-staging`` service) served by a real nginx.

Only the listening address and the root change (the compose file serves ``/srv/staging`` on port
80). The test is skipped without nginx (Debian package ``nginx-light``, see scripts/system-packages).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "deploy" / "staging" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT_S = 30.0

pytestmark = pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="nginx is not installed (nginx-light)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _main_conf(prefix: Path, server_conf: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's private folders
    temp = " ".join(
        f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{ access_log {prefix / 'access.log'}; {temp}\n"
        f"  include /etc/nginx/mime.types; default_type application/octet-stream; sendfile on;\n"
        f"  include {server_conf}; }}\n"
    )


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """nginx serving a staging folder with our server block; yields its base URL and the folder."""
    root = tmp_path / "staging"
    root.mkdir()
    port = _free_port()
    server = CONF.read_text()
    assert "    listen 80;\n" in server, "the compose file publishes port 80 of meca-staging"
    assert "    root /srv/staging;\n" in server, "the compose file mounts the staging volume there"
    server = server.replace("    listen 80;\n", f"    listen 127.0.0.1:{port};\n")
    server = server.replace("    root /srv/staging;\n", f"    root {root};\n")
    (tmp_path / "staging.conf").write_text(server)
    main = tmp_path / "nginx.conf"
    main.write_text(_main_conf(tmp_path, tmp_path / "staging.conf"))

    checked = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(main)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {process.stderr.read() if process.stderr else ''}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", root
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def test_it_serves_staged_images_and_answers_the_health_check(staging):
    base, root = staging
    image = os.urandom(300_000)
    (root / "MGTR__common__linux__Ubuntu" / "01.00.00.00").mkdir(parents=True)
    (root / "MGTR__common__linux__Ubuntu" / "01.00.00.00" / "ubuntu.qcow2").write_bytes(image)

    assert _get(f"{base}/healthz") == (200, b"ok\n")
    assert _get(f"{base}/MGTR__common__linux__Ubuntu/01.00.00.00/ubuntu.qcow2") == (200, image)


def test_it_hides_images_being_extracted_and_lists_no_folder(staging):
    base, root = staging
    partial = root / "MGTR__demo" / "01.00" / ".extract-x1y2" / "demo.qcow2"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half an image")
    (root / "MGTR__demo" / ".hidden").write_text("no")

    assert _get(f"{base}/MGTR__demo/01.00/.extract-x1y2/demo.qcow2")[0] == 404
    assert _get(f"{base}/MGTR__demo/.hidden")[0] == 404
    assert _get(f"{base}/")[0] == 404
    assert _get(f"{base}/MGTR__demo/01.00/")[0] == 404
    assert _get(f"{base}/MGTR__demo/01.00/missing.qcow2")[0] == 404
