from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh
import pytest

from meca.mgtr.sftp_connection import SftpSettings
from mgtr_repository.server import openssh_available, run_mgtr_server


async def list_and_escape(settings: SftpSettings, folder: str, escape: str) -> tuple[list[str], bool]:
    async with (
        asyncssh.connect(**settings.connect_options()) as connection,
        connection.start_sftp_client() as sftp,
    ):
        names = sorted(str(name) for name in await sftp.listdir(folder))
        return names, await sftp.exists(escape)


@pytest.mark.parametrize("backend", ["openssh", "asyncssh"])
def test_server_serves_the_repository(tmp_path: Path, backend: str) -> None:
    if backend == "openssh" and not openssh_available():
        pytest.skip("OpenSSH's sshd is not installed (Debian package openssh-server)")
    root = tmp_path / "root"
    (root / "MGTR").mkdir(parents=True)
    (root / "MGTR" / "a.txt").write_text("a")
    (tmp_path / "secret").write_text("outside")

    with run_mgtr_server(root, tmp_path / "work", backend=backend) as server:
        settings = SftpSettings(
            host=server.host,
            port=server.port,
            username=server.username,
            known_hosts=server.known_hosts_line,
            key_file=str(server.private_key_path),
        )
        names, escaped = asyncio.run(
            list_and_escape(settings, server.remote_path("MGTR"), f"{server.remote_root}/../secret")
        )

    assert server.backend == backend
    assert "a.txt" in names
    assert escaped is (backend == "openssh"), "only the asyncssh server is chrooted; sshd serves real paths"
