"""Extract a template's image from its multi-volume 7z archive into a staging folder, safely.

Order of the checks, all before a byte is written: the volume set is complete; every archive
entry has a relative name without ``..`` and is not a link; the image entry is found; the staging
file system has room for it plus a margin. The image is then decompressed by py7zr (which checks
the archive's own CRCs) into a temporary folder beside the target, hashed with SHA-256 as it is
written, compared with the manifest's digest when there is one, and renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from lzma import LZMAError
from pathlib import Path, PurePosixPath

import py7zr
from py7zr.exceptions import ArchiveError, PasswordRequired
from py7zr.io import Py7zIO, WriterFactory

from meca.mgtr.volume_reader import ConcatenatedVolumes, ordered_volumes

log = logging.getLogger(__name__)

DEFAULT_MARGIN_BYTES = 256 * 1024 * 1024
PIPELINE_CHUNKS = 2
_DRIVE = re.compile(r"^[A-Za-z]:")


class ExtractionError(ValueError):
    """The archive cannot be extracted safely or its image is not the expected one; says why."""


@dataclass(frozen=True)
class ExtractedImage:
    """The image written into the staging folder.

    :param path: where it is now.
    :param size: its size in bytes.
    :param sha256: its SHA-256, lower-case hex.
    :param seconds: the wall time of the extraction.
    """

    path: Path
    size: int
    sha256: str
    seconds: float


def unsafe_entry_reason(name: str) -> str | None:
    """Why an archive entry name would escape the extraction folder, or ``None`` when it is safe.

    :param name: the entry name as stored in the archive.
    """
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _DRIVE.match(normalised):
        return "an absolute path"
    if ".." in PurePosixPath(normalised).parts:
        return "a '..' component"
    if not normalised.strip("/"):
        return "an empty name"
    return None


class _HashingFile(Py7zIO):
    """Where py7zr writes the image: a real file, hashed on the way.

    Hashing and writing run in a helper thread while py7zr decompresses and checks CRCs in the
    caller's thread (all of them release the GIL on large buffers), so the two cores overlap.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.hash = hashlib.sha256()
        self._size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=PIPELINE_CHUNKS)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(target=self._drain, name="image-writer")
        self._thread.start()

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self.hash.update(chunk)
                self._file.write(chunk)
            except BaseException as exc:  # handed to the decompressing thread
                self._error = exc

    def _check(self) -> None:
        if self._error is not None:
            raise OSError(f"writing the image failed: {self._error}") from self._error

    def write(self, s: bytes | bytearray) -> int:
        """Queue ``s`` for the helper thread, uncopied (py7zr hands over a new buffer per block).

        :param s: the next block of the image.
        """
        self._check()
        self._queue.put(s)
        self._size += len(s)
        return len(s)

    def read(self, size: int | None = None) -> bytes:
        """Nothing: the image is read back from disk, never from here."""
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        """No-op: py7zr rewinds its output when done; the file is written once, in order."""
        return 0

    def flush(self) -> None:
        """Nothing to do: :meth:`close` waits for every chunk to be written."""

    def size(self) -> int:
        return self._size

    def close(self) -> None:
        """Wait for the helper thread, close the file, and raise if a write failed (idempotent)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
            self._file.close()
        self._check()


class _OneFileFactory(WriterFactory):
    """Hands py7zr a :class:`_HashingFile` at ``target`` for the one entry being extracted."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.writer: _HashingFile | None = None

    def create(self, filename: str) -> Py7zIO:
        if self.writer is not None:
            raise ExtractionError(f"py7zr asked for a second output file ({filename!r})")
        self.writer = _HashingFile(self.target)
        return self.writer


def _choose_entry(entries: list[py7zr.FileInfo], image_name: str | None, source: str) -> py7zr.FileInfo:
    for entry in entries:
        reason = unsafe_entry_reason(entry.filename)
        if reason is not None:
            raise ExtractionError(f"{source}: archive entry {entry.filename!r} is {reason}; refused")
        if entry.is_symlink:
            raise ExtractionError(f"{source}: archive entry {entry.filename!r} is a link; refused")
    files = [entry for entry in entries if not entry.is_directory]
    if image_name is not None:
        named = [entry for entry in files if PurePosixPath(entry.filename).name == image_name]
        if len(named) != 1:
            found = ", ".join(repr(entry.filename) for entry in files) or "nothing"
            raise ExtractionError(
                f"{source}: expected one image named {image_name!r}, the archive holds {found}"
            )
        return named[0]
    if len(files) != 1:
        found = ", ".join(repr(entry.filename) for entry in files) or "nothing"
        raise ExtractionError(f"{source}: expected exactly one image in the archive, found {found}")
    return files[0]


def _check_space(folder: Path, needed: int, margin: int, source: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed + margin:
        raise ExtractionError(
            f"{source}: not enough free space in {folder}: the image needs {needed} bytes "
            f"plus a margin of {margin}, {free} are free"
        )


def extract_image(
    volumes: Sequence[Path],
    dest_dir: Path,
    *,
    image_name: str | None = None,
    expected_sha256: str | None = None,
    margin_bytes: int = DEFAULT_MARGIN_BYTES,
) -> ExtractedImage:
    """Extract the image of a multi-volume 7z archive into ``dest_dir``, replacing any previous copy.

    :param volumes: the archive's volumes (``NAME.7z.001`` ...), any order, all in one folder.
    :param dest_dir: the staging folder (created if needed); the image keeps its archive name.
    :param image_name: the image's file name in the archive (``config.ini`` ``image`` or the
        manifest's); without it the archive must hold exactly one file.
    :param expected_sha256: the manifest's digest of the image; without it the archive's CRCs are
        the only check.
    :param margin_bytes: free space to leave on the staging file system beyond the image.
    :raises ExtractionError: naming the archive, when a volume is missing, an entry is unsafe, the
        image is not found, space is short, a CRC or the SHA-256 does not match, or the archive is
        not a readable 7z archive.
    """
    started = time.monotonic()
    try:
        ordered = ordered_volumes(volumes)
    except ValueError as exc:
        raise ExtractionError(str(exc)) from None
    source = str(ordered[0].parent / ordered[0].name.rsplit(".", 1)[0])
    dest_dir.mkdir(parents=True, exist_ok=True)
    with ConcatenatedVolumes(ordered) as reader:
        try:
            with py7zr.SevenZipFile(reader, mode="r") as archive:
                entry = _choose_entry(archive.list(), image_name, source)
                _check_space(dest_dir, entry.uncompressed, margin_bytes, source)
                final = dest_dir / PurePosixPath(entry.filename.replace("\\", "/")).name
                workdir = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
                factory = _OneFileFactory(workdir / final.name)
                try:
                    archive.extract(targets=[entry.filename], factory=factory)
                    writer = factory.writer
                    if writer is None:  # an empty image: py7zr writes nothing
                        writer = factory.create(entry.filename)
                    writer.close()
                    digest = writer.hash.hexdigest()
                    if expected_sha256 is not None and digest != expected_sha256.lower():
                        raise ExtractionError(
                            f"{source}: the image's SHA-256 is {digest}, the manifest says {expected_sha256}"
                        )
                    (workdir / final.name).replace(final)
                    size = writer.size()
                finally:
                    if factory.writer is not None:
                        factory.writer.close()
                    shutil.rmtree(workdir, ignore_errors=True)
        except (ArchiveError, PasswordRequired, EOFError, OSError, LZMAError) as exc:
            raise ExtractionError(f"{source}: cannot extract: {type(exc).__name__}: {exc}") from exc
    seconds = time.monotonic() - started
    log.info("Extracted %s (%d bytes, SHA-256 %s) from %s in %.1f s", final, size, digest, source, seconds)
    return ExtractedImage(path=final, size=size, sha256=digest, seconds=seconds)
