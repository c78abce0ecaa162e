"""Register a staged template image in one CloudStack region, idempotently, and prune old versions.

The template carries its origin in its ``details``: ``mgtr_path`` (the catalog path) and
``mgtr_version``. That is how a later run finds it again (``listTemplates templatefilter=self``):
a template of the same path with the same SHA-256 that is Ready is not registered again; one still
downloading is waited for; one whose download failed is deleted and registered afresh.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from meca.cloudstack.hook import CloudStackHook
from meca.mgtr.versions import version_sort_key

log = logging.getLogger(__name__)

PATH_DETAIL = "mgtr_path"
VERSION_DETAIL = "mgtr_version"
ERROR_STATES = ("DOWNLOAD_ERROR", "ABANDONED", "UPLOAD_ERROR")


class RegistrationError(RuntimeError):
    """The template cannot be registered in a region (unknown OS type, download failed, ...)."""


@dataclass(frozen=True)
class ImageToRegister:
    """A staged image and what CloudStack needs to register it (JSON-ready, passed through XCom).

    :param template_path: the catalog's MGTR path of the template.
    :param version: the template version.
    :param name: the CloudStack template name.
    :param display_text: the CloudStack display text.
    :param os_type: the CloudStack OS type description to look up.
    :param format: the image format (``QCOW2``, ...).
    :param hypervisor: the hypervisor (``KVM``, ...).
    :param url: where the regions download the image from.
    :param sha256: the image's SHA-256, lower-case hex.
    :param keep_versions: how many versions of this template the region keeps.
    :param password_enabled: ``passwordenabled``.
    :param requires_hvm: ``requireshvm``.
    :param is_extractable: ``isextractable``.
    :param bits: 32 or 64.
    :param details: extra template details from ``config.ini``.
    """

    template_path: str
    version: str
    name: str
    display_text: str
    os_type: str
    format: str
    hypervisor: str
    url: str
    sha256: str
    keep_versions: int
    password_enabled: bool = False
    requires_hvm: bool = True
    is_extractable: bool = False
    bits: int = 64
    details: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for XCom)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageToRegister:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass(frozen=True)
class Registration:
    """Where a registration stands after :func:`start_registration`.

    :param template_id: the template's uuid in the region.
    :param ready: already Ready (nothing to wait for).
    :param registered: a ``registerTemplate`` call was made now.
    """

    template_id: str
    ready: bool
    registered: bool


def normalise_checksum(value: str | None) -> str | None:
    """A checksum as lower-case hex without its ``{ALGORITHM}`` prefix (``None`` stays ``None``)."""
    if not value:
        return None
    return value.rsplit("}", 1)[-1].strip().lower()


def failed(entry: dict[str, Any]) -> bool:
    """Whether a ``listTemplates`` entry shows a download that ended in error."""
    states = {d.get("downloadState") for d in entry.get("downloaddetails") or []}
    if states & set(ERROR_STATES):
        return True
    status = str(entry.get("status") or "").lower()
    return not entry.get("isready") and ("fail" in status or "error" in status)


def templates_of(hook: CloudStackHook, template_path: str) -> dict[str, dict[str, Any]]:
    """The region's templates registered from ``template_path``, by uuid (one entry per template).

    :param hook: the region's hook.
    :param template_path: the catalog's MGTR path.
    """
    found: dict[str, dict[str, Any]] = {}
    for entry in hook.list("listTemplates", templatefilter="self"):
        if (entry.get("details") or {}).get(PATH_DETAIL) == template_path:
            found.setdefault(entry["id"], entry)
    return found


def os_type_id(hook: CloudStackHook, description: str) -> str:
    """The uuid of the OS type whose description is ``description`` (case-insensitive).

    :raises RegistrationError: naming the region and a few known descriptions, when there is none.
    """
    os_types = hook.list("listOsTypes")
    for entry in os_types:
        if str(entry.get("description", "")).casefold() == description.casefold():
            return str(entry["id"])
    known = sorted(str(entry.get("description")) for entry in os_types)
    raise RegistrationError(
        f"region {hook.region.name}: no OS type {description!r} (map the config.ini os_type to one of "
        f"the region's descriptions in the catalog's os_types); the region knows {len(known)}, "
        f"e.g. {', '.join(known[:8])}"
    )


def start_registration(hook: CloudStackHook, image: ImageToRegister) -> Registration:
    """Make sure the region has (or is downloading) this image; register it only when needed.

    :param hook: the region's hook.
    :param image: what to register.
    :raises RegistrationError: when the OS type is unknown in the region.
    :raises CloudStackError: when a call fails.
    """
    region = hook.region.name
    for template_id, entry in templates_of(hook, image.template_path).items():
        if normalise_checksum(entry.get("checksum")) != image.sha256:
            continue
        if entry.get("isready"):
            log.info("region %s: %s is already Ready as %s: skipped", region, image.name, template_id)
            return Registration(template_id=template_id, ready=True, registered=False)
        if not failed(entry):
            log.info("region %s: %s is still downloading as %s: waiting", region, image.name, template_id)
            return Registration(template_id=template_id, ready=False, registered=False)
        log.info(
            "region %s: deleting %s, whose download failed: %s", region, template_id, entry.get("status")
        )
        hook.run_job("deleteTemplate", id=template_id)
    details = {**image.details, PATH_DETAIL: image.template_path, VERSION_DETAIL: image.version}
    answer = hook.call(
        "registerTemplate",
        name=image.name,
        displaytext=image.display_text,
        format=image.format,
        hypervisor=image.hypervisor,
        url=image.url,
        zoneid="-1",
        ostypeid=os_type_id(hook, image.os_type),
        checksum=f"{{SHA-256}}{image.sha256}",
        passwordenabled=image.password_enabled,
        requireshvm=image.requires_hvm,
        isextractable=image.is_extractable,
        bits=image.bits,
        details=[details],
    )
    template_id = str(answer["template"][0]["id"])
    log.info("region %s: registered %s from %s as %s", region, image.name, image.url, template_id)
    return Registration(template_id=template_id, ready=False, registered=True)


def prune_versions(hook: CloudStackHook, template_path: str, keep: int) -> list[str]:
    """Delete the region's oldest versions of a template beyond the newest ``keep``.

    :param hook: the region's hook.
    :param template_path: the catalog's MGTR path.
    :param keep: how many versions to keep.
    :return: the names of the deleted templates.
    """
    templates = templates_of(hook, template_path)
    versions = sorted(
        {str((entry.get("details") or {}).get(VERSION_DETAIL, "")) for entry in templates.values()},
        key=version_sort_key,
        reverse=True,
    )
    old = set(versions[keep:])
    deleted = []
    for template_id, entry in templates.items():
        if str((entry.get("details") or {}).get(VERSION_DETAIL, "")) in old:
            hook.run_job("deleteTemplate", id=template_id)
            deleted.append(str(entry.get("name")))
            log.info(
                "region %s: deleted %s (%s), beyond %d version(s)",
                hook.region.name,
                entry["name"],
                template_id,
                keep,
            )
    return sorted(deleted)
