"""Fetch one MGTR template folder: volumes in parallel over several SSH connections, resumable, verified.

Each SSH connection fetches whole volumes from a shared queue (one SSH channel's window caps a
single stream on a long link, so parallel connections add up). A volume is read with asyncssh's
``read_parallel`` from the end of its ``partial/`` file, blocks are written in order (so a partial
file is always a contiguous prefix and survives a cut), then verified: SHA-256 and size against
``manifest.json`` when the folder has one, else the size from ``stat`` (the 7z CRCs are checked on
extraction). Only then is it renamed into ``volumes/``. Failures are retried with exponential
backoff; a checksum mismatch deletes the partial file and fetches the volume again. See
``docs/mgtr.md`` and :mod:`meca.mgtr.cache` for the cache layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from meca.mgtr.bandwidth import TokenBucket
from meca.mgtr.cache import FinishedVolume, PartialVolume, TemplateCache, template_cache_dir
from meca.mgtr.errors import HostKeyRejected, TemplateFetchError, VolumeFetchError
from meca.mgtr.layout import (
    CONFIG_NAME,
    MANIFEST_NAME,
    Manifest,
    TemplateConfig,
    check_volume_set,
    parse_config_ini,
    parse_manifest,
)
from meca.mgtr.progress import ProgressMeter, TransferProgress, log_progress
from meca.mgtr.remote_folder import RemoteFile, RemoteTemplate, check_plain_name, read_remote_template
from meca.mgtr.sftp_connection import SftpSettings, load_sftp_settings

log = logging.getLogger(__name__)

SSH_WINDOW = 16 * 1024 * 1024
MAX_BLOCK_SIZE = 256 * 1024
MAX_REQUESTS = 64
CONNECT_TIMEOUT_S = 60.0
KEEPALIVE_INTERVAL_S = 15.0
KEEPALIVE_COUNT_MAX = 4
PROGRESS_INTERVAL_S = 5.0
HASH_CHUNK = 1024 * 1024
RETRYABLE = (asyncssh.SFTPError, asyncssh.DisconnectError, asyncssh.ChannelOpenError, OSError)
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


@dataclass
class FetchResult:
    """A fetched, verified template folder in the local cache.

    :param local_dir: the template's cache folder (holds ``config.ini``, ``manifest.json``, ``volumes/``).
    :param volumes: the verified volumes, in numeric order (all in ``local_dir / "volumes"``).
    :param bytes_fetched: bytes received over the wire in this run (volumes only; retries included).
    :param bytes_reused: volume bytes not fetched in this run (cached volumes and resumed prefixes).
    :param seconds: wall time of the fetch.
    :param config: the template's ``config.ini``.
    :param manifest: the template's ``manifest.json``, ``None`` when the folder has none.
    """

    local_dir: Path
    volumes: list[Path]
    bytes_fetched: int
    bytes_reused: int
    seconds: float
    config: TemplateConfig
    manifest: Manifest | None


@dataclass
class _Plan:
    remote_dir: str
    cache: TemplateCache
    volumes: list[RemoteFile]
    manifest: Manifest | None
    to_fetch: list[RemoteFile]


class _ChecksumMismatch(Exception):
    """A fetched volume does not match the manifest (its partial file is already deleted)."""


class _Link:
    """One SSH connection and its SFTP client, (re)opened on demand."""

    def __init__(self, settings: SftpSettings, where: str) -> None:
        self._settings = settings
        self._where = where
        self._connection: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._lock = asyncio.Lock()

    async def warm_up(self) -> None:
        """Connect ahead of use; a failure here is met again (and handled) at the first real use."""
        with contextlib.suppress(Exception):
            await self.sftp()

    async def sftp(self) -> asyncssh.SFTPClient:
        async with self._lock:
            return await self._open()

    async def _open(self) -> asyncssh.SFTPClient:
        if self._sftp is None:
            options: dict[str, Any] = self._settings.connect_options()
            target = f"{self._settings.host}:{self._settings.port}"
            try:
                self._connection = await asyncio.wait_for(
                    asyncssh.connect(
                        **options,
                        window=SSH_WINDOW,
                        encryption_algs=list(PREFERRED_CIPHERS),
                        keepalive_interval=KEEPALIVE_INTERVAL_S,
                        keepalive_count_max=KEEPALIVE_COUNT_MAX,
                    ),
                    CONNECT_TIMEOUT_S,
                )
            except asyncssh.HostKeyNotVerifiable as error:
                raise HostKeyRejected(
                    f"{self._where}: the host key of the SFTP server {target} is not the one the connection "
                    f"trusts (extra host_key / known_hosts): {error.reason}; refusing to connect"
                ) from error
            except asyncssh.PermissionDenied as error:
                raise TemplateFetchError(
                    f"{self._where}: the SFTP server {target} refused login {self._settings.username!r}"
                ) from error
            self._sftp = await self._connection.start_sftp_client()
        return self._sftp

    async def close(self) -> None:
        connection, self._connection, self._sftp = self._connection, None, None
        if connection is not None:
            connection.close()
            await connection.wait_closed()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _plan(remote: RemoteTemplate, cache: TemplateCache) -> tuple[_Plan, TemplateConfig]:
    source = remote.path
    try:
        config = parse_config_ini(remote.config_text, source=f"{source}/{CONFIG_NAME}")
        manifest = (
            None
            if remote.manifest_text is None
            else parse_manifest(remote.manifest_text, source=f"{source}/{MANIFEST_NAME}")
        )
    except ValueError as error:
        raise TemplateFetchError(str(error)) from error
    by_name = {volume.name: volume for volume in remote.volumes}
    if manifest is not None:
        for name in manifest.volumes:
            check_plain_name(name, where=source)
        missing = sorted(set(manifest.volumes) - set(by_name))
        extra = sorted(set(by_name) - set(manifest.volumes))
        if missing or extra:
            raise TemplateFetchError(
                f"{source}: the volumes on the server do not match {MANIFEST_NAME}: "
                f"missing on the server: {', '.join(missing) or 'none'}; not in the manifest: "
                f"{', '.join(extra) or 'none'}"
            )
        for name, digest in manifest.volumes.items():
            if by_name[name].size != digest.size:
                raise TemplateFetchError(
                    f"{source}: {name} is {by_name[name].size} bytes on the server, "
                    f"{digest.size} in {MANIFEST_NAME}"
                )
    try:
        ordered = check_volume_set(list(by_name), source=source)
    except ValueError as error:
        raise TemplateFetchError(str(error)) from error
    volumes = [by_name[name] for name in ordered]
    cache.forget_except(set(ordered))
    to_fetch = [
        volume
        for volume in volumes
        if not cache.reusable(volume, None if manifest is None else manifest.volumes[volume.name].sha256)
    ]
    plan = _Plan(remote_dir=source, cache=cache, volumes=volumes, manifest=manifest, to_fetch=to_fetch)
    return plan, config


class _Fetcher:
    """Runs the workers of one template fetch."""

    def __init__(
        self,
        plan: _Plan,
        *,
        bucket: TokenBucket | None,
        meter: ProgressMeter,
        retries: int,
        backoff_s: float,
    ) -> None:
        self.plan = plan
        self.bucket = bucket
        self.meter = meter
        self.retries = retries
        self.backoff_s = backoff_s
        self.bytes_fetched = 0
        self.failures: list[TemplateFetchError] = []
        self.queue: asyncio.Queue[RemoteFile] = asyncio.Queue()

    async def _receive(self, sftp: asyncssh.SFTPClient, volume: RemoteFile, offset: int) -> None:
        part = self.plan.cache.partial_dir / volume.name
        block_size = min(sftp.limits.max_read_len, MAX_BLOCK_SIZE)
        async with sftp.open(volume.path, "rb", block_size=block_size, max_requests=MAX_REQUESTS) as handle:
            with part.open("ab") as out:
                pending: dict[int, bytes] = {}
                next_offset = offset
                async for block_offset, data in await handle.read_parallel(volume.size - offset, offset):
                    if self.bucket is not None:
                        await self.bucket.take(len(data))
                    self.bytes_fetched += len(data)
                    self.meter.add_bytes(len(data))
                    pending[block_offset] = data
                    while next_offset in pending:
                        block = pending.pop(next_offset)
                        out.write(block)
                        next_offset += len(block)
        if next_offset != volume.size:
            raise TemplateFetchError(
                f"{volume.path}: the server sent {next_offset} of {volume.size} bytes (file shrank?)"
            )

    async def _verify_and_keep(self, volume: RemoteFile) -> None:
        cache = self.plan.cache
        part = cache.partial_dir / volume.name
        size = part.stat().st_size
        sha256 = await asyncio.to_thread(_sha256, part)
        if self.plan.manifest is not None:
            expected = self.plan.manifest.volumes[volume.name]
            if (size, sha256) != (expected.size, expected.sha256):
                part.unlink()
                cache.partials.pop(volume.name, None)
                cache.save()
                raise _ChecksumMismatch(
                    f"{volume.path}: SHA-256 {sha256} ({size} bytes) does not match the manifest's "
                    f"{expected.sha256} ({expected.size} bytes)"
                )
        elif size != volume.size:
            part.unlink()
            raise _ChecksumMismatch(f"{volume.path}: {size} bytes fetched, the server says {volume.size}")
        final = cache.volumes_dir / volume.name
        os.replace(part, final)
        cache.partials.pop(volume.name, None)
        cache.finished[volume.name] = FinishedVolume(
            size=size, sha256=sha256, remote_mtime=volume.mtime, local_mtime_ns=final.stat().st_mtime_ns
        )
        cache.save()
        self.meter.add_volume()

    async def _fetch_volume(self, link: _Link, volume: RemoteFile) -> None:
        cache = self.plan.cache
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "%s: attempt %d/%d in %.1f s after: %s",
                    volume.path,
                    attempt + 1,
                    self.retries + 1,
                    delay,
                    last_error,
                )
                await asyncio.sleep(delay)
            offset = cache.resume_offset(volume)
            if offset == 0:
                cache.partials[volume.name] = PartialVolume(size=volume.size, remote_mtime=volume.mtime)
                cache.save()
            try:
                sftp = await link.sftp()
                await self._receive(sftp, volume, offset)
                await self._verify_and_keep(volume)
                return
            except _ChecksumMismatch as error:
                last_error = error
            except RETRYABLE as error:
                last_error = error
                await link.close()
        raise VolumeFetchError(
            f"{self.plan.remote_dir}: volume {volume.name} failed after {self.retries + 1} attempt(s): "
            f"{last_error}; not counted as fetched"
        )

    async def worker(self, link: _Link) -> None:
        try:
            while not self.failures:
                try:
                    volume = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    await self._fetch_volume(link, volume)
                except TemplateFetchError as error:
                    self.failures.append(error)
        finally:
            await link.close()


async def fetch_template_async(
    settings: SftpSettings,
    remote_dir: str,
    cache_dir: Path,
    *,
    connections: int = 4,
    bandwidth_bytes_s: float | None = None,
    retries: int = 3,
    backoff_s: float = 1.0,
    progress: Callable[[TransferProgress], None] | None = None,
    progress_interval_s: float = PROGRESS_INTERVAL_S,
) -> FetchResult:
    """Fetch a template folder into the cache (see :func:`fetch_template`), from an event loop.

    :param settings: the SFTP server and credentials.
    :param remote_dir: the template folder's remote path.
    :param cache_dir: the cache root.
    :param connections: SSH connections in parallel (at most one per volume to fetch).
    :param bandwidth_bytes_s: cap of the link in bytes per second (shared by all connections).
    :param retries: retries per volume after its first attempt.
    :param backoff_s: the first retry's delay; each next one doubles it.
    :param progress: receives progress reports (default: an INFO log line).
    :param progress_interval_s: minimum seconds between two progress reports.
    :raises TemplateFetchError: naming the template folder (and the volume at fault).
    """
    if connections < 1:
        raise ValueError(f"connections must be at least 1, not {connections}")
    started = time.monotonic()
    remote_dir = "/" + remote_dir.strip("/")
    cache = TemplateCache(template_cache_dir(cache_dir, remote_dir))
    first = _Link(settings, remote_dir)
    links = [first] + [_Link(settings, remote_dir) for _ in range(connections - 1)]
    warming: list[asyncio.Task[None]] = []
    try:
        try:
            first_sftp = await first.sftp()
            warming = [asyncio.create_task(link.warm_up()) for link in links[1:]]
            remote = await read_remote_template(first_sftp, remote_dir)
        except (asyncssh.SFTPError, asyncssh.DisconnectError, OSError) as error:
            raise TemplateFetchError(f"{remote_dir}: cannot list the template folder: {error}") from error
        plan, config = _plan(remote, cache)
        cache.save()
        (cache.root / CONFIG_NAME).write_text(remote.config_text)
        manifest_copy = cache.root / MANIFEST_NAME
        if remote.manifest_text is None:
            manifest_copy.unlink(missing_ok=True)
        else:
            manifest_copy.write_text(remote.manifest_text)
        to_fetch_bytes = sum(volume.size - cache.resume_offset(volume) for volume in plan.to_fetch)
        bytes_reused = sum(volume.size for volume in plan.volumes) - to_fetch_bytes
        free = shutil.disk_usage(cache.root).free
        if to_fetch_bytes > free:
            raise TemplateFetchError(
                f"{remote_dir}: {to_fetch_bytes} bytes to fetch, only {free} free in {cache.root}"
            )
        meter = ProgressMeter(
            remote_dir,
            bytes_total=to_fetch_bytes,
            volumes_total=len(plan.volumes),
            volumes_done=len(plan.volumes) - len(plan.to_fetch),
            callback=progress or log_progress,
            interval=progress_interval_s,
        )
        bucket = (
            None
            if bandwidth_bytes_s is None
            else TokenBucket(bandwidth_bytes_s, burst=max(float(MAX_BLOCK_SIZE), bandwidth_bytes_s / 10))
        )
        fetcher = _Fetcher(plan, bucket=bucket, meter=meter, retries=retries, backoff_s=backoff_s)
        for volume in plan.to_fetch:
            fetcher.queue.put_nowait(volume)
        workers = links[: max(1, min(connections, len(plan.to_fetch)))]
        if plan.to_fetch:
            await asyncio.gather(*(fetcher.worker(link) for link in workers))
        if fetcher.failures:
            fatal = [error for error in fetcher.failures if not isinstance(error, VolumeFetchError)]
            failure = fatal[0] if fatal else VolumeFetchError("; ".join(map(str, fetcher.failures)))
            failure.bytes_fetched = fetcher.bytes_fetched
            raise failure
        if plan.to_fetch:
            meter.report()
    finally:
        for task in warming:
            task.cancel()
        await asyncio.gather(*warming, return_exceptions=True)
        for link in links:
            await link.close()
    return FetchResult(
        local_dir=cache.root,
        volumes=[cache.volumes_dir / volume.name for volume in plan.volumes],
        bytes_fetched=fetcher.bytes_fetched,
        bytes_reused=bytes_reused,
        seconds=time.monotonic() - started,
        config=config,
        manifest=plan.manifest,
    )


def fetch_template(
    sftp_conn_id: str,
    remote_dir: str,
    cache_dir: Path,
    *,
    connections: int = 4,
    bandwidth_bytes_s: float | None = None,
    retries: int = 3,
    progress: Callable[[TransferProgress], None] | None = None,
) -> FetchResult:
    """Fetch a template folder from the MGTR SFTP server into the local cache, verified.

    Unchanged volumes already in the cache are not read again (0 bytes on an unchanged template);
    partial volumes resume where the last run stopped. Call it from synchronous code (an Airflow
    task): it runs its own event loop.

    :param sftp_conn_id: the Airflow ``sftp`` Connection of the MGTR server (see
        :mod:`meca.mgtr.sftp_connection`).
    :param remote_dir: the template folder's remote path, e.g. ``/MGTR/common/linux/CentOS/01.00.00.00``.
    :param cache_dir: the cache root; the template goes to ``cache_dir/<remote path>/``.
    :param connections: SSH connections in parallel.
    :param bandwidth_bytes_s: cap of the link in bytes per second, ``None`` for none.
    :param retries: retries per volume, with exponential backoff (1 s, 2 s, 4 s, ...).
    :param progress: receives progress reports at most every 5 s (default: an INFO log line).
    :raises TemplateFetchError: naming the template folder and the volume at fault; subclasses
        :class:`~meca.mgtr.errors.HostKeyRejected`, :class:`~meca.mgtr.errors.UnsafeRemoteName`,
        :class:`~meca.mgtr.errors.VolumeFetchError`.
    """
    settings = load_sftp_settings(sftp_conn_id)
    return asyncio.run(
        fetch_template_async(
            settings,
            remote_dir,
            cache_dir,
            connections=connections,
            bandwidth_bytes_s=bandwidth_bytes_s,
            retries=retries,
            progress=progress,
        )
    )
