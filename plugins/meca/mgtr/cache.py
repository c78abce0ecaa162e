"""The local cache of one template folder: finished volumes, partial volumes and what is known of them.

Layout under ``cache_dir``, mirroring the remote path (``/MGTR/linux/CentOS/01.00`` →
``cache_dir/MGTR/linux/CentOS/01.00/``):

- ``volumes/``: finished, verified volumes only (the folder extraction globs: nothing else in it);
- ``partial/``: volumes being fetched (``NAME.7z.NNN``, each a contiguous prefix of the remote file);
- ``config.ini`` and ``manifest.json``: copies of the remote ones;
- ``state.json``: for each finished volume its size, SHA-256, the remote mtime and the local
  mtime, and for each partial volume the remote size and mtime it was started from.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from meca.mgtr.errors import UnsafeRemoteName
from meca.mgtr.remote_folder import RemoteFile, check_plain_name

STATE_NAME = "state.json"


@dataclass(frozen=True)
class FinishedVolume:
    """A verified volume in ``volumes/``.

    :param size: bytes.
    :param sha256: its SHA-256, computed locally.
    :param remote_mtime: the remote file's mtime when it was fetched.
    :param local_mtime_ns: the local file's mtime (ns) after the rename, to notice local changes.
    """

    size: int
    sha256: str
    remote_mtime: int
    local_mtime_ns: int


@dataclass(frozen=True)
class PartialVolume:
    """The remote file a ``partial/`` volume was started from.

    :param size: the remote size.
    :param remote_mtime: the remote mtime.
    """

    size: int
    remote_mtime: int


def template_cache_dir(cache_dir: Path, remote_dir: str) -> Path:
    """The cache folder of a remote template folder.

    :param cache_dir: the cache root.
    :param remote_dir: the template folder's remote path.
    :raises UnsafeRemoteName: when a path component is ``..`` or ``.`` or the path is empty.
    """
    parts = [part for part in remote_dir.split("/") if part]
    if not parts:
        raise UnsafeRemoteName(f"{remote_dir!r}: the template folder path is empty")
    for part in parts:
        check_plain_name(part, where=remote_dir)
    return cache_dir.joinpath(*parts)


class TemplateCache:
    """The cache folder of one template, and its ``state.json``.

    :param root: the template's cache folder (see :func:`template_cache_dir`).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.volumes_dir = root / "volumes"
        self.partial_dir = root / "partial"
        self.finished: dict[str, FinishedVolume] = {}
        self.partials: dict[str, PartialVolume] = {}
        self.volumes_dir.mkdir(parents=True, exist_ok=True)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        state_path = root / STATE_NAME
        if state_path.is_file():
            state = json.loads(state_path.read_text())
            self.finished = {name: FinishedVolume(**value) for name, value in state["finished"].items()}
            self.partials = {name: PartialVolume(**value) for name, value in state["partials"].items()}

    def save(self) -> None:
        """Write ``state.json`` atomically."""
        state = {
            "finished": {name: asdict(value) for name, value in sorted(self.finished.items())},
            "partials": {name: asdict(value) for name, value in sorted(self.partials.items())},
        }
        temporary = self.root / f".{STATE_NAME}.tmp"
        temporary.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(temporary, self.root / STATE_NAME)

    def reusable(self, remote: RemoteFile, expected_sha256: str | None) -> bool:
        """Whether the finished volume in the cache is still ``remote`` (no byte read over the wire).

        With a manifest: same size and SHA-256 as the manifest's; without: same remote size and
        mtime as when it was fetched. In both cases the local file must be unchanged since then.

        :param remote: the remote volume.
        :param expected_sha256: the manifest's SHA-256, or ``None`` without a manifest.
        """
        known = self.finished.get(remote.name)
        path = self.volumes_dir / remote.name
        if known is None or not path.is_file():
            return False
        local = path.stat()
        if (local.st_size, local.st_mtime_ns, remote.size) != (known.size, known.local_mtime_ns, known.size):
            return False
        if expected_sha256 is not None:
            return known.sha256 == expected_sha256
        return known.remote_mtime == remote.mtime

    def resume_offset(self, remote: RemoteFile) -> int:
        """Bytes of ``remote`` already in ``partial/`` (0, and the part dropped, when it is stale).

        :param remote: the remote volume.
        """
        part = self.partial_dir / remote.name
        started = self.partials.get(remote.name)
        if not part.is_file():
            return 0
        size = part.stat().st_size
        if started != PartialVolume(size=remote.size, remote_mtime=remote.mtime) or size > remote.size:
            part.unlink()
            return 0
        return size

    def forget_except(self, names: set[str]) -> None:
        """Delete finished and partial volumes that are no longer part of the template.

        :param names: the template's current volume names.
        """
        for folder in (self.volumes_dir, self.partial_dir):
            for path in folder.iterdir():
                if path.name not in names:
                    path.unlink()
        self.finished = {name: value for name, value in self.finished.items() if name in names}
        self.partials = {name: value for name, value in self.partials.items() if name in names}
