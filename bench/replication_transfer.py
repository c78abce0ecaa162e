"""Benchmark: MGTR template replication through a 100 ms round-trip link, ours vs OpenSSH's ``sftp``.

Publishes a 4-volume template of random data (``--short``: 4 x 16 MiB; default 4 x 50 MiB) in a
local MGTR (sshd when installed, else the asyncssh server) behind the shaping proxy (50 ms each way),
then measures on the same files through the same proxy:

1. our fetch (4 SSH connections, fresh cache) vs ``sftp -b`` fetching the same files: wall times, ratio;
2. a fetch cut at 60 % of the bytes, then resumed: bytes fetched again (target <= one volume);
3. the unchanged template fetched again: bytes fetched (target 0) and wall time.

    .venv/bin/python bench/replication_transfer.py           # 4 x 50 MiB
    .venv/bin/python bench/replication_transfer.py --short   # 4 x 16 MiB, CI: fails on gross regressions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "plugins"), str(REPO)]

from meca.mgtr.errors import TemplateFetchError  # noqa: E402
from meca.mgtr.layout import TemplateConfig  # noqa: E402
from meca.mgtr.sftp_connection import SftpSettings  # noqa: E402
from meca.mgtr.transfer import FetchResult, fetch_template_async  # noqa: E402
from mgtr_repository.publish import publish  # noqa: E402
from mgtr_repository.server import MgtrServerHandle, run_mgtr_server  # noqa: E402
from netshape.process import run_shaping_proxy  # noqa: E402

MIB = 1024 * 1024
TEMPLATE = "MGTR/common/linux/Bench/01.00.00.00"


def settings(server: MgtrServerHandle, port: int) -> SftpSettings:
    return SftpSettings(
        host=server.host,
        port=port,
        username=server.username,
        known_hosts=f"[{server.host}]:{port} {server.host_public_key}",
        key_file=str(server.private_key_path),
    )


def ours(server: MgtrServerHandle, port: int, cache: Path, **options: object) -> FetchResult:
    return asyncio.run(
        fetch_template_async(settings(server, port), server.remote_path(TEMPLATE), cache, **options)  # type: ignore[arg-type]
    )


def openssh_sftp(server: MgtrServerHandle, port: int, names: list[str], work: Path) -> float:
    target = work / "sftp-out"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    batch = work / "batch"
    batch.write_text("".join(f"get {server.remote_path(TEMPLATE)}/{name} {target}/\n" for name in names))
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[{server.host}]:{port} {server.host_public_key}\n")
    command = ["sftp", "-q", "-b", str(batch), "-P", str(port), "-i", str(server.private_key_path)]
    command += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    command += ["-o", "BatchMode=yes", f"{server.username}@{server.host}"]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="4 x 16 MiB; fail only on gross regressions")
    parser.add_argument("--volume-mib", type=int, default=None, help="volume size (default 50, --short 16)")
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one-way delay of the proxy")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    volume_size = (args.volume_mib or (16 if args.short else 50)) * MIB
    if shutil.which("sftp") is None:
        print("OpenSSH's sftp client is missing (Debian package openssh-client)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="meca-bench-mgtr-") as scratch:
        work = Path(scratch)
        image = work / "Bench.raw"
        with image.open("wb") as out:
            for _ in range(4):
                out.write(os.urandom(volume_size))
            out.truncate(4 * volume_size - 4096)
        config = TemplateConfig(
            name="Bench",
            version="01.00.00.00",
            os_type="Other (64-bit)",
            format="RAW",
            hypervisor="KVM",
            description="benchmark template",
        )
        root = work / "root"
        volumes = publish(image, root / TEMPLATE, config, volume_size=volume_size, compression="copy")
        total = sum(path.stat().st_size for path in volumes)
        names = ["config.ini", "manifest.json", *(path.name for path in volumes)]
        figures: dict[str, object] = {
            "volumes": len(volumes),
            "volume_bytes": volume_size,
            "total_bytes": total,
        }
        with run_mgtr_server(root, work / "server") as server:
            figures["server"] = server.backend
            with run_shaping_proxy(server.host, server.port, work / "proxy", delay_ms=args.delay_ms) as proxy:
                sftp_seconds = openssh_sftp(server, proxy.port, names, work)
                fresh = ours(server, proxy.port, work / "cache-1", connections=4)
                unchanged = ours(server, proxy.port, work / "cache-1", connections=4)
            with run_shaping_proxy(
                server.host,
                server.port,
                work / "proxy-cut",
                delay_ms=args.delay_ms,
                cut_after_bytes=total * 6 // 10,
            ) as proxy:
                try:
                    ours(server, proxy.port, work / "cache-2", connections=4, retries=0)
                    cut_bytes = None
                except TemplateFetchError as error:
                    cut_bytes = error.bytes_fetched
            with run_shaping_proxy(
                server.host, server.port, work / "proxy-2", delay_ms=args.delay_ms
            ) as proxy:
                resumed = ours(server, proxy.port, work / "cache-2", connections=4)
        for path in fresh.volumes:
            if path.read_bytes() != (root / TEMPLATE / path.name).read_bytes():
                raise SystemExit(f"{path.name}: fetched bytes differ from the published volume")
        refetched = None if cut_bytes is None else cut_bytes + resumed.bytes_fetched - total
        figures.update(
            {
                "rtt_ms": 2 * args.delay_ms,
                "openssh_sftp_seconds": round(sftp_seconds, 2),
                "openssh_sftp_MBps": round(total / sftp_seconds / 1e6, 1),
                "ours_seconds": round(fresh.seconds, 2),
                "ours_MBps": round(total / fresh.seconds / 1e6, 1),
                "ratio": round(sftp_seconds / fresh.seconds, 2),
                "cut_at_bytes": cut_bytes,
                "resumed_bytes": resumed.bytes_fetched,
                "refetched_bytes": refetched,
                "unchanged_bytes": unchanged.bytes_fetched,
                "unchanged_seconds": round(unchanged.seconds, 2),
            }
        )
    print(json.dumps(figures, indent=2))
    problems = []
    minimum_ratio = 1.0 if args.short else 2.0
    if figures["ratio"] < minimum_ratio:  # type: ignore[operator]
        problems.append(f"ratio {figures['ratio']} < {minimum_ratio}")
    if refetched is None or refetched > volume_size:
        problems.append(f"refetched bytes after the cut: {refetched} (target <= {volume_size})")
    if unchanged.bytes_fetched != 0:
        problems.append(f"unchanged template fetched {unchanged.bytes_fetched} bytes (target 0)")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
