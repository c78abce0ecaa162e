"""Run the shaping proxy: ``python -m netshape``.

``python -m netshape --target HOST:PORT [--delay-ms 50] [--rate-mbit N] [--cut-after-bytes N]
--port-file FILE [--stats-file FILE] [--max-seconds 600]``: run the shaping proxy until SIGTERM or
``--max-seconds``; the port is written to ``--port-file`` once listening, the counters (JSON) to
``--stats-file`` every half second and at exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from netshape.proxy import ShapingProxy

STATS_INTERVAL_S = 0.5


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)


async def _run(args: argparse.Namespace) -> None:
    host, _, port = args.target.rpartition(":")
    proxy = ShapingProxy(
        target_host=host,
        target_port=int(port),
        delay_s=args.delay_ms / 1000,
        rate_bytes_s=None if args.rate_mbit is None else args.rate_mbit * 1_000_000 / 8,
        cut_after_bytes=args.cut_after_bytes,
    )
    server = await proxy.start(args.listen, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    _write_atomically(args.port_file, str(server.sockets[0].getsockname()[1]))
    deadline = loop.time() + args.max_seconds
    while not stop.is_set() and loop.time() < deadline:
        if args.stats_file is not None:
            _write_atomically(args.stats_file, json.dumps(proxy.stats.as_dict()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), STATS_INTERVAL_S)
    server.close()
    if args.stats_file is not None:
        _write_atomically(args.stats_file, json.dumps(proxy.stats.as_dict()))


def main(argv: list[str] | None = None) -> None:
    """Command line entry point.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m netshape", description="latency-shaping TCP proxy")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one-way delay (default 50: 100 ms RTT)")
    parser.add_argument("--rate-mbit", type=float, default=None, help="link rate per direction, Mbit/s")
    parser.add_argument("--cut-after-bytes", type=int, default=None, help="cut once after N bytes down")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--stats-file", type=Path, default=None)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop by itself after this")
    asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
