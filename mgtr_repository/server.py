"""Run a local MGTR: a real SFTP server on loopback serving a repository folder, as a child process.

:func:`run_mgtr_server` starts OpenSSH's ``sshd`` (own config, port, host key and authorized key;
``sshd -D -e -f CONFIG``; SFTP only, ``internal-sftp``) when ``/usr/sbin/sshd`` exists, else the
asyncssh server of :mod:`mgtr_repository.asyncssh_server` (chrooted to the root). The handle gives
what a client needs: address, login, private key, the known_hosts line, and the remote path of the
repository root (sshd serves real paths; the asyncssh server serves the root as ``/``).
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import asyncssh

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
Backend = Literal["auto", "openssh", "asyncssh"]


@dataclass(frozen=True)
class MgtrServerHandle:
    """A running local MGTR server.

    :param backend: ``"openssh"`` or ``"asyncssh"``.
    :param host: the loopback address.
    :param port: the TCP port.
    :param username: the login.
    :param private_key_path: the client's private key (OpenSSH format, no passphrase).
    :param host_public_key: the server's public host key, ``"ssh-ed25519 AAAA..."``.
    :param root: the repository folder served.
    :param remote_root: the remote path of ``root`` on this server.
    """

    backend: str
    host: str
    port: int
    username: str
    private_key_path: Path
    host_public_key: str
    root: Path
    remote_root: str

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line trusting this server."""
        return f"[{self.host}]:{self.port} {self.host_public_key}"

    def remote_path(self, relative: str) -> str:
        """The remote path of ``root / relative``.

        :param relative: a path inside the repository, e.g. ``MGTR/linux/CentOS/01.00``.
        """
        return posixpath.join(self.remote_root, relative.strip("/"))

    def connection(self, **overrides: Any) -> dict[str, Any]:
        """An Airflow ``sftp`` Connection (as the JSON mapping Airflow accepts) for this server.

        :param overrides: extra entries to set or replace (e.g. a wrong ``host_key`` for a test).
        """
        extra = {"key_file": str(self.private_key_path), "host_key": self.host_public_key}
        extra.update(overrides)
        return {
            "conn_type": "sftp",
            "host": self.host,
            "port": self.port,
            "login": self.username,
            "extra": extra,
        }

    def connection_env(self, conn_id: str, **overrides: Any) -> dict[str, str]:
        """The environment variable defining :meth:`connection` as ``conn_id``.

        :param conn_id: the Connection id.
        :param overrides: see :meth:`connection`.
        """
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(self.connection(**overrides))}


def openssh_available() -> bool:
    """Whether OpenSSH's sshd is installed."""
    return SSHD.is_file() and os.access(SSHD, os.X_OK)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def write_keys(workdir: Path) -> tuple[Path, Path, Path, str]:
    """Make a new host key and client key in ``workdir`` (mode 0600) and the client's authorized_keys.

    :return: (host key file, client key file, authorized_keys file, ``"ssh-ed25519 AAAA..."`` of the host).
    """
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519", comment="mgtr-client")
    host_key_path = workdir / "ssh_host_ed25519_key"
    client_key_path = workdir / "client_ed25519_key"
    authorized_keys = workdir / "authorized_keys"
    for key, path in ((host_key, host_key_path), (client_key, client_key_path)):
        path.write_bytes(key.export_private_key("openssh"))
        path.chmod(0o600)
    authorized_keys.write_bytes(client_key.export_public_key("openssh"))
    host_public = host_key.export_public_key("openssh").decode().split()
    return host_key_path, client_key_path, authorized_keys, " ".join(host_public[:2])


def _sshd_config(workdir: Path, port: int, host_key: Path, authorized_keys: Path) -> Path:
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {HOST}:{port}",
                f"HostKey {host_key}",
                f"PidFile {workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {authorized_keys}",
                "StrictModes no",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "AllowTcpForwarding no",
                "AllowAgentForwarding no",
                "X11Forwarding no",
                "PermitTTY no",
                "MaxStartups 64",
                "MaxSessions 64",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    return config


def _exited(process: subprocess.Popen[bytes], log: Path) -> RuntimeError:
    return RuntimeError(f"the SFTP server exited with code {process.returncode}: {log.read_text()[-2000:]}")


def _wait_for_banner(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _exited(process, log)
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1) as probe:
            if probe.recv(8).startswith(b"SSH-"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"the SFTP server did not answer on {HOST}:{port} within {START_TIMEOUT_S:.0f} s")


def _wait_for_port_file(process: subprocess.Popen[bytes], port_file: Path, log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if port_file.is_file():
            return int(port_file.read_text())
        if process.poll() is not None:
            raise _exited(process, log)
        time.sleep(0.05)
    raise RuntimeError(f"the SFTP server wrote no port within {START_TIMEOUT_S:.0f} s")


@contextlib.contextmanager
def run_mgtr_server(root: Path, workdir: Path, *, backend: Backend = "auto") -> Iterator[MgtrServerHandle]:
    """Serve ``root`` over SFTP on loopback until the ``with`` block ends; the process is then stopped.

    :param root: the repository folder to serve.
    :param workdir: a folder for keys, config and logs (created).
    :param backend: ``"openssh"``, ``"asyncssh"`` or ``"auto"`` (sshd when installed).
    :raises RuntimeError: when the server does not start (its log is quoted).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    if backend == "auto":
        backend = "openssh" if openssh_available() else "asyncssh"
    if backend == "openssh" and not openssh_available():
        raise RuntimeError(f"{SSHD} is not installed (Debian package openssh-server)")
    host_key, client_key, authorized_keys, host_public = write_keys(workdir)
    log = workdir / f"{backend}.log"
    with log.open("wb") as log_file:
        if backend == "openssh":
            if os.geteuid() == 0:
                PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
            port = _free_port()
            config = _sshd_config(workdir, port, host_key, authorized_keys)
            command = [str(SSHD), "-D", "-e", "-f", str(config)]
            process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        else:
            port_file = workdir / "port"
            port_file.unlink(missing_ok=True)
            command = [sys.executable, "-m", "mgtr_repository.asyncssh_server", "--root", str(root)]
            command += ["--host-key", str(host_key), "--authorized-keys", str(authorized_keys)]
            command += ["--port-file", str(port_file)]
            process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parents[1],
            )
    try:
        if backend == "openssh":
            _wait_for_banner(process, port, log)
            username, remote_root = pwd.getpwuid(os.geteuid()).pw_name, str(root)
        else:
            port = _wait_for_port_file(process, port_file, log)
            username, remote_root = "mgtr", "/"
        yield MgtrServerHandle(
            backend=backend,
            host=HOST,
            port=port,
            username=username,
            private_key_path=client_key,
            host_public_key=host_public,
            root=root,
            remote_root=remote_root,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
