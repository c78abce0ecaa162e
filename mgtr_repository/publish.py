"""Publish an image file as an MGTR template folder: 7z volumes, ``config.ini`` and ``manifest.json``.

``python -m mgtr_repository.publish IMAGE --to ROOT/MGTR/linux/CentOS/01.00.00.00 --volume-size 50M
--name CentOS-6 --os-type "CentOS 6.10 (64-bit)" --format QCOW2 --hypervisor KVM --version 01.00.00.00
[--description TEXT] [--compression copy|lzma2] [--no-manifest]``

The folder is built next to the target under a temporary name and renamed into place at the end,
so a reader never sees half a template. The archive is ``<image stem>.7z``, split into volumes
``.001``, ``.002``, ... of exactly ``--volume-size`` bytes (the last one smaller), like ``7z -v``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path

import multivolumefile
import py7zr

from meca.mgtr.layout import (
    CONFIG_NAME,
    IMAGE_FORMATS,
    MANIFEST_NAME,
    Manifest,
    TemplateConfig,
    VolumeDigest,
    render_config_ini,
    volume_number,
    volume_sort_key,
)

_SIZE = re.compile(r"^([0-9]+)([KMG]?)$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
COMPRESSION = {
    "copy": [{"id": py7zr.FILTER_COPY}],
    "lzma2": [{"id": py7zr.FILTER_LZMA2, "preset": 1}],
}
HASH_CHUNK = 1024 * 1024


def parse_size(text: str) -> int:
    """``50M`` → 52428800 (K, M, G are powers of 1024, as in ``7z -v50m``).

    :param text: a byte count with an optional K/M/G suffix.
    :raises ValueError: when it is not one, or is zero.
    """
    match = _SIZE.match(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"volume size {text!r} is not a positive size such as 50M, 512K or 1G")
    return int(match[1]) * _UNITS[match[2].upper()]


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, streamed.

    :param path: the file.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _digest(path: Path) -> VolumeDigest:
    return VolumeDigest(size=path.stat().st_size, sha256=sha256_file(path))


def publish(
    image: Path,
    target: Path,
    config: TemplateConfig,
    *,
    volume_size: int,
    compression: str = "lzma2",
    manifest: bool = True,
) -> list[Path]:
    """Write the template folder ``target`` for ``image``; return its volumes in order.

    :param image: the image file.
    :param target: the template folder to create (must not exist yet).
    :param config: the template description written to ``config.ini`` (its ``image`` is set to
        the image's file name).
    :param volume_size: bytes per volume.
    :param compression: ``"copy"`` (store) or ``"lzma2"``.
    :param manifest: write ``manifest.json`` (SHA-256 of each volume and of the image).
    :raises FileExistsError: when ``target`` exists.
    :raises ValueError: for an unknown compression.
    """
    if not image.is_file():
        raise FileNotFoundError(f"image {image} is not a file")
    if target.exists():
        raise FileExistsError(f"{target} already exists; publish each version in a new folder")
    if compression not in COMPRESSION:
        raise ValueError(f"compression {compression!r} is not one of {', '.join(COMPRESSION)}")
    building = target.with_name(f".{target.name}.publishing")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        archive = building / f"{image.stem}.7z"
        with (
            multivolumefile.MultiVolume(archive, mode="wb", volume=volume_size, ext_digits=3) as volumes,
            py7zr.SevenZipFile(volumes, "w", filters=COMPRESSION[compression]) as seven_zip,
        ):
            seven_zip.write(image, arcname=image.name)
        names = sorted(
            (path.name for path in building.iterdir() if volume_number(path.name) is not None),
            key=volume_sort_key,
        )
        config_with_image = TemplateConfig(**{**config.__dict__, "image": image.name})
        (building / CONFIG_NAME).write_text(render_config_ini(config_with_image))
        if manifest:
            document = Manifest(
                volumes={name: _digest(building / name) for name in names},
                image_name=image.name,
                image_size=image.stat().st_size,
                image_sha256=sha256_file(image),
            )
            (building / MANIFEST_NAME).write_text(document.to_json())
        building.rename(target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return [target / name for name in names]


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code.

    :param argv: arguments (default: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(
        prog="python -m mgtr_repository.publish", description="Publish an image as an MGTR template folder."
    )
    parser.add_argument("image", type=Path, help="the image file (qcow2, raw, vhd, ova, iso)")
    parser.add_argument("--to", type=Path, required=True, help="the template folder to create")
    parser.add_argument("--volume-size", default="50M", help="bytes per volume, e.g. 50M (default)")
    parser.add_argument("--name", required=True, help="template name")
    parser.add_argument("--os-type", required=True, help="CloudStack OS type description")
    parser.add_argument("--format", default="QCOW2", choices=IMAGE_FORMATS, type=str.upper)
    parser.add_argument("--hypervisor", default="KVM")
    parser.add_argument("--version", required=True, help="template version, e.g. 01.00.00.00")
    parser.add_argument("--description", default="", help="display text (default: the name)")
    parser.add_argument("--compression", default="lzma2", choices=sorted(COMPRESSION))
    parser.add_argument("--no-manifest", action="store_true", help="publish without manifest.json")
    args = parser.parse_args(argv)
    try:
        config = TemplateConfig(
            name=args.name,
            version=args.version,
            os_type=args.os_type,
            format=args.format,
            hypervisor=args.hypervisor,
            description=args.description or args.name,
        )
        volumes = publish(
            args.image,
            args.to,
            config,
            volume_size=parse_size(args.volume_size),
            compression=args.compression,
            manifest=not args.no_manifest,
        )
    except (OSError, ValueError) as error:
        print(f"publish: {error}", file=sys.stderr)
        return 1
    print(f"published {args.image} as {args.to} ({len(volumes)} volume(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
