"""A read-only, seekable file over the volumes of a multi-volume archive, joined in numeric order.

``multivolumefile`` finds volumes with a sorted glob of ``NAME.*``: a side file or a 1000th volume
sorts between the others and corrupts the archive silently. This reader takes an explicit list,
checked complete by :func:`meca.mgtr.layout.check_volume_set`, so neither can happen.
"""

from __future__ import annotations

import bisect
import io
import os
from collections.abc import Sequence
from pathlib import Path

from meca.mgtr.layout import check_volume_set


def ordered_volumes(volumes: Sequence[Path]) -> list[Path]:
    """The volumes of one archive in numeric order, after checking the set is complete.

    :param volumes: the volume files (``NAME.7z.001`` ...), in any order, all in one folder.
    :raises ValueError: when there are none, they are in several folders, belong to several
        archives, or one is missing (the message names the folder and the missing volumes).
    """
    folders = sorted({str(path.parent) for path in volumes})
    if len(folders) > 1:
        raise ValueError(f"volumes of one archive must be in one folder, got {', '.join(folders)}")
    source = folders[0] if folders else "(no folder)"
    by_name = {path.name: path for path in volumes}
    return [by_name[name] for name in check_volume_set(list(by_name), source=source)]


class ConcatenatedVolumes(io.RawIOBase):
    """The volumes read as one file. Every volume is opened up front, so a missing one fails early.

    :param volumes: the volume files, already in order (see :func:`ordered_volumes`).
    """

    def __init__(self, volumes: Sequence[Path]) -> None:
        super().__init__()
        self._files = []
        try:
            for path in volumes:
                self._files.append(open(path, "rb"))  # noqa: SIM115 (closed in close())
        except OSError:
            self.close()
            raise
        self._starts: list[int] = []
        total = 0
        for handle in self._files:
            self._starts.append(total)
            total += os.fstat(handle.fileno()).st_size
        self._size = total
        self._position = 0
        self.name = str(volumes[0]) if volumes else ""

    @property
    def size(self) -> int:
        """The total size of the volumes in bytes."""
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._position < self._size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            handle = self._files[index]
            got = os.preadv(handle.fileno(), [view[done:]], self._position - self._starts[index])
            if got == 0:
                raise OSError(f"volume {handle.name} shrank while being read")
            done += got
            self._position += got
        return done

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest when negative).

        A read within one volume is a single ``pread`` into the returned bytes: py7zr reads the
        whole archive through here, and :class:`io.RawIOBase`'s version would copy every block once
        more from a scratch buffer.

        :param size: how many bytes at most; negative or ``None`` for everything up to the end.
        """
        remaining = self._size - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted <= 0:
            return b""
        index = bisect.bisect_right(self._starts, self._position) - 1
        volume_end = self._starts[index + 1] if index + 1 < len(self._starts) else self._size
        if self._position + wanted > volume_end:
            buffer = bytearray(wanted)
            return bytes(buffer[: self.readinto(buffer)])
        handle = self._files[index]
        data = os.pread(handle.fileno(), wanted, self._position - self._starts[index])
        if len(data) != wanted:
            raise OSError(f"volume {handle.name} shrank while being read")
        self._position += wanted
        return data

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()
