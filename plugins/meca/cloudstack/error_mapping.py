"""Turn what ``cs``, ``requests`` and ``aiohttp`` raise into the typed errors of :mod:`.errors`.

Messages are rebuilt here rather than passed through, and scrubbed of ``apiKey=``/``signature=``
values, so a signed request URL never reaches a log line or an exception.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import requests
from cs import CloudStackApiException, CloudStackException

from meca.cloudstack.errors import (
    CloudStackAuthError,
    CloudStackCapacityError,
    CloudStackError,
    CloudStackJobError,
    CloudStackParamError,
    CloudStackServerError,
    CloudStackTimeoutError,
    CloudStackUnreachableError,
)

#: What the hooks translate; anything else (a programming error) propagates unchanged.
TRANSLATED = (CloudStackException, requests.RequestException, aiohttp.ClientError, asyncio.TimeoutError)

CAPACITY_ERRORCODE = 533
CAPACITY_MARKERS = ("insufficient capacity", "unable to create a deployment")
_JOB_FAILURE = "Job failure"
_JOB_TIMEOUT = "Timeout waiting for async job result"
_SIGNED_PARAM = re.compile(r"(?i)\b(signature|apikey)=[^&\s'\"]*")


def scrub(text: str) -> str:
    """Hide the values of ``apiKey`` and ``signature`` parameters in a text (e.g. a request URL).

    :param text: any text that may contain a signed query string.
    """
    return _SIGNED_PARAM.sub(lambda m: f"{m.group(1)}=***", text)


def translate(exc: BaseException, *, region: str, command: str, endpoint: str) -> CloudStackError:
    """The typed error for an exception raised while calling CloudStack.

    :param exc: an instance of one of :data:`TRANSLATED`.
    :param region: the region name, for the message.
    :param command: the API command, for the message.
    :param endpoint: the endpoint URL (no secret in it), for network errors.
    """
    if isinstance(exc, CloudStackApiException):
        error = exc.error if isinstance(exc.error, dict) else {}
        errorcode, cserrorcode, errortext = _codes(error)
        codes: dict[str, Any] = {"cserrorcode": cserrorcode, "errortext": errortext}
        if exc.args and exc.args[0] == _JOB_FAILURE:
            job_class = _job_error_class(errorcode, errortext)
            message = f"async job failed with error {errorcode}: {errortext}"
            return job_class(region, command, message, errorcode=errorcode, **codes)
        code = errorcode if errorcode is not None else _http_status(exc.response)
        message = f"HTTP {code} {errortext}".rstrip()
        return _api_error_class(code)(region, command, message, errorcode=code, **codes)
    if isinstance(exc, CloudStackException):
        if exc.args and exc.args[0] == _JOB_TIMEOUT:
            jobid = exc.args[1] if len(exc.args) > 1 else "?"
            message = f"async job {jobid} not finished within job_timeout"
            return CloudStackTimeoutError(region, command, message)
        status = _http_status(exc.response)
        text = scrub("; ".join(str(arg) for arg in exc.args))
        error_class = CloudStackServerError if status is not None and status >= 500 else CloudStackError
        return error_class(region, command, f"unexpected answer: {text}", errorcode=status)
    if isinstance(exc, requests.Timeout | asyncio.TimeoutError):
        return CloudStackTimeoutError(region, command, f"no answer from {endpoint} in time: {_reason(exc)}")
    return CloudStackUnreachableError(region, command, f"cannot reach {endpoint}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """A scrubbed one-line description of a network error."""
    return scrub(str(exc)) or type(exc).__name__


def _http_status(response: Any) -> int | None:
    """The HTTP status of a ``requests`` or ``aiohttp`` response, if any."""
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return status if isinstance(status, int) else None


def _codes(error: dict[str, Any]) -> tuple[int | None, int | None, str]:
    """``errorcode``, ``cserrorcode`` and ``errortext`` of a CloudStack error body."""
    errorcode, cserrorcode = error.get("errorcode"), error.get("cserrorcode")
    return (
        errorcode if isinstance(errorcode, int) else None,
        cserrorcode if isinstance(cserrorcode, int) else None,
        str(error.get("errortext", "")),
    )


def _api_error_class(code: int | None) -> type[CloudStackError]:
    """The error class for a CloudStack API error answer (its HTTP status is ``errorcode``)."""
    if code == 401:
        return CloudStackAuthError
    if code in (430, 431):
        return CloudStackParamError
    if code == CAPACITY_ERRORCODE:
        return CloudStackCapacityError
    if code is not None and code >= 500:
        return CloudStackServerError
    return CloudStackError


def _job_error_class(errorcode: int | None, errortext: str) -> type[CloudStackError]:
    """The error class for an async job that ended in failure."""
    lowered = errortext.lower()
    if errorcode == CAPACITY_ERRORCODE or any(marker in lowered for marker in CAPACITY_MARKERS):
        return CloudStackCapacityError
    return CloudStackJobError
