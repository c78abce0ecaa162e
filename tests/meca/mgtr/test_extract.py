"""Extraction of a template image from real multi-volume 7z archives."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest

from meca.mgtr.extract import ExtractionError, extract_image, unsafe_entry_reason
from meca.mgtr.volume_reader import ConcatenatedVolumes
from tests.meca.mgtr.archive_builder import LZMA2, STORE, archive_bytes, write_volumes

IMAGE = os.urandom(150_000) + bytes(100_000) + b"end of image"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("filters", [STORE, LZMA2], ids=["store", "lzma2"])
def test_extracts_the_image_from_volumes_given_in_any_order(tmp_path: Path, filters) -> None:
    volumes = write_volumes(
        tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}, filters=filters), 40_000
    )
    assert len(volumes) >= 3
    random.Random(1).shuffle(volumes)

    image = extract_image(volumes, tmp_path / "stage", expected_sha256=_sha(IMAGE))

    assert image.path == tmp_path / "stage" / "disk.qcow2"
    assert image.path.read_bytes() == IMAGE
    assert (image.size, image.sha256) == (len(IMAGE), _sha(IMAGE))
    assert _leftovers(tmp_path / "stage") == ["disk.qcow2"]


def test_a_thousandth_volume_sorts_after_the_999th(tmp_path: Path) -> None:
    data = archive_bytes({"tiny.raw": IMAGE[:3000]}, filters=STORE)
    volumes = write_volumes(tmp_path / "cache", "tiny.7z", data, 3)
    assert len(volumes) > 1000

    image = extract_image(volumes, tmp_path / "stage")

    assert image.path.read_bytes() == IMAGE[:3000]


def test_a_missing_volume_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    volumes = write_volumes(tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}), 40_000)
    del volumes[1]

    with pytest.raises(ExtractionError, match=r"missing volume\(s\) disk\.7z\.002"):
        extract_image(volumes, tmp_path / "stage")
    assert _leftovers(tmp_path / "stage") == []


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        ("../escape.img", "a '..' component"),
        ("/etc/passwd1", "an absolute path"),
        ("a/../../b.im", "a '..' component"),
    ],
)
def test_unsafe_entry_names_are_refused_before_writing(tmp_path: Path, hostile: str, reason: str) -> None:
    harmless = "x" * len(hostile)
    data = archive_bytes({harmless: b"payload"}, rename={harmless: hostile})
    volumes = write_volumes(tmp_path / "cache", "evil.7z", data, 100)

    with pytest.raises(ExtractionError, match=f"archive entry '{hostile}' is {reason}; refused"):
        extract_image(volumes, tmp_path / "stage" / "inner")
    assert _leftovers(tmp_path / "stage" / "inner") == []
    assert _leftovers(tmp_path / "stage") == ["inner"]
    assert not (tmp_path / "escape.img").exists()


@pytest.mark.parametrize(
    ("name", "safe"),
    [("disk.qcow2", True), ("dir/disk.qcow2", True), ("..", False), ("C:disk", False), ("\\\\srv\\x", False)],
)
def test_unsafe_entry_reason(name: str, safe: bool) -> None:
    assert (unsafe_entry_reason(name) is None) is safe


def test_a_sha256_mismatch_leaves_nothing_in_staging(tmp_path: Path) -> None:
    volumes = write_volumes(tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}), 40_000)

    with pytest.raises(ExtractionError, match=f"SHA-256 is {_sha(IMAGE)}, the manifest says {'0' * 64}"):
        extract_image(volumes, tmp_path / "stage", expected_sha256="0" * 64)
    assert _leftovers(tmp_path / "stage") == []


def test_a_corrupted_volume_fails_the_archive_crc(tmp_path: Path) -> None:
    volumes = write_volumes(
        tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}, filters=STORE), 40_000
    )
    damaged = bytearray(volumes[1].read_bytes())
    damaged[1000] ^= 0xFF
    volumes[1].write_bytes(bytes(damaged))

    with pytest.raises(ExtractionError, match="cannot extract: CrcError"):
        extract_image(volumes, tmp_path / "stage")
    assert _leftovers(tmp_path / "stage") == []


def test_not_enough_free_space_is_refused_before_writing(tmp_path: Path) -> None:
    volumes = write_volumes(tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}), 40_000)
    free = shutil.disk_usage(tmp_path).free

    with pytest.raises(ExtractionError, match=f"not enough free space .*needs {len(IMAGE)} bytes"):
        extract_image(volumes, tmp_path / "stage", margin_bytes=free)
    assert _leftovers(tmp_path / "stage") == []


def test_several_files_need_the_image_name(tmp_path: Path) -> None:
    data = archive_bytes({"README.txt": b"read me", "images/disk.raw": IMAGE})
    volumes = write_volumes(tmp_path / "cache", "two.7z", data, 50_000)

    with pytest.raises(
        ExtractionError, match=r"expected exactly one image in the archive, found 'README\.txt'"
    ):
        extract_image(volumes, tmp_path / "stage")
    with pytest.raises(ExtractionError, match=r"expected one image named 'other\.raw'"):
        extract_image(volumes, tmp_path / "stage", image_name="other.raw")

    image = extract_image(volumes, tmp_path / "stage", image_name="disk.raw")

    assert image.path == tmp_path / "stage" / "disk.raw"
    assert image.path.read_bytes() == IMAGE


def test_a_new_extraction_replaces_the_previous_image(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "disk.qcow2").write_bytes(b"an older version")
    volumes = write_volumes(tmp_path / "cache", "disk.7z", archive_bytes({"disk.qcow2": IMAGE}), 40_000)

    extract_image(volumes, stage)

    assert (stage / "disk.qcow2").read_bytes() == IMAGE
    assert _leftovers(stage) == ["disk.qcow2"]


def test_garbage_is_not_an_archive(tmp_path: Path) -> None:
    volumes = write_volumes(tmp_path / "cache", "junk.7z", os.urandom(5000), 2000)

    with pytest.raises(ExtractionError, match=r"junk\.7z: cannot extract"):
        extract_image(volumes, tmp_path / "stage")


@pytest.mark.parametrize("size", [-1, None, 1, 7, 10, 11, 1000])
def test_reads_of_joined_volumes_match_the_concatenation(tmp_path: Path, size: int | None) -> None:
    pieces = [bytes(range(start, start + 10)) for start in (0, 10, 20)]
    volumes = []
    for number, piece in enumerate(pieces, start=1):
        volume = tmp_path / f"image.7z.{number:03d}"
        volume.write_bytes(piece)
        volumes.append(volume)
    joined = b"".join(pieces)
    with ConcatenatedVolumes(volumes) as reader:
        reader.seek(3)
        read = b""
        while chunk := reader.read(size):
            read += chunk
        assert read == joined[3:]
        assert reader.tell() == len(joined)
