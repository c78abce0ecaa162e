"""Templates: their ``listTemplates`` shape, checksum syntax, and the real HTTP download.

A registered template is downloaded once over HTTP (streamed and hashed, never kept) and the
result applies to every zone it was registered in.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from cloudstack_simulator.clock import cs_time
from cloudstack_simulator.infrastructure import Zone

ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-224": "sha224",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_CHECKSUM = re.compile(r"^(?:\{(?P<algo>[A-Za-z0-9-]+)\})?(?P<hex>[0-9a-fA-F]+)$")
READY, DOWNLOADING, FAILED = "Ready", "Downloading", "Error"
CHUNK = 64 * 1024


def parse_checksum(value: str) -> tuple[str, str]:
    """Split ``{SHA-256}ab12…`` (or plain hex, meaning MD5) into (hashlib name, lower-case hex).

    :raises ValueError: on an unknown algorithm, non-hex digits or a length not matching it.
    """
    match = _CHECKSUM.match(value.strip())
    if not match:
        raise ValueError(f"Checksum {value!r} is not hexadecimal, optionally prefixed by {{ALGORITHM}}")
    algo = (match["algo"] or "MD5").upper()
    if algo not in ALGORITHMS:
        raise ValueError(f"Unsupported checksum algorithm {algo}; supported: {sorted(ALGORITHMS)}")
    name, digest = ALGORITHMS[algo], match["hex"].lower()
    if len(digest) != hashlib.new(name).digest_size * 2:
        raise ValueError(f"Checksum {digest} has the wrong length for {algo}")
    return name, digest


@dataclass
class Template:
    """A template, present in some zones.

    :param id: uuid.
    :param name: name.
    :param display_text: description.
    :param os_type_id: uuid of its OS type.
    :param os_type_name: description of its OS type.
    :param format: image format.
    :param hypervisor: hypervisor type.
    :param url: where it comes from.
    :param created: epoch seconds.
    :param zones: zones holding it.
    :param state: ``Ready``, ``Downloading`` or ``Error``.
    :param virtual_size: root disk bytes of VMs made from it (known once downloaded).
    :param physical_size: bytes on secondary storage (known once downloaded).
    """

    id: str
    name: str
    display_text: str
    os_type_id: str
    os_type_name: str
    format: str
    hypervisor: str
    url: str
    created: float
    zones: list[Zone]
    state: str = READY
    virtual_size: int = 0
    physical_size: int = 0
    featured: bool = False
    public: bool = False
    extractable: bool = False
    password_enabled: bool = False
    checksum: str | None = None
    percent: int = 0
    error: str = ""
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """Whether VMs can be made from it."""
        return self.state == READY

    def status(self) -> str:
        """The ``status`` string (``TemplateJoinDaoImpl.getTemplateStatus``)."""
        if self.state == READY:
            return "Download Complete"
        if self.state == DOWNLOADING:
            return f"{self.percent}% Downloaded"
        return self.error

    def as_dicts(self, owner: dict[str, Any], tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One ``listTemplates`` entry per zone, as the real API lists them.

        :param owner: the ``account``/``domainid``/``domain`` keys.
        :param tags: resource tags in API shape.
        """
        download_state = {READY: "DOWNLOADED", DOWNLOADING: "DOWNLOAD_IN_PROGRESS"}.get(
            self.state, "DOWNLOAD_ERROR"
        )
        out = []
        for zone in self.zones:
            entry: dict[str, Any] = {
                "id": self.id,
                "name": self.name,
                "displaytext": self.display_text,
                "ispublic": self.public,
                "created": cs_time(self.created),
                "isready": self.ready,
                "passwordenabled": self.password_enabled,
                "format": self.format,
                "isfeatured": self.featured,
                "crossZones": len(self.zones) > 1,
                "ostypeid": self.os_type_id,
                "ostypename": self.os_type_name,
                "account": owner["account"],
                "zoneid": zone.id,
                "zonename": zone.spec.name,
                "status": self.status(),
            }
            if self.ready:
                entry["size"] = self.virtual_size
                entry["physicalsize"] = self.physical_size
            entry.update(
                {
                    "templatetype": "USER",
                    "hypervisor": self.hypervisor,
                    "domain": owner["domain"],
                    "domainid": owner["domainid"],
                    "isextractable": self.extractable,
                    "details": dict(self.details),
                    "downloaddetails": [
                        {
                            "downloadState": download_state,
                            "datastore": f"{zone.spec.name}-secondary",
                            "downloadPercent": str(100 if self.ready else self.percent),
                        }
                    ],
                    "bits": 0,
                    "sshkeyenabled": False,
                    "isdynamicallyscalable": False,
                    "directdownload": False,
                    "deployasis": False,
                    "requireshvm": True,
                    "url": self.url,
                    "tags": tags,
                }
            )
            if self.checksum is not None:
                entry["checksum"] = self.checksum
            out.append(entry)
        return out


async def download(template: Template, checksum: tuple[str, str] | None, failing: Callable[[], bool]) -> None:
    """Download ``template.url``, hashing as it streams, and leave the template Ready or in error.

    :param template: updated in place (``percent``, then ``state`` and sizes or ``error``).
    :param checksum: (hashlib name, expected hex), or ``None`` not to verify.
    :param failing: asked at the end whether the ``template_download_failure`` fault is on.
    """
    hasher = hashlib.new(checksum[0] if checksum else "md5")
    received = 0
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(template.url) as response:
            if response.status != 200:
                template.state, template.error = (
                    FAILED,
                    f"Download failed: HTTP Server returned {response.status} (expected 200 OK)",
                )
                return
            total = response.content_length or 0
            async for chunk in response.content.iter_chunked(CHUNK):
                hasher.update(chunk)
                received += len(chunk)
                if total:
                    template.percent = min(99, received * 100 // total)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        template.state, template.error = FAILED, f"Download failed: {type(exc).__name__}: {exc}"
        return
    if checksum is not None and hasher.hexdigest() != checksum[1]:
        template.state, template.error = FAILED, "Failed post download script: checksum mismatch"
        return
    if failing():
        template.state = FAILED
        template.error = "Failed post download script: secondary storage VM reported an I/O error"
        return
    template.state, template.percent = READY, 100
    template.virtual_size = template.physical_size = received
