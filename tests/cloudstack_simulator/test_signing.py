from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from cloudstack_simulator.signing import SignatureError, java_url_encode, sign, string_to_sign, verify

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
DEPLOY = {
    "command": "deployVirtualMachine",
    "name": "fred",
    "displayname": "George",
    "serviceofferingid": "5",
    "templateid": "17",
    "zoneid": "23",
    "networkids": "42",
}

# Known answers: ngine-io/cs tests (key foo, secret bar) and Apache Libcloud tests (fnord, abracadabra).
VECTORS = [
    ("foo", "bar", {"command": "listVirtualMachines", "listall": "true"}, "B0d6hBsZTcFVCiioSxzwKA9Pke8="),
    (
        "foo",
        "bar",
        {
            "command": "listVirtualMachines",
            "zoneId": "2",
            "templateId": "3",
            "temPlateidd": "4",
            "pageSize": "10",
            "page": "1",
        },
        "mMS7XALuGkCXk7kj5SywySku0Z0=",
    ),
    (
        "foo",
        "bar",
        {"command": "listVirtualMachines", "listall": "1", "unicode_param": "éèààû"},
        "gABU/KFJKD3FLAgKDuxQoryu4sA=",
    ),
    (
        "foo",
        "bar",
        {
            "command": "listVirtualMachines",
            "foo": "foo,bar",
            "bar[0].baz": "blah",
            "bar[0].foo": "1000",
            "bytes_param": "blah",
        },
        "ImJ/5F0P2RDL7yn4LdLnGcEx5WE=",
    ),
    ("fnord", "abracadabra", {"command": "listVirtualMachines"}, "z/a9Y7J52u48VpqIgiwaGUMCso0="),
    ("fnord", "abracadabra", DEPLOY, "gHTo7mYmadZ+zluKHzlEKb1i/QU="),
    ("fnord", "abracadabra", {**DEPLOY, "displayname": "George+Ringo"}, "tAgfrreI1ZvWlWLClD3gu4+aKv4="),
]


@pytest.mark.parametrize(("key", "secret", "params", "expected"), VECTORS)
def test_known_answer_vectors(key: str, secret: str, params: dict[str, str], expected: str) -> None:
    full = {"apiKey": key, "response": "json", **params}
    assert sign(full, secret) == expected
    verify({**full, "signature": expected}, secret, NOW)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a~b", "a%7Eb"),
        ("A-z_0.9*", "A-z_0.9*"),
        ("x/y?z=&", "x%2Fy%3Fz%3D%26"),
        ("é", "%C3%A9"),
        ("'!()", "%27%21%28%29"),
    ],
)
def test_java_url_encode(value: str, encoded: str) -> None:
    assert java_url_encode(value) == encoded


def test_string_to_sign_sorts_case_sensitively_skips_signature_and_lowercases() -> None:
    params = {"b": "X Y", "Z": "1", "a": "2", "Signature": "ignored"}
    assert string_to_sign(params) == "z=1&a=2&b=x%20y"


def test_tilde_signed_the_cs_way_is_refused_like_the_real_server() -> None:
    params = {"apiKey": "foo", "command": "listZones", "response": "json", "name": "a~b"}
    cs_style = "&".join(f"{k}={quote(params[k], safe='*')}" for k in sorted(params)).lower()
    assert "a~b" in cs_style
    assert cs_style != string_to_sign(params)
    cs_signature = base64.b64encode(hmac.new(b"bar", cs_style.encode(), hashlib.sha1).digest()).decode()
    with pytest.raises(SignatureError, match="does not match"):
        verify({**params, "signature": cs_signature}, "bar", NOW)
    verify({**params, "signature": sign(params, "bar")}, "bar", NOW)


def test_wrong_secret_and_missing_signature_are_refused() -> None:
    params = {"apiKey": "foo", "command": "listZones", "response": "json"}
    with pytest.raises(SignatureError, match="does not match"):
        verify({**params, "signature": sign(params, "other")}, "bar", NOW)
    with pytest.raises(SignatureError, match="missing signature"):
        verify(params, "bar", NOW)


def test_a_tampered_value_is_refused() -> None:
    params = {"apiKey": "foo", "command": "listZones", "response": "json", "id": "1"}
    signature = sign(params, "bar")
    with pytest.raises(SignatureError):
        verify({**params, "id": "2", "signature": signature}, "bar", NOW)


@pytest.mark.parametrize("suffix", ["+0000", "Z", "+00:00"])
def test_version_3_accepts_a_future_expiry_in_every_utc_spelling(suffix: str) -> None:
    expires = (NOW + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S") + suffix
    params = {"apiKey": "foo", "command": "listZones", "signatureVersion": "3", "expires": expires}
    verify({**params, "signature": sign(params, "bar")}, "bar", NOW)


def test_version_3_refuses_a_past_expiry_a_missing_one_and_a_malformed_one() -> None:
    base = {"apiKey": "foo", "command": "listZones", "signatureVersion": "3"}
    past = {**base, "expires": (NOW - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+0000")}
    with pytest.raises(SignatureError, match="expired"):
        verify({**past, "signature": sign(past, "bar")}, "bar", NOW)
    with pytest.raises(SignatureError, match="without expires"):
        verify({**base, "signature": sign(base, "bar")}, "bar", NOW)
    malformed = {**base, "expires": "tomorrow"}
    with pytest.raises(SignatureError, match="not a timestamp"):
        verify({**malformed, "signature": sign(malformed, "bar")}, "bar", NOW)


def test_expires_is_ignored_without_version_3() -> None:
    params = {"apiKey": "foo", "command": "listZones", "expires": "2000-01-01T00:00:00+0000"}
    verify({**params, "signature": sign(params, "bar")}, "bar", NOW)
