"""The MGTR template folder: ``config.ini``, ``manifest.json`` and the numbered 7z volumes.

A template folder (any path in the repository, e.g. ``/MGTR/common/linux/CentOS/01.00.00.00/``)
holds ``config.ini`` (:class:`TemplateConfig`), optionally ``manifest.json`` (:class:`Manifest`) and
the volumes ``<archive>.7z.001``, ``.002``, ... of one multi-volume 7z archive holding the image.
The formats are documented in ``docs/mgtr.md``.
"""

from __future__ import annotations

import configparser
import json
import re
from dataclasses import dataclass, field
from typing import Any

CONFIG_NAME = "config.ini"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CONFIG_SECTION = "template"
IMAGE_FORMATS = ("QCOW2", "RAW", "VHD", "VHDX", "OVA", "ISO")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VOLUME = re.compile(r"^(?P<archive>[^/\\]+\.7z)\.(?P<number>[0-9]{3,})$")
_TRUE = ("true", "yes", "1", "on")
_FALSE = ("false", "no", "0", "off")


@dataclass(frozen=True)
class TemplateConfig:
    """The ``[template]`` section of a template folder's ``config.ini``.

    :param name: the template name registered in CloudStack.
    :param version: the template version (usually the folder name, e.g. ``01.00.00.00``).
    :param os_type: the CloudStack OS type *description* (``listOsTypes``), looked up by name.
    :param format: the image format: one of :data:`IMAGE_FORMATS`, upper case.
    :param hypervisor: the CloudStack hypervisor name (``KVM``, ``XenServer``, ``VMware``, ...).
    :param description: the display text.
    :param image: the image's file name inside the archive (optional: the only entry otherwise).
    :param password_enabled: ``passwordenabled`` of registerTemplate.
    :param requires_hvm: ``requireshvm`` of registerTemplate.
    :param is_extractable: ``isextractable`` of registerTemplate.
    :param bits: 32 or 64.
    :param details: ``[details]`` section: template details (``details[0].key=value``).
    """

    name: str
    version: str
    os_type: str
    format: str
    hypervisor: str
    description: str
    image: str | None = None
    password_enabled: bool = False
    requires_hvm: bool = True
    is_extractable: bool = False
    bits: int = 64
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VolumeDigest:
    """One volume's size and SHA-256 in a manifest.

    :param size: bytes.
    :param sha256: lower-case hex digest.
    """

    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A template folder's ``manifest.json``: the SHA-256 of each volume and of the image.

    :param volumes: volume file name → its size and SHA-256.
    :param image_name: the image's file name (inside the archive).
    :param image_size: the image's size in bytes.
    :param image_sha256: the image's SHA-256 (lower-case hex).
    """

    volumes: dict[str, VolumeDigest]
    image_name: str
    image_size: int
    image_sha256: str

    def to_json(self) -> str:
        """The manifest as the JSON text :func:`parse_manifest` reads."""
        document = {
            "format": MANIFEST_FORMAT,
            "image": {"name": self.image_name, "size": self.image_size, "sha256": self.image_sha256},
            "volumes": {
                name: {"size": digest.size, "sha256": digest.sha256}
                for name, digest in sorted(self.volumes.items(), key=lambda item: volume_sort_key(item[0]))
            },
        }
        return json.dumps(document, indent=2) + "\n"


def volume_number(name: str) -> int | None:
    """The volume number of ``NAME.7z.NNN`` (at least three digits), else ``None``.

    :param name: a file name.
    """
    match = _VOLUME.match(name)
    return int(match["number"]) if match else None


def volume_sort_key(name: str) -> tuple[str, int]:
    """Sort key putting volumes in numeric order (``.1000`` after ``.999``).

    :param name: a volume file name.
    :raises ValueError: when ``name`` is not a volume name.
    """
    match = _VOLUME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a 7z volume name (NAME.7z.NNN)")
    return match["archive"], int(match["number"])


def check_volume_set(names: list[str], *, source: str) -> list[str]:
    """Check that volume names form one complete archive ``.001``..``.N``; return them in order.

    :param names: volume file names.
    :param source: the folder they come from, for error messages.
    :raises ValueError: naming the folder, when there are none, several archives or a gap.
    """
    if not names:
        raise ValueError(f"{source}: no 7z volume (NAME.7z.001, ...) found")
    ordered = sorted(names, key=volume_sort_key)
    archives = sorted({volume_sort_key(name)[0] for name in ordered})
    if len(archives) > 1:
        raise ValueError(f"{source}: volumes of several archives: {', '.join(archives)}")
    numbers = [volume_sort_key(name)[1] for name in ordered]
    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
    if missing:
        listed = ", ".join(f"{archives[0]}.{number:03d}" for number in missing)
        raise ValueError(f"{source}: missing volume(s) {listed}")
    return ordered


def _get(section: configparser.SectionProxy, key: str, *, source: str, default: str | None = None) -> str:
    value = section.get(key, fallback=default)
    if value is None or not value.strip():
        raise ValueError(f"{source}: [{section.name}] {key} is missing or empty")
    return value.strip()


def _get_bool(section: configparser.SectionProxy, key: str, default: bool, *, source: str) -> bool:
    raw = section.get(key)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{source}: [{section.name}] {key} = {raw!r} is not a boolean (true/false)")


def parse_config_ini(text: str, *, source: str) -> TemplateConfig:
    """Read a template folder's ``config.ini``.

    :param text: the file's text.
    :param source: where it comes from (e.g. the remote path), named in error messages.
    :raises ValueError: naming ``source`` and the key, when the file is malformed, a required key
        is missing or a value is invalid.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=source)
    except configparser.Error as error:
        raise ValueError(f"{source}: not a valid INI file: {error}") from error
    if not parser.has_section(CONFIG_SECTION):
        raise ValueError(f"{source}: the [{CONFIG_SECTION}] section is missing")
    section = parser[CONFIG_SECTION]
    image_format = _get(section, "format", source=source).upper()
    if image_format not in IMAGE_FORMATS:
        raise ValueError(
            f"{source}: [{CONFIG_SECTION}] format = {image_format!r} is not one of {', '.join(IMAGE_FORMATS)}"
        )
    bits_text = _get(section, "bits", source=source, default="64")
    if bits_text not in ("32", "64"):
        raise ValueError(f"{source}: [{CONFIG_SECTION}] bits = {bits_text!r} is not 32 or 64")
    name = _get(section, "name", source=source)
    image = section.get("image", fallback="").strip() or None
    if image is not None and ("/" in image or "\\" in image or image in (".", "..")):
        raise ValueError(f"{source}: [{CONFIG_SECTION}] image = {image!r} must be a plain file name")
    details = dict(parser["details"]) if parser.has_section("details") else {}
    return TemplateConfig(
        name=name,
        version=_get(section, "version", source=source),
        os_type=_get(section, "os_type", source=source),
        format=image_format,
        hypervisor=_get(section, "hypervisor", source=source),
        description=section.get("description", fallback="").strip() or name,
        image=image,
        password_enabled=_get_bool(section, "password_enabled", False, source=source),
        requires_hvm=_get_bool(section, "requires_hvm", True, source=source),
        is_extractable=_get_bool(section, "is_extractable", False, source=source),
        bits=int(bits_text),
        details=details,
    )


def render_config_ini(config: TemplateConfig) -> str:
    """The ``config.ini`` text describing ``config`` (what :func:`parse_config_ini` reads back).

    :param config: the template description.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    values = {
        "name": config.name,
        "version": config.version,
        "os_type": config.os_type,
        "format": config.format,
        "hypervisor": config.hypervisor,
        "description": config.description,
        "bits": str(config.bits),
        "password_enabled": str(config.password_enabled).lower(),
        "requires_hvm": str(config.requires_hvm).lower(),
        "is_extractable": str(config.is_extractable).lower(),
    }
    if config.image is not None:
        values["image"] = config.image
    parser[CONFIG_SECTION] = values
    if config.details:
        parser["details"] = dict(config.details)
    lines: list[str] = []
    for section_name in parser.sections():
        lines.append(f"[{section_name}]")
        lines.extend(f"{key} = {value}" for key, value in parser[section_name].items())
        lines.append("")
    return "\n".join(lines)


def _field(mapping: dict[str, Any], key: str, kind: type, *, where: str, source: str) -> Any:
    value = mapping.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{source}: {where}{key} is missing or not a {kind.__name__}")
    return value


def _digest(mapping: Any, *, where: str, source: str) -> VolumeDigest:
    if not isinstance(mapping, dict):
        raise ValueError(f"{source}: {where.rstrip('.')} is not an object")
    size = _field(mapping, "size", int, where=where, source=source)
    sha256 = _field(mapping, "sha256", str, where=where, source=source).lower()
    if size < 0:
        raise ValueError(f"{source}: {where}size is negative")
    if not _SHA256.match(sha256):
        raise ValueError(f"{source}: {where}sha256 is not 64 hex digits")
    return VolumeDigest(size=size, sha256=sha256)


def parse_manifest(text: str, *, source: str) -> Manifest:
    """Read a template folder's ``manifest.json``.

    :param text: the file's text.
    :param source: where it comes from, named in error messages.
    :raises ValueError: naming ``source`` and the key, when the JSON or a field is invalid.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{source}: the manifest is not a JSON object")
    if document.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{source}: format is {document.get('format')!r}, expected {MANIFEST_FORMAT}")
    image = document.get("image")
    if not isinstance(image, dict):
        raise ValueError(f"{source}: image is missing or not an object")
    image_name = _field(image, "name", str, where="image.", source=source)
    if "/" in image_name or "\\" in image_name or image_name in ("", ".", ".."):
        raise ValueError(f"{source}: image.name {image_name!r} must be a plain file name")
    image_digest = _digest(image, where="image.", source=source)
    volumes = document.get("volumes")
    if not isinstance(volumes, dict) or not volumes:
        raise ValueError(f"{source}: volumes is missing, empty or not an object")
    parsed = {
        name: _digest(entry, where=f"volumes.{name}.", source=source) for name, entry in volumes.items()
    }
    bad = [name for name in parsed if volume_number(name) is None]
    if bad:
        raise ValueError(f"{source}: volumes: {', '.join(map(repr, bad))} not volume names (NAME.7z.NNN)")
    check_volume_set(list(parsed), source=source)
    return Manifest(
        volumes=parsed, image_name=image_name, image_size=image_digest.size, image_sha256=image_digest.sha256
    )
