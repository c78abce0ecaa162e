"""Build multi-volume 7z archives for the extraction tests, including hostile ones.

py7zr refuses to write an unsafe entry name, so a hostile archive is written with a harmless name
of the same length and an unencoded header, then the name is patched and the header CRCs fixed.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import py7zr

STORE = [{"id": py7zr.FILTER_COPY}]
LZMA2 = [{"id": py7zr.FILTER_LZMA2, "preset": 1}]


def archive_bytes(
    entries: dict[str, bytes],
    *,
    filters: list[dict[str, int]] | None = None,
    rename: dict[str, str] | None = None,
) -> bytes:
    """A 7z archive holding ``entries`` (name → content).

    :param rename: harmless name → hostile name of the same length, patched into the header.
    """
    buffer = io.BytesIO()
    archive = py7zr.SevenZipFile(buffer, "w", filters=filters or LZMA2)
    archive.encoded_header_mode = False
    for name, data in entries.items():
        archive.writestr(data, name)
    archive.close()
    raw = bytearray(buffer.getvalue())
    for old, new in (rename or {}).items():
        assert len(old) == len(new)
        encoded_old, encoded_new = old.encode("utf-16-le"), new.encode("utf-16-le")
        assert raw.count(encoded_old) == 1
        at = raw.index(encoded_old)
        raw[at : at + len(encoded_old)] = encoded_new
    if rename:
        offset, size = struct.unpack_from("<QQ", raw, 12)
        header = raw[32 + offset : 32 + offset + size]
        struct.pack_into("<I", raw, 28, zlib.crc32(header))
        struct.pack_into("<I", raw, 8, zlib.crc32(raw[12:32]))
    return bytes(raw)


def write_volumes(folder: Path, archive_name: str, data: bytes, volume_size: int) -> list[Path]:
    """Split ``data`` into ``folder/archive_name.001``, ``.002``, ... as ``7z a -v`` does."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, start in enumerate(range(0, len(data), volume_size), start=1):
        path = folder / f"{archive_name}.{number:03d}"
        path.write_bytes(data[start : start + volume_size])
        paths.append(path)
    return paths
