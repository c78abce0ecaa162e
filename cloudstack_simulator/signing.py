r"""CloudStack request signing with the Java management server's exact semantics.

The server (``ApiServer.verifyRequest``) takes every received parameter except ``signature``, sorts
the names case-sensitively, joins ``name=URLEncoder.encode(value).replaceAll("\\+", "%20")`` with
``&``, lower-cases the whole string and compares the Base64 HMAC-SHA1 of it, under the user's
secret key, with the received signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

#: Characters Java's ``URLEncoder`` leaves as they are (Python's ``quote`` also keeps ``~``).
_JAVA_UNRESERVED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.*_-"
_SIGNATURE = "signature"
_SIGNATURE_VERSION = "signatureversion"
_EXPIRES = "expires"
_EXPIRES_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class SignatureError(Exception):
    """A request whose signature (or signature metadata) does not verify; the reason is the message."""


def java_url_encode(value: str) -> str:
    r"""Encode like ``URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")``.

    :param value: the decoded parameter value.
    :return: ``[A-Za-z0-9.*_-]`` kept, a space as ``%20``, every other UTF-8 byte as ``%XX``.
    """
    return quote(value, safe="*", encoding="utf-8").replace("~", "%7E")


def string_to_sign(params: Mapping[str, str]) -> str:
    """The lower-cased string CloudStack signs.

    :param params: every request parameter, decoded; ``signature`` (any case) is left out.
    """
    names = sorted(name for name in params if name.lower() != _SIGNATURE)
    return "&".join(f"{name}={java_url_encode(params[name])}" for name in names).lower()


def sign(params: Mapping[str, str], secret_key: str) -> str:
    """The Base64 HMAC-SHA1 signature of a request.

    :param params: every request parameter, decoded (``signature`` is ignored if present).
    :param secret_key: the user's secret key.
    """
    digest = hmac.new(secret_key.encode("utf-8"), string_to_sign(params).encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def parse_expires(value: str) -> datetime:
    """Parse an ``expires`` value such as ``2026-05-01T12:00:00+0000`` (``Z`` and ``+00:00`` also accepted).

    :raises SignatureError: when the value is not such a timestamp.
    """
    try:
        return datetime.strptime(value.strip(), _EXPIRES_FORMAT)
    except ValueError:
        raise SignatureError(f"expires {value!r} is not a timestamp like 2026-05-01T12:00:00+0000") from None


def verify(params: Mapping[str, str], secret_key: str, now: datetime) -> None:
    """Check a request's signature and, for ``signatureVersion=3``, its ``expires`` time.

    :param params: every request parameter, decoded, including ``signature``.
    :param secret_key: the secret key of the user whose ``apiKey`` the request names.
    :param now: the current time (timezone-aware).
    :raises SignatureError: when the signature is missing or wrong, or a version 3 request has a
        missing, malformed or past ``expires``.
    """
    by_lower = {name.lower(): value for name, value in params.items()}
    received = by_lower.get(_SIGNATURE)
    if not received:
        raise SignatureError("missing signature")
    if by_lower.get(_SIGNATURE_VERSION) == "3":
        expires = by_lower.get(_EXPIRES)
        if expires is None:
            raise SignatureError("signatureVersion=3 without expires")
        if parse_expires(expires) < now:
            raise SignatureError(f"request expired at {expires}")
    if not hmac.compare_digest(received.encode("utf-8"), sign(params, secret_key).encode("utf-8")):
        raise SignatureError("signature does not match")
