"""Publish staged images over HTTP, where the regions' secondary storage downloads them.

The staging location is an Airflow Connection (default id ``meca_staging_http``, type ``http``):
``host`` is the base URL the regions use (``http://staging.example.org:8000/images``, or a bare
host with ``schema``, ``port`` and an optional path in ``extra.path``); ``extra.root`` is the
local folder that URL serves (the replication writes images there); ``extra.cache`` is the
folder holding the MGTR download cache. Any web server may serve ``root``; the demo and the tests
use :func:`serve_staging`, a small threaded HTTP server.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import quote

log = logging.getLogger(__name__)


class InvalidStagingConnection(ValueError):
    """The staging Connection does not say where images go or how regions reach them."""


class AirflowConnectionLike(Protocol):
    """The parts of an Airflow Connection read here."""

    conn_id: str
    host: str | None
    schema: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The decoded ``extra`` JSON."""


@dataclass(frozen=True)
class StagingSettings:
    """Where staged images are written and the URL regions download them from.

    :param root: the local folder served over HTTP.
    :param base_url: the URL of ``root``, ending with ``/``.
    :param cache: the local folder of the MGTR download cache.
    """

    root: Path
    base_url: str
    cache: Path

    def url_of(self, path: Path) -> str:
        """The download URL of a file inside :attr:`root`.

        :raises ValueError: when ``path`` is not inside the staging root.
        """
        relative = PurePosixPath(path.resolve().relative_to(self.root.resolve()).as_posix())
        return self.base_url + quote(str(relative))

    @classmethod
    def from_connection(cls, conn: AirflowConnectionLike) -> StagingSettings:
        """Read the staging Connection.

        :raises InvalidStagingConnection: naming the Connection, when a field is missing.
        """

        def fail(problem: str) -> InvalidStagingConnection:
            return InvalidStagingConnection(f"staging connection {conn.conn_id!r}: {problem}")

        extra = conn.extra_dejson
        if not conn.host:
            raise fail("host (the base URL regions download images from) is empty")
        for key in ("root", "cache"):
            if not isinstance(extra.get(key), str) or not extra[key]:
                raise fail(f"extra {key!r} (a local folder) is missing")
        if "://" in conn.host:
            base = conn.host
        else:
            port = f":{conn.port}" if conn.port else ""
            base = f"{conn.schema or 'http'}://{conn.host}{port}/{str(extra.get('path', '')).strip('/')}"
        if not base.startswith(("http://", "https://")):
            raise fail(f"the base URL must be http or https, got {base!r}")
        return cls(root=Path(extra["root"]), base_url=base.rstrip("/") + "/", cache=Path(extra["cache"]))


def load_staging_settings(conn_id: str) -> StagingSettings:
    """The staging settings of an Airflow Connection, read now.

    :raises InvalidStagingConnection: when the Connection is unusable.
    """
    from airflow.sdk import BaseHook

    return StagingSettings.from_connection(BaseHook.get_connection(conn_id))


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files; logs each request at DEBUG instead of printing it."""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("staging http %s: " + format, self.client_address[0], *args)


@dataclass(frozen=True)
class StagingServer:
    """A running staging HTTP server.

    :param root: the folder it serves.
    :param base_url: its URL, ending with ``/``.
    """

    root: Path
    base_url: str


@contextmanager
def serve_staging(root: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[StagingServer]:
    """Serve ``root`` over HTTP in a background thread until the block ends.

    :param root: the folder to serve (created if needed).
    :param host: the address to bind.
    :param port: the port, ``0`` for a free one.
    """
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="staging-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    try:
        yield StagingServer(root=root, base_url=f"http://{bound_host}:{bound_port}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
