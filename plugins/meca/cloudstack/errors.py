"""Typed CloudStack errors: every one names the region and the command, none carries a secret."""

from __future__ import annotations


class CloudStackError(Exception):
    """A CloudStack call failed. Subclasses say why; the message reads ``region R: command: what``.

    :param region: the region name.
    :param command: the API command, e.g. ``listZones``.
    :param message: what went wrong, without region or command (no secret, no signed URL).
    :param errorcode: CloudStack's ``errorcode`` (the HTTP status of an API error), when there is one.
    :param cserrorcode: CloudStack's ``cserrorcode``, when there is one.
    :param errortext: CloudStack's ``errortext``, when there is one.
    """

    def __init__(
        self,
        region: str,
        command: str,
        message: str,
        *,
        errorcode: int | None = None,
        cserrorcode: int | None = None,
        errortext: str | None = None,
    ) -> None:
        super().__init__(f"region {region}: {command}: {message}")
        self.region = region
        self.command = command
        self.errorcode = errorcode
        self.cserrorcode = cserrorcode
        self.errortext = errortext


class CloudStackAuthError(CloudStackError):
    """HTTP 401: bad API key or secret, expired signature, or a command the account may not call."""


class CloudStackParamError(CloudStackError):
    """HTTP 431 (or 430): a missing or invalid parameter."""


class CloudStackCapacityError(CloudStackError):
    """HTTP 533, or a job that failed for lack of capacity: the region cannot host the resource."""


class CloudStackJobError(CloudStackError):
    """An asynchronous job ended in failure for a reason other than capacity."""


class CloudStackUnreachableError(CloudStackError):
    """The endpoint could not be reached: connection refused, unknown host, TLS failure, reset."""


class CloudStackTimeoutError(CloudStackError):
    """No answer within the connection's ``timeout``, or a job not done within its ``job_timeout``."""


class CloudStackServerError(CloudStackError):
    """An HTTP 5xx answer (other than 533), or an answer that is not CloudStack's JSON."""
