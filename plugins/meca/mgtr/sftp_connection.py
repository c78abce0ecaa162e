"""Read an Airflow ``sftp`` Connection into the settings asyncssh needs, host key verification on.

Connection fields (the ``apache-airflow-providers-sftp`` connection type): ``host``, ``port``
(default 22), ``login``, optionally ``password``; ``extra``:

- ``private_key`` (the key's text, OpenSSH or PEM) or ``key_file`` (its path); optional
  ``private_key_passphrase``;
- ``host_key``: the server's public host key, ``"ssh-ed25519 AAAA..."`` or the bare base64 blob
  (its type is read from the blob), or ``known_hosts``: known_hosts *lines* (text holding a space)
  or the path of a known_hosts file. One of the two is required;
- ``no_host_key_check``: must be absent or false: MGTR transfers always verify the host key.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncssh

CONN_TYPE = "sftp"
DEFAULT_PORT = 22


class InvalidSftpConnection(ValueError):
    """An ``sftp`` Connection that cannot be used for an MGTR transfer."""


class AirflowConnectionLike(Protocol):
    """The parts of an Airflow Connection (core or task SDK) read here."""

    conn_id: str
    host: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The decoded ``extra`` JSON."""


@dataclass(frozen=True)
class SftpSettings:
    """Where and how to reach an SFTP server. Secrets are kept out of ``repr``.

    :param host: host name or address.
    :param port: TCP port.
    :param username: the login.
    :param known_hosts: known_hosts text trusted for this server (never empty).
    :param private_key: the client key's text, or ``None`` when ``key_file`` is used.
    :param key_file: the client key's path, or ``None``.
    :param passphrase: the key's passphrase, if any.
    :param password: the password, if any.
    """

    host: str
    port: int
    username: str
    known_hosts: str
    private_key: str | None = field(default=None, repr=False)
    key_file: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`asyncssh.connect` (without transfer tuning)."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "known_hosts": asyncssh.import_known_hosts(self.known_hosts),
            "password": self.password,
            "agent_path": None,
            "config": [],
        }
        if self.private_key is not None:
            options["client_keys"] = [asyncssh.import_private_key(self.private_key, self.passphrase)]
        elif self.key_file is not None:
            options["client_keys"] = [asyncssh.read_private_key(self.key_file, self.passphrase)]
        else:
            options["client_keys"] = []
        return options

    @classmethod
    def from_connection(cls, conn: AirflowConnectionLike) -> SftpSettings:
        """Validate a Connection and read its settings.

        :param conn: an Airflow Connection of type ``sftp``.
        :raises InvalidSftpConnection: naming the connection, when a field is missing or wrong.
        """

        def fail(problem: str) -> InvalidSftpConnection:
            return InvalidSftpConnection(f"sftp connection {conn.conn_id!r}: {problem}")

        extra = conn.extra_dejson
        if not conn.host:
            raise fail("host is empty")
        if not conn.login:
            raise fail("login is empty")
        if str(extra.get("no_host_key_check", "false")).lower() == "true":
            raise fail("no_host_key_check is true; MGTR transfers always verify the server's host key")
        private_key = extra.get("private_key") or None
        key_file = extra.get("key_file") or None
        if private_key is None and key_file is None and not conn.password:
            raise fail("no credentials: set extra private_key or key_file (or a password)")
        passphrase = extra.get("private_key_passphrase") or extra.get("passphrase") or None
        port = int(conn.port or DEFAULT_PORT)
        settings = cls(
            host=conn.host,
            port=port,
            username=conn.login,
            known_hosts=_known_hosts(conn.host, port, extra, fail),
            private_key=private_key,
            key_file=key_file,
            passphrase=passphrase,
            password=conn.password or None,
        )
        try:
            settings.connect_options()
        except (asyncssh.KeyImportError, OSError, ValueError) as error:
            raise fail(f"cannot load the client key or known hosts: {error}") from error
        return settings


def host_key_line(host: str, port: int, public_key: str) -> str:
    """A known_hosts line trusting ``public_key`` for ``host:port``.

    :param host: the server's host name or address.
    :param port: its port (22 gives the bare host pattern).
    :param public_key: ``"TYPE BASE64 [comment]"`` or the bare base64 blob.
    :raises ValueError: when the key is not an SSH public key.
    """
    parts = public_key.split()
    if len(parts) == 1:
        parts = [_key_type(parts[0]), parts[0]]
    if len(parts) < 2:
        raise ValueError("the host key is empty")
    _key_type(parts[1])
    pattern = host if port == DEFAULT_PORT else f"[{host}]:{port}"
    return f"{pattern} {parts[0]} {parts[1]}"


def _key_type(blob: str) -> str:
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        key_type = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as error:
        raise ValueError(f"not an SSH public key blob: {blob[:24]}...") from error
    if not key_type or len(raw) < 4 + length:
        raise ValueError(f"not an SSH public key blob: {blob[:24]}...")
    return key_type


def _known_hosts(
    host: str, port: int, extra: dict[str, Any], fail: Callable[[str], InvalidSftpConnection]
) -> str:
    host_key = extra.get("host_key")
    known_hosts = extra.get("known_hosts")
    if host_key:
        try:
            return host_key_line(host, port, str(host_key).strip())
        except ValueError as error:
            raise fail(f"extra host_key: {error}") from error
    if known_hosts:
        text = str(known_hosts)
        if " " in text.strip():
            return text
        path = Path(text).expanduser()
        if not path.is_file():
            raise fail(f"extra known_hosts names no file: {path}")
        return path.read_text()
    raise fail("no host key: set extra host_key or known_hosts (host key verification is required)")


def load_sftp_settings(sftp_conn_id: str) -> SftpSettings:
    """The settings of an Airflow ``sftp`` Connection, read through Airflow's secrets backends.

    :param sftp_conn_id: the Connection id.
    :raises InvalidSftpConnection: when the Connection is unusable.
    """
    from airflow.sdk import BaseHook

    return SftpSettings.from_connection(BaseHook.get_connection(sftp_conn_id))
