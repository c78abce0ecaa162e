"""An SFTP-only server on asyncssh, chrooted to a repository root: the fallback when sshd is absent.

Run as ``python -m mgtr_repository.asyncssh_server --root ROOT --host-key KEY --authorized-keys FILE
--port-file FILE [--port N]``: it writes its port to ``--port-file`` once listening and serves until
it is terminated (or ``--max-seconds`` pass).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

import asyncssh

SftpFactory = Callable[[asyncssh.SSHServerChannel], asyncssh.SFTPServer]


def chrooted_sftp(root: Path) -> SftpFactory:
    """An ``sftp_factory`` serving ``root`` as ``/``.

    :param root: the repository root.
    """

    def factory(channel: asyncssh.SSHServerChannel) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(channel, chroot=str(root).encode())

    return factory


async def start_server(
    *,
    host: str,
    port: int,
    host_key: Path,
    authorized_keys: Path,
    sftp_factory: SftpFactory,
) -> asyncssh.SSHAcceptor:
    """Start listening; SFTP only (no shell, no exec, no forwarding).

    :param host: the address to bind.
    :param port: the port (0: any free one; read it from the acceptor).
    :param host_key: the server's private host key file.
    :param authorized_keys: the authorized_keys file of the clients.
    :param sftp_factory: builds the SFTP server of each session.
    """
    return await asyncssh.listen(
        host=host,
        port=port,
        server_host_keys=[str(host_key)],
        authorized_client_keys=str(authorized_keys),
        sftp_factory=sftp_factory,
        allow_scp=False,
        process_factory=None,
        agent_forwarding=False,
        allow_pty=False,
        x11_forwarding=False,
        encryption_algs=["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"],
        config=[],
    )


async def _serve(args: argparse.Namespace) -> None:
    acceptor = await start_server(
        host=args.host,
        port=args.port,
        host_key=args.host_key,
        authorized_keys=args.authorized_keys,
        sftp_factory=chrooted_sftp(args.root.resolve()),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    temporary = args.port_file.with_suffix(".tmp")
    temporary.write_text(str(acceptor.get_port()))
    temporary.replace(args.port_file)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.max_seconds)
    acceptor.close()
    await acceptor.wait_closed()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="repository root, served as /")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host-key", type=Path, required=True)
    parser.add_argument("--authorized-keys", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True, help="written with the port once listening")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop by itself after this")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
