"""Stage one template version: fetch it from the MGTR, extract its image, and describe its registration.

The image goes to ``<staging root>/<template key>/<version>/<image file>``, which the staging HTTP
server publishes; versions beyond the catalog's limit are removed from staging afterwards.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from meca.mgtr.catalog import Catalog
from meca.mgtr.extract import ExtractedImage, extract_image
from meca.mgtr.plan import TemplateWork
from meca.mgtr.publish import StagingSettings
from meca.mgtr.register import ImageToRegister
from meca.mgtr.transfer import fetch_template
from meca.mgtr.versions import version_sort_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagedTemplate:
    """A template version ready to be registered.

    :param image: what to register (the same for every region).
    :param extracted: the staged image file.
    :param bytes_fetched: bytes received from the MGTR in this run.
    :param bytes_reused: volume bytes already in the cache.
    """

    image: ImageToRegister
    extracted: ExtractedImage
    bytes_fetched: int
    bytes_reused: int


def prune_staging(folder: Path, keep: int) -> list[str]:
    """Remove the oldest version folders of one template's staging folder beyond the newest ``keep``.

    :param folder: ``<staging root>/<template key>``.
    :param keep: how many versions to keep.
    :return: the versions removed.
    """
    versions = sorted(
        (p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=version_sort_key
    )
    old = versions[:-keep] if len(versions) > keep else []
    for version in old:
        shutil.rmtree(folder / version)
    return old


def stage_template(
    work: TemplateWork,
    catalog: Catalog,
    staging: StagingSettings,
    *,
    connections: int = 4,
    bandwidth_bytes_s: float | None = None,
) -> StagedTemplate:
    """Fetch, verify and extract ``work``'s version, and build its registration.

    :param work: the template version to stage.
    :param catalog: the catalog (MGTR Connection, OS type mapping).
    :param staging: where images are staged and served.
    :param connections: parallel SSH connections for the fetch.
    :param bandwidth_bytes_s: the link's cap in bytes per second, ``None`` for none.
    :raises TemplateFetchError: when the fetch fails (unsafe name, corrupted volume, ...).
    :raises ValueError: when ``config.ini`` or the manifest is malformed.
    :raises ExtractionError: when the archive is incomplete, unsafe or does not match the manifest.
    """
    fetched = fetch_template(
        catalog.mgtr_conn_id,
        work.remote_dir,
        staging.cache,
        connections=connections,
        bandwidth_bytes_s=bandwidth_bytes_s,
    )
    config, manifest = fetched.config, fetched.manifest
    log.info(
        "%s: %d bytes fetched, %d reused from the cache, in %.1f s",
        work.remote_dir,
        fetched.bytes_fetched,
        fetched.bytes_reused,
        fetched.seconds,
    )
    extracted = extract_image(
        fetched.volumes,
        staging.root / work.key / work.version,
        image_name=config.image or (manifest.image_name if manifest else None),
        expected_sha256=manifest.image_sha256 if manifest else None,
    )
    removed = prune_staging(staging.root / work.key, work.keep_versions)
    if removed:
        log.info("%s: removed staged version(s) %s", work.path, ", ".join(removed))
    image = ImageToRegister(
        template_path=work.path,
        version=work.version,
        name=f"{config.name} {work.version}",
        display_text=f"{config.description} ({work.version})",
        os_type=catalog.os_type_description(config.os_type),
        format=config.format,
        hypervisor=config.hypervisor,
        url=staging.url_of(extracted.path),
        sha256=extracted.sha256,
        keep_versions=work.keep_versions,
        password_enabled=config.password_enabled,
        requires_hvm=config.requires_hvm,
        is_extractable=config.is_extractable,
        bits=config.bits,
        details=dict(config.details),
    )
    return StagedTemplate(
        image=image,
        extracted=extracted,
        bytes_fetched=fetched.bytes_fetched,
        bytes_reused=fetched.bytes_reused,
    )
