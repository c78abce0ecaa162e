"""Command line: ``python -m cloudstack_simulator --topology FILE --endpoints-file FILE``.

Serves every region of the topology from one process until SIGTERM or SIGINT (exit 0). Exits 2
with a one-line message when the topology is bad or a port cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import yaml

from cloudstack_simulator.server import HOUSEKEEPING_INTERVAL_S, Simulator
from cloudstack_simulator.topology import Topology, load_topology, load_topology_mapping

log = logging.getLogger("cloudstack_simulator")

EXIT_USAGE = 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options.

    :param argv: the arguments, without the program name; ``None`` reads ``sys.argv``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m cloudstack_simulator",
        description=(
            "Serve a federation of simulated Apache CloudStack regions, each on its own port at "
            "/client/api, plus an admin API for health, listing and fault injection. "
            "See docs/simulator.md."
        ),
    )
    parser.add_argument("--topology", type=Path, required=True, help="the topology YAML file")
    parser.add_argument(
        "--endpoints-file",
        type=Path,
        required=True,
        help="where to write (atomically, once every port is open) the JSON with each region's "
        "endpoint and keys and the admin URL",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address every port binds (default %(default)s)")
    parser.add_argument(
        "--admin-port", type=int, default=0, help="admin API port; 0 picks a free one (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, help="overrides the topology's seed (RNGs and derived keys)")
    parser.add_argument(
        "--housekeeping-interval",
        type=_positive_float,
        default=HOUSEKEEPING_INTERVAL_S,
        help="seconds between rounds that forget old finished jobs and expunge old VMs (default %(default)s)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default %(default)s)")
    return parser.parse_args(argv)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def read_topology(path: Path, seed: int | None) -> Topology:
    """Load the topology, with ``seed`` replacing the file's when given (so derived keys follow it).

    :param path: the YAML file.
    :param seed: the seed override, or ``None``.
    :raises ValueError: when the file is malformed.
    :raises OSError: when the file cannot be read.
    """
    if seed is None:
        return load_topology(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: topology: expected a mapping, got {type(data).__name__}")
    try:
        return load_topology_mapping({**data, "seed": seed})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_atomically(path: Path, content: str) -> None:
    """Write a file readable by its owner only, so that readers never see it half written.

    :param path: the destination.
    :param content: the text.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.replace(tmp, path)


async def serve(simulator: Simulator, endpoints_file: Path) -> None:
    """Start, publish the endpoints file, and run until SIGTERM or SIGINT.

    :param simulator: the simulator to run.
    :param endpoints_file: where to write the endpoints JSON.
    :raises OSError: when a port cannot be bound.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await simulator.start()
    try:
        write_atomically(endpoints_file, json.dumps(simulator.endpoints(os.getpid()), indent=2))
        log.info("endpoints written to %s; serving until SIGTERM", endpoints_file)
        await stop.wait()
        log.info("stopping")
    finally:
        await simulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the simulator; returns the exit status.

    :param argv: the arguments, without the program name; ``None`` reads ``sys.argv``.
    """
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        topology = read_topology(args.topology, args.seed)
    except (OSError, ValueError) as exc:
        print(f"cloudstack_simulator: bad topology: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        simulator = Simulator(
            topology,
            host=args.host,
            admin_port=args.admin_port,
            housekeeping_interval_s=args.housekeeping_interval,
        )
        asyncio.run(serve(simulator, args.endpoints_file))
    except OSError as exc:
        print(f"cloudstack_simulator: cannot serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
