"""List and read one template folder on the SFTP server, refusing names and links that could escape.

Names are checked before anything is written locally: a name must be a plain file name (no ``/``,
backslash, NUL, not ``.`` or ``..``); ``config.ini``, ``manifest.json`` and the volumes must be regular
files (a symbolic link is refused, the entry is ``lstat``-ed, never followed).
"""

from __future__ import annotations

import asyncio
import posixpath
import stat
from dataclasses import dataclass
from typing import cast

import asyncssh

from meca.mgtr.errors import TemplateFetchError, UnsafeRemoteName
from meca.mgtr.layout import CONFIG_NAME, MANIFEST_NAME, volume_number

MAX_METADATA_BYTES = 1024 * 1024
_LISTING_SELF = (".", "..")


@dataclass(frozen=True)
class RemoteFile:
    """A regular file of the template folder.

    :param name: its plain file name.
    :param path: its full remote path.
    :param size: bytes.
    :param mtime: modification time (seconds since the epoch) as the server reports it.
    """

    name: str
    path: str
    size: int
    mtime: int


@dataclass(frozen=True)
class RemoteTemplate:
    """What a template folder holds.

    :param path: the folder's remote path.
    :param config_text: ``config.ini``'s text.
    :param manifest_text: ``manifest.json``'s text, or ``None`` when the folder has none.
    :param volumes: the volume files (unordered).
    """

    path: str
    config_text: str
    manifest_text: str | None
    volumes: list[RemoteFile]


def check_plain_name(name: str, *, where: str) -> str:
    """Return ``name`` when it is a plain file name, else raise.

    :param name: a name offered by the server (listing or manifest).
    :param where: the template folder, for the message.
    :raises UnsafeRemoteName: for ``..``, ``.``, absolute names, names holding a slash, a backslash or NUL.
    """
    if name in ("", ".", "..") or any(char in name for char in "/\\\x00"):
        raise UnsafeRemoteName(f"{where}: the server offered an unsafe name {name!r}; refusing the template")
    return name


def _kind(attrs: asyncssh.SFTPAttrs) -> str:
    if attrs.permissions is not None:
        mode = attrs.permissions
        if stat.S_ISLNK(mode):
            return "link"
        if stat.S_ISREG(mode):
            return "file"
        if stat.S_ISDIR(mode):
            return "directory"
        return "other"
    return {
        asyncssh.FILEXFER_TYPE_SYMLINK: "link",
        asyncssh.FILEXFER_TYPE_REGULAR: "file",
        asyncssh.FILEXFER_TYPE_DIRECTORY: "directory",
    }.get(attrs.type, "other")


async def _read_small(sftp: asyncssh.SFTPClient, remote: RemoteFile) -> str:
    if remote.size > MAX_METADATA_BYTES:
        raise TemplateFetchError(f"{remote.path}: {remote.size} bytes, more than {MAX_METADATA_BYTES}")
    async with sftp.open(remote.path, "rb") as handle:
        data = cast(bytes, await handle.read(MAX_METADATA_BYTES + 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TemplateFetchError(f"{remote.path}: not UTF-8 text: {error}") from error


async def read_remote_template(sftp: asyncssh.SFTPClient, remote_dir: str) -> RemoteTemplate:
    """List ``remote_dir`` and read its ``config.ini`` and ``manifest.json``.

    :param sftp: an open SFTP client.
    :param remote_dir: the template folder's remote path.
    :raises UnsafeRemoteName: for an unsafe name or a link among the template's files.
    :raises TemplateFetchError: when the folder or its ``config.ini`` is missing.
    """
    try:
        folder_attrs, entries = await asyncio.gather(sftp.lstat(remote_dir), sftp.readdir(remote_dir))
    except asyncssh.SFTPNoSuchFile as error:
        raise TemplateFetchError(f"{remote_dir}: no such folder on the MGTR server") from error
    if _kind(folder_attrs) != "directory":
        raise UnsafeRemoteName(f"{remote_dir}: not a plain folder ({_kind(folder_attrs)}); refusing it")
    files: dict[str, RemoteFile] = {}
    for entry in entries:
        name = str(entry.filename)
        if name in _LISTING_SELF:
            continue
        check_plain_name(name, where=remote_dir)
        kind = _kind(entry.attrs)
        wanted = name in (CONFIG_NAME, MANIFEST_NAME) or volume_number(name) is not None
        if wanted and kind != "file":
            raise UnsafeRemoteName(f"{remote_dir}: {name!r} is a {kind}, not a regular file; refusing it")
        if wanted:
            files[name] = RemoteFile(
                name=name,
                path=posixpath.join(remote_dir, name),
                size=int(entry.attrs.size or 0),
                mtime=int(entry.attrs.mtime or 0),
            )
    if CONFIG_NAME not in files:
        raise TemplateFetchError(f"{remote_dir}: no {CONFIG_NAME} in the template folder")
    metadata = [files[name] for name in (CONFIG_NAME, MANIFEST_NAME) if name in files]
    texts = await asyncio.gather(*(_read_small(sftp, remote) for remote in metadata))
    return RemoteTemplate(
        path=remote_dir,
        config_text=texts[0],
        manifest_text=texts[1] if len(texts) > 1 else None,
        volumes=[remote for name, remote in files.items() if volume_number(name) is not None],
    )
