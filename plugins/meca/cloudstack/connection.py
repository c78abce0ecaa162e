"""Read and validate a ``cloudstack`` Airflow Connection, and build the ``cs`` client it describes.

Connection fields: ``host`` is the endpoint URL (``http://127.0.0.1:8101/client/api``), or a bare
host from which ``{schema or https}://host[:port]/client/api`` is built; ``login`` is the API key;
``password`` is the secret key; ``extra`` holds the region description (see
:meth:`meca.regions.Region.from_extra`) and the client settings ``verify`` (TLS verification, a
boolean or the path of a CA bundle; default true), ``timeout`` (seconds per HTTP request, default
30), ``poll_interval`` (seconds between job polls, default 2) and ``job_timeout`` (seconds, default 600).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from cs import CloudStack

from meca.regions import InvalidRegionConnection, Region

CONN_TYPE = "cloudstack"
API_PATH = "/client/api"
DEFAULT_SCHEME = "https"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_POLL_INTERVAL_S = 2.0
DEFAULT_JOB_TIMEOUT_S = 600.0

ClientT = TypeVar("ClientT", bound=CloudStack)
Fail = Callable[[str], InvalidRegionConnection]


class AirflowConnectionLike(Protocol):
    """The parts of an Airflow Connection (core or task SDK) read here."""

    conn_id: str
    host: str | None
    schema: str | None
    port: int | None
    login: str | None
    password: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """The decoded ``extra`` JSON."""


@dataclass(frozen=True)
class CloudStackSettings:
    """Everything needed to call one region. The secret key is kept out of ``repr``.

    :param region: the region described by the Connection.
    :param endpoint: the API endpoint URL.
    :param api_key: the API key.
    :param secret_key: the secret key.
    :param verify: TLS verification: a boolean or the path of a CA bundle.
    :param timeout: seconds to wait for each HTTP answer.
    :param poll_interval: seconds between two polls of an async job.
    :param job_timeout: seconds to wait for an async job.
    """

    region: Region
    endpoint: str
    api_key: str
    secret_key: str = field(repr=False)
    verify: bool | str = True
    timeout: float = DEFAULT_TIMEOUT_S
    poll_interval: float = DEFAULT_POLL_INTERVAL_S
    job_timeout: float = DEFAULT_JOB_TIMEOUT_S

    @classmethod
    def from_connection(cls, conn: AirflowConnectionLike) -> CloudStackSettings:
        """Validate a Connection and read its settings.

        :param conn: an Airflow Connection of type ``cloudstack``.
        :raises InvalidRegionConnection: naming the connection, when a field is missing or wrong.
        """

        def fail(problem: str) -> InvalidRegionConnection:
            return InvalidRegionConnection(f"connection {conn.conn_id!r}: {problem}")

        if not conn.host:
            raise fail("'host' (the endpoint URL, e.g. https://cloud.example.org/client/api) is empty")
        if not conn.login:
            raise fail("'login' (the CloudStack API key) is empty")
        if not conn.password:
            raise fail("'password' (the CloudStack secret key) is empty")
        extra = conn.extra_dejson
        verify = extra.get("verify", True)
        if not isinstance(verify, bool | str) or verify == "":
            raise fail(f"extra 'verify' must be true, false or a CA bundle path (got {verify!r})")
        return cls(
            region=Region.from_extra(conn.conn_id, extra),
            endpoint=_endpoint(conn, fail),
            api_key=conn.login,
            secret_key=conn.password,
            verify=verify,
            timeout=_seconds(extra, "timeout", DEFAULT_TIMEOUT_S, fail),
            poll_interval=_seconds(extra, "poll_interval", DEFAULT_POLL_INTERVAL_S, fail),
            job_timeout=_seconds(extra, "job_timeout", DEFAULT_JOB_TIMEOUT_S, fail),
        )

    def client(self, client_class: type[ClientT]) -> ClientT:
        """A ``cs`` client (``CloudStack`` or ``AIOCloudStack``) for this region.

        Requests are POSTed so that neither the API key nor the signature appear in a URL (URLs end
        up in library debug logs and exception messages).

        :param client_class: ``cs.CloudStack`` or ``cs.AIOCloudStack``.
        """
        client = client_class(
            endpoint=self.endpoint,
            key=self.api_key,
            secret=self.secret_key,
            method="post",
            # cs treats any false ``verify`` as "verify"; switching it off has its own flag.
            verify=self.verify or None,
            dangerous_no_tls_verify=self.verify is False,
            poll_interval=self.poll_interval,
            name=self.region.name,
        )
        # cs truncates both to whole seconds in __init__; sub-second values are legitimate.
        client.timeout = self.timeout  # type: ignore[assignment]
        client.job_timeout = self.job_timeout  # type: ignore[assignment]
        return client


def _endpoint(conn: AirflowConnectionLike, fail: Fail) -> str:
    """The endpoint URL: ``host`` when it is a URL, else built from schema, host and port."""
    host = (conn.host or "").strip()
    if "://" in host:
        scheme = host.split("://", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise fail(f"'host' must be an http or https URL (got scheme {scheme!r})")
        return host
    scheme = (conn.schema or DEFAULT_SCHEME).lower()
    if scheme not in ("http", "https"):
        raise fail(f"'schema' must be http or https for a bare host (got {conn.schema!r})")
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}{API_PATH}"


def _seconds(extra: dict[str, Any], key: str, default: float, fail: Fail) -> float:
    """A positive number of seconds from ``extra``, or the default."""
    value = extra.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise fail(f"extra {key!r} must be a positive number of seconds (got {value!r})")
    return float(value)
