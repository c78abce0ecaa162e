from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import py7zr
import pytest

from meca.mgtr.layout import parse_config_ini, parse_manifest
from mgtr_repository.publish import main, parse_size

REPO = Path(__file__).resolve().parents[2]


def test_size_suffixes_are_powers_of_1024() -> None:
    assert (parse_size("50M"), parse_size("512k"), parse_size("7")) == (50 * 1024**2, 512 * 1024, 7)
    with pytest.raises(ValueError, match="not a positive size"):
        parse_size("0M")


@pytest.mark.parametrize("compression", ["copy", "lzma2"])
def test_published_volumes_hold_the_image(tmp_path: Path, compression: str) -> None:
    image = tmp_path / "CentOS-6-x86_64.qcow2"
    image.write_bytes(os.urandom(300_000) + bytes(200_000))
    target = tmp_path / "root" / "MGTR" / "linux" / "CentOS" / "01.00.00.00"
    command = [sys.executable, "-m", "mgtr_repository.publish", str(image), "--to", str(target)]
    command += ["--volume-size", "100K", "--name", "CentOS-6", "--os-type", "CentOS 6.10 (64-bit)"]
    command += ["--version", "01.00.00.00", "--compression", compression]

    subprocess.run(command, check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": f"{REPO}/plugins:{REPO}"})

    config = parse_config_ini((target / "config.ini").read_text(), source="config.ini")
    manifest = parse_manifest((target / "manifest.json").read_text(), source="manifest.json")
    volumes = sorted(target.glob("CentOS-6-x86_64.7z.*"))
    assert (config.name, config.image, config.format) == ("CentOS-6", image.name, "QCOW2")
    assert sorted(manifest.volumes) == [path.name for path in volumes]
    assert manifest.image_sha256 == hashlib.sha256(image.read_bytes()).hexdigest()
    for path in volumes:
        assert manifest.volumes[path.name].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert all(path.stat().st_size == 100 * 1024 for path in volumes[:-1])
    joined = tmp_path / "joined.7z"
    joined.write_bytes(b"".join(path.read_bytes() for path in volumes))
    with py7zr.SevenZipFile(joined) as archive:
        archive.extractall(tmp_path / "out")
    assert (tmp_path / "out" / image.name).read_bytes() == image.read_bytes()


@pytest.mark.skipif(shutil.which("7z") is None, reason="7z (Debian p7zip-full) is not installed")
def test_7z_reads_the_volumes(tmp_path: Path) -> None:
    image = tmp_path / "img.raw"
    image.write_bytes(os.urandom(250_000))
    target = tmp_path / "t"
    arguments = ["--volume-size", "64K", "--name", "n", "--os-type", "o", "--version", "1", "--no-manifest"]
    main([str(image), "--to", str(target), *arguments])

    subprocess.run(
        ["7z", "x", "-y", f"-o{tmp_path / 'out'}", str(target / "img.7z.001")],
        check=True,
        capture_output=True,
    )

    assert (tmp_path / "out" / "img.raw").read_bytes() == image.read_bytes()
    assert not (target / "manifest.json").exists()


def test_existing_target_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "img.raw"
    image.write_bytes(b"x")
    (tmp_path / "t").mkdir()

    code = main([str(image), "--to", str(tmp_path / "t"), "--name", "n", "--os-type", "o", "--version", "1"])

    assert code == 1
    assert "already exists" in capsys.readouterr().err
