"""The ``verify`` extra reaches TLS for real: a self-signed HTTPS endpoint, both hooks."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meca.cloudstack.async_hook import CloudStackAsyncHook
from meca.cloudstack.errors import CloudStackUnreachableError
from meca.cloudstack.hook import CloudStackHook

ZONES = {"listzonesresponse": {"count": 1, "zone": [{"id": "z1", "name": "tls-z1"}]}}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _ZonesHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(ZONES).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def tls_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``(endpoint URL, CA bundle path)`` of an HTTPS server with a self-signed certificate."""
    cert_path, key_path = _self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ZonesHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/client/api", cert_path
    server.shutdown()
    server.server_close()
    thread.join()


def _connection(monkeypatch: pytest.MonkeyPatch, endpoint: str, verify: Any) -> str:
    extra: dict[str, Any] = {
        "region_name": "tls",
        "region_id": 7,
        "location": {"lat": 1, "lon": 2},
        "timeout": 5,
    }
    if verify is not None:
        extra["verify"] = verify
    conn = {
        "conn_type": "cloudstack",
        "host": endpoint,
        "login": "k",
        "password": "tls-secret-key",
        "extra": extra,
    }
    monkeypatch.setenv("AIRFLOW_CONN_CLOUDSTACK_TLS", json.dumps(conn))
    return "cloudstack_tls"


def test_verification_is_on_by_default(tls_endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = _connection(monkeypatch, tls_endpoint[0], verify=None)
    with pytest.raises(CloudStackUnreachableError, match="CERTIFICATE_VERIFY_FAILED"):
        CloudStackHook(cloudstack_conn_id=conn_id).call("listZones")
    with pytest.raises(CloudStackUnreachableError, match=r"(?i)certificate"):
        asyncio.run(CloudStackAsyncHook(cloudstack_conn_id=conn_id).call("listZones"))


@pytest.mark.parametrize("verify", ["off", "ca-bundle"])
def test_verify_off_or_ca_bundle_connects(tls_endpoint, monkeypatch: pytest.MonkeyPatch, verify: str) -> None:
    endpoint, ca_bundle = tls_endpoint
    conn_id = _connection(monkeypatch, endpoint, verify=False if verify == "off" else str(ca_bundle))
    assert CloudStackHook(cloudstack_conn_id=conn_id).list("listZones") == ZONES["listzonesresponse"]["zone"]
    assert asyncio.run(CloudStackAsyncHook(cloudstack_conn_id=conn_id).list("listZones")) == [
        {"id": "z1", "name": "tls-z1"}
    ]
