"""List the version folders of catalog templates on the MGTR server.

A catalog path (``/MGTR/common/linux/CentOS``) holds one folder per version (``01.00.00.00``,
``01.01.00.00``, ...), ordered by :func:`meca.mgtr.versions.version_sort_key`.
"""

from __future__ import annotations

import asyncio
import stat

import asyncssh

from meca.mgtr.sftp_connection import SftpSettings
from meca.mgtr.versions import version_sort_key

CONNECT_TIMEOUT_S = 60.0


def _is_folder(attrs: asyncssh.SFTPAttrs) -> bool:
    if attrs.permissions is not None:
        return stat.S_ISDIR(attrs.permissions)
    return attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY


async def list_versions_async(settings: SftpSettings, paths: list[str]) -> dict[str, list[str]]:
    """The version folders under each path, oldest first (``[]`` for a path that does not exist).

    Links and names starting with ``.`` are ignored: a version is a real folder.

    :param settings: the MGTR server.
    :param paths: catalog paths.
    :raises asyncssh.Error: when the server cannot be reached or refuses the key.
    """
    connection = await asyncio.wait_for(asyncssh.connect(**settings.connect_options()), CONNECT_TIMEOUT_S)
    out: dict[str, list[str]] = {}
    try:
        async with connection.start_sftp_client() as sftp:
            for path in paths:
                try:
                    entries = await sftp.readdir(path)
                except asyncssh.SFTPNoSuchFile:
                    out[path] = []
                    continue
                names = [
                    str(entry.filename)
                    for entry in entries
                    if not str(entry.filename).startswith(".") and _is_folder(entry.attrs)
                ]
                out[path] = sorted(names, key=version_sort_key)
    finally:
        connection.close()
        await connection.wait_closed()
    return out


def list_versions(settings: SftpSettings, paths: list[str]) -> dict[str, list[str]]:
    """:func:`list_versions_async` from synchronous code (an Airflow task)."""
    return asyncio.run(list_versions_async(settings, paths))
