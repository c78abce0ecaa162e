"""Helpers of the MGTR transfer tests: publish a random template, client settings for a server."""

from __future__ import annotations

import os
from pathlib import Path

from meca.mgtr.layout import TemplateConfig
from meca.mgtr.sftp_connection import SftpSettings
from mgtr_repository.publish import publish
from mgtr_repository.server import MgtrServerHandle

VOLUME_SIZE = 256 * 1024
IMAGE_SIZE = 4 * VOLUME_SIZE - 5000
TEMPLATE = "MGTR/common/linux/CentOS/01.00.00.00"


def template_config(name: str = "CentOS-6") -> TemplateConfig:
    return TemplateConfig(
        name=name,
        version="01.00.00.00",
        os_type="CentOS 6.10 (64-bit)",
        format="QCOW2",
        hypervisor="KVM",
        description="CentOS 6 test image",
    )


def publish_template(
    root: Path,
    relative: str,
    *,
    image_size: int = IMAGE_SIZE,
    volume_size: int = VOLUME_SIZE,
    manifest: bool = True,
) -> tuple[Path, list[Path]]:
    """Publish a random image as ``root/relative``; return the image and its volumes."""
    image = root.parent / f"{relative.replace('/', '_')}.qcow2"
    image.write_bytes(os.urandom(image_size))
    target = root / relative
    return image, publish(
        image, target, template_config(), volume_size=volume_size, compression="copy", manifest=manifest
    )


def settings_for(server: MgtrServerHandle, *, port: int | None = None) -> SftpSettings:
    """Client settings for ``server``, optionally through a proxy listening on ``port``."""
    port = server.port if port is None else port
    return SftpSettings(
        host=server.host,
        port=port,
        username=server.username,
        known_hosts=f"[{server.host}]:{port} {server.host_public_key}",
        key_file=str(server.private_key_path),
    )
