"""An asyncio TCP proxy that delays every byte by a fixed one-way time and can cap the bandwidth.

Each direction of each connection is a pipe: a reader stamps each chunk with its arrival time and
queues it (at most ``buffer_bytes`` queued, then it stops reading: TCP backpressure), a writer
sends it ``delay_s`` later, through a token bucket shared by all connections of that direction
(the link's rate). 50 ms each way gives a 100 ms round trip. ``cut_after_bytes`` closes every open
connection once that many bytes went from the target to the clients (once; later connections pass).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import asdict, dataclass, field

from meca.mgtr.bandwidth import TokenBucket

CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    """Counters of a proxy's life.

    :param connections: connections accepted.
    :param bytes_down: bytes sent from the target to the clients.
    :param bytes_up: bytes sent from the clients to the target.
    :param cuts: times ``cut_after_bytes`` closed the open connections.
    """

    connections: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    cuts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a mapping."""
        return asdict(self)


@dataclass
class ShapingProxy:
    """Forwards ``listen`` → ``target`` with a one-way delay and an optional rate cap.

    :param target_host: the server's host.
    :param target_port: the server's port.
    :param delay_s: one-way delay in seconds, applied in both directions.
    :param rate_bytes_s: the link's rate per direction in bytes per second, ``None`` for no cap.
    :param buffer_bytes: bytes queued per direction of a connection before reading pauses.
    :param cut_after_bytes: close the open connections once this many bytes went downstream.
    """

    target_host: str
    target_port: int
    delay_s: float = 0.05
    rate_bytes_s: float | None = None
    buffer_bytes: int = 8 * 1024 * 1024
    cut_after_bytes: int | None = None
    stats: ProxyStats = field(default_factory=ProxyStats)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    buckets: dict[str, TokenBucket | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for direction in ("down", "up"):
            self.buckets[direction] = (
                None
                if self.rate_bytes_s is None
                else TokenBucket(self.rate_bytes_s, burst=max(float(CHUNK), self.rate_bytes_s / 100))
            )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
        """Listen for clients.

        :param host: the address to bind.
        :param port: the port (0: any free one).
        """
        return await asyncio.start_server(self._handle, host, port)

    def count_sent(self, direction: str, count: int) -> None:
        """Count bytes sent in one direction; cut the connections when the threshold is crossed."""
        if direction == "up":
            self.stats.bytes_up += count
            return
        self.stats.bytes_down += count
        if self.cut_after_bytes is not None and self.stats.bytes_down >= self.cut_after_bytes:
            self.cut_after_bytes = None
            self.stats.cuts += 1
            for writer in list(self._writers):
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        pipe = _DelayedPipe(self.delay_s, self.buffer_bytes)
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.gather(pipe.read_from(reader), pipe.write_to(writer, self, direction))

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer, "up"),
                self._pipe(server_reader, client_writer, "down"),
            )
        finally:
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                writer.transport.abort()


class _DelayedPipe:
    """One direction of one connection: chunks queued with their due time, sent when due."""

    def __init__(self, delay_s: float, buffer_bytes: int) -> None:
        self.delay_s = delay_s
        self.buffer_bytes = buffer_bytes
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.queued = 0
        self.done = False
        self.changed = asyncio.Condition()

    async def read_from(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(CHUNK):
                async with self.changed:
                    await self.changed.wait_for(lambda: self.queued < self.buffer_bytes)
                    self.queue.append((time.monotonic() + self.delay_s, data))
                    self.queued += len(data)
                    self.changed.notify_all()
        finally:
            async with self.changed:
                self.done = True
                self.changed.notify_all()

    async def write_to(self, writer: asyncio.StreamWriter, proxy: ShapingProxy, direction: str) -> None:
        bucket = proxy.buckets[direction]
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda: bool(self.queue) or self.done)
                if not self.queue:
                    break
                due, data = self.queue.popleft()
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if bucket is not None:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
            proxy.count_sent(direction, len(data))
            async with self.changed:
                self.queued -= len(data)
                self.changed.notify_all()
        if writer.can_write_eof():
            writer.write_eof()
