from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netshape.process import run_shaping_proxy


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server that echoes one connection at a time until closed."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection, contextlib.suppress(OSError):
                while data := connection.recv(65536):
                    connection.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


def round_trip(port: int, payload: bytes) -> tuple[bytes, float]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        started = time.monotonic()
        client.sendall(payload)
        received = b""
        while len(received) < len(payload):
            try:
                chunk = client.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - started


def test_proxy_delays_each_direction(echo_server: int, tmp_path: Path) -> None:
    with run_shaping_proxy("127.0.0.1", echo_server, tmp_path, delay_ms=100) as proxy:
        received, seconds = round_trip(proxy.port, b"ping")

    assert received == b"ping"
    assert seconds >= 0.2
    assert proxy.stats()["bytes_down"] == 4


def test_proxy_caps_the_rate(echo_server: int, tmp_path: Path) -> None:
    payload = bytes(1_000_000)
    with run_shaping_proxy("127.0.0.1", echo_server, tmp_path, delay_ms=0, rate_mbit=16) as proxy:
        received, seconds = round_trip(proxy.port, payload)

    assert received == payload
    burst = 64 * 1024
    assert seconds >= (len(payload) - burst) / 2_000_000


def test_proxy_cuts_once_after_n_bytes(echo_server: int, tmp_path: Path) -> None:
    with run_shaping_proxy("127.0.0.1", echo_server, tmp_path, delay_ms=0, cut_after_bytes=100_000) as proxy:
        received, _ = round_trip(proxy.port, bytes(1_000_000))
        again, _ = round_trip(proxy.port, b"after the cut")

    assert 100_000 <= len(received) < 1_000_000
    assert again == b"after the cut"
    assert proxy.stats()["cuts"] == 1
