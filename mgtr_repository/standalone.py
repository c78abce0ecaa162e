"""A long-running local MGTR in a container: the ``mgtr`` service (profile ``demo``) of the compose file.

``python -m mgtr_repository.standalone --root ROOT --state STATE [--port 2222] [--advertise-host mgtr]``

1. keeps its SSH keys in ``STATE`` (made on the first start, reused afterwards, so the Airflow
   Connection stays valid across restarts);
2. publishes a small demo template (``/MGTR/common/linux/Ubuntu/01.00.00.00``, a path of
   ``include/templates_catalog/catalog.yaml``) when ``ROOT`` holds no ``MGTR`` folder yet;
3. writes ``STATE/connections.json`` (mode 0600): the ``sftp`` Connection Airflow imports with
   ``airflow connections import``, holding the client's private key and the server's host key;
4. serves ``ROOT`` as ``/`` over SFTP (the asyncssh server, chrooted) until SIGTERM or SIGINT, and
   writes ``STATE/port`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from meca.mgtr.layout import TemplateConfig
from mgtr_repository.asyncssh_server import chrooted_sftp, start_server
from mgtr_repository.publish import publish
from mgtr_repository.server import write_keys

log = logging.getLogger(__name__)

LOGIN = "mgtr"
DEMO_TEMPLATE_PATH = "MGTR/common/linux/Ubuntu/01.00.00.00"
DEMO_IMAGE_BYTES = 3 * 1024 * 1024
DEMO_VOLUME_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ServerKeys:
    """The SSH keys of a standalone MGTR, kept in its state folder.

    :param host_key: the server's private host key file.
    :param client_key: the client's private key file (OpenSSH format, no passphrase).
    :param authorized_keys: the authorized_keys file holding the client's public key.
    """

    host_key: Path
    client_key: Path
    authorized_keys: Path

    @property
    def host_public_key(self) -> str:
        """The server's public host key, ``"ssh-ed25519 AAAA..."``."""
        key = asyncssh.read_private_key(str(self.host_key))
        return " ".join(key.export_public_key("openssh").decode().split()[:2])


def ensure_keys(state: Path) -> ServerKeys:
    """The keys in ``state``, made when absent (an existing key is never replaced).

    :param state: the state folder (created, mode 0700).
    :raises ValueError: when only some of the key files exist.
    """
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    keys = ServerKeys(state / "ssh_host_ed25519_key", state / "client_ed25519_key", state / "authorized_keys")
    present = [path.exists() for path in (keys.host_key, keys.client_key, keys.authorized_keys)]
    if all(present):
        return keys
    if any(present):
        raise ValueError(f"{state} holds only some of the MGTR keys; remove them all to make new ones")
    write_keys(state)
    log.info("made new SSH keys in %s", state)
    return keys


def publish_demo_template(root: Path) -> Path | None:
    """Publish the demo template under ``root`` unless ``root/MGTR`` exists; return its folder.

    The image is 3 MiB of seeded random bytes (the same on every machine), in 1 MiB volumes.

    :param root: the repository root.
    """
    if (root / "MGTR").exists():
        return None
    target = root / DEMO_TEMPLATE_PATH
    config = TemplateConfig(
        name="MECA-Demo-Ubuntu",
        version=target.name,
        os_type="Ubuntu 22.04",
        format="QCOW2",
        hypervisor="KVM",
        description="MECA demo image (random bytes, not bootable)",
    )
    with tempfile.TemporaryDirectory() as scratch:
        image = Path(scratch) / "meca-demo-ubuntu.qcow2"
        image.write_bytes(random.Random(2026).randbytes(DEMO_IMAGE_BYTES))
        publish(image, target, config, volume_size=DEMO_VOLUME_BYTES, compression="copy")
    log.info("published the demo template %s", target)
    return target


def connection_document(keys: ServerKeys, conn_id: str, host: str, port: int) -> dict[str, object]:
    """The Airflow Connection of this server, as ``airflow connections import`` reads it.

    :param keys: the server's keys.
    :param conn_id: the Connection id, e.g. ``meca_mgtr``.
    :param host: the name Airflow's workers reach the server by.
    :param port: the port it listens on.
    """
    return {
        conn_id: {
            "conn_type": "sftp",
            "host": host,
            "port": port,
            "login": LOGIN,
            "description": "local MGTR (demo): SFTP, the repository root is /",
            "extra": {"private_key": keys.client_key.read_text(), "host_key": keys.host_public_key},
        }
    }


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.touch(mode=0o600)
    temporary.write_text(text)
    temporary.replace(path)


async def serve(root: Path, keys: ServerKeys, host: str, port: int, port_file: Path) -> None:
    """Serve ``root`` until SIGTERM or SIGINT; ``port_file`` holds the port while it listens."""
    acceptor = await start_server(
        host=host,
        port=port,
        host_key=keys.host_key,
        authorized_keys=keys.authorized_keys,
        sftp_factory=chrooted_sftp(root.resolve()),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    port_file.write_text(str(acceptor.get_port()))
    log.info("serving %s over SFTP on %s:%d", root, host, acceptor.get_port())
    try:
        await stop.wait()
    finally:
        port_file.unlink(missing_ok=True)
        acceptor.close()
        await acceptor.wait_closed()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m mgtr_repository.standalone", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="repository root, served as /")
    parser.add_argument("--state", type=Path, required=True, help="folder for keys and connections.json")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=2222, help="port to listen on (default 2222)")
    parser.add_argument(
        "--advertise-host", default="mgtr", help="host name written in the Connection (default mgtr)"
    )
    parser.add_argument("--conn-id", default="meca_mgtr", help="Connection id (default meca_mgtr)")
    parser.add_argument("--no-demo-template", action="store_true", help="do not publish the demo template")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")
    port_file = args.state / "port"
    try:
        keys = ensure_keys(args.state)
        port_file.unlink(missing_ok=True)
        args.root.mkdir(parents=True, exist_ok=True)
        if not args.no_demo_template:
            publish_demo_template(args.root)
        document = connection_document(keys, args.conn_id, args.advertise_host, args.port)
        write_private(args.state / "connections.json", json.dumps(document, indent=2))
    except (OSError, ValueError) as exc:
        print(f"mgtr: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(args.root, keys, args.host, args.port, port_file))
    except OSError as exc:  # the port cannot be bound
        print(f"mgtr: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
