"""The templates catalog (``include/templates_catalog/catalog.yaml``): what to replicate where.

.. code-block:: yaml

    mgtr_conn_id: meca_mgtr              # the sftp Connection of the MGTR (default meca_mgtr)
    staging_conn_id: meca_staging_http   # where images are served from (default meca_staging_http)
    keep_versions: 2                     # versions kept in each region (default 2)
    os_types:                            # config.ini os_type -> CloudStack OS type description
      CentOS 6: CentOS 6.10 (64-bit)
    templates:
      - path: /MGTR/common/linux/CentOS  # a folder whose sub-folders are the versions
        regions: all                     # or a list of region names (MECA-PolITO, ...)
        keep_versions: 3                 # optional, overrides the default

An ``os_type`` not in ``os_types`` is looked up in CloudStack as written in ``config.ini``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ALL_REGIONS = "all"
DEFAULT_KEEP_VERSIONS = 2
DEFAULT_MGTR_CONN_ID = "meca_mgtr"
DEFAULT_STAGING_CONN_ID = "meca_staging_http"
CATALOG_FILE = "catalog.yaml"
_TOP_KEYS = {"mgtr_conn_id", "staging_conn_id", "keep_versions", "os_types", "templates"}
_TEMPLATE_KEYS = {"path", "regions", "keep_versions"}
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class InvalidCatalog(ValueError):
    """The catalog is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class CatalogTemplate:
    """One template line of the catalog.

    :param path: the absolute MGTR folder holding the template's version folders.
    :param regions: region names, or ``None`` for every region of the federation.
    :param keep_versions: how many versions each region keeps (older ones are deleted).
    """

    path: str
    regions: tuple[str, ...] | None
    keep_versions: int

    @property
    def key(self) -> str:
        """A file-system-safe, unique name for the template: its path without the leading ``/``."""
        return "__".join(_KEY_CHARS.sub("_", part) for part in PurePosixPath(self.path).parts[1:])

    def target_regions(self, known: list[str]) -> list[str]:
        """The region names this template goes to, in the order of ``known``.

        :param known: the names of every region of the federation.
        :raises InvalidCatalog: when the catalog names a region that does not exist.
        """
        if self.regions is None:
            return list(known)
        unknown = sorted(set(self.regions) - set(known))
        if unknown:
            raise InvalidCatalog(
                f"template {self.path}: unknown region(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        return [name for name in known if name in self.regions]


@dataclass(frozen=True)
class Catalog:
    """The whole catalog.

    :param templates: the templates, in file order.
    :param os_types: ``config.ini`` OS type name → CloudStack OS type description.
    :param mgtr_conn_id: the ``sftp`` Connection of the MGTR.
    :param staging_conn_id: the Connection describing the staging HTTP server.
    """

    templates: tuple[CatalogTemplate, ...]
    os_types: dict[str, str] = field(default_factory=dict)
    mgtr_conn_id: str = DEFAULT_MGTR_CONN_ID
    staging_conn_id: str = DEFAULT_STAGING_CONN_ID

    def os_type_description(self, name: str) -> str:
        """The CloudStack OS type description for a ``config.ini`` OS type name."""
        return self.os_types.get(name, name)

    def template(self, path: str) -> CatalogTemplate:
        """The catalog entry of an MGTR path.

        :raises KeyError: when the catalog has no such template.
        """
        for entry in self.templates:
            if entry.path == path:
                return entry
        raise KeyError(f"the catalog has no template {path!r}")


def _keep(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidCatalog(f"{where}: keep_versions must be an integer >= 1 (got {value!r})")
    return value


def _template(entry: Any, default_keep: int, where: str) -> CatalogTemplate:
    if not isinstance(entry, dict):
        raise InvalidCatalog(f"{where}: must be a mapping with path and regions")
    unknown = sorted(set(entry) - _TEMPLATE_KEYS)
    if unknown:
        raise InvalidCatalog(f"{where}: unknown key(s) {unknown}; known: {sorted(_TEMPLATE_KEYS)}")
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidCatalog(f"{where}: path must be an absolute MGTR path (got {path!r})")
    pure = PurePosixPath(path)
    if ".." in pure.parts or len(pure.parts) < 2:
        raise InvalidCatalog(f"{where}: path {path!r} must name a folder below / without '..'")
    regions = entry.get("regions")
    if regions == ALL_REGIONS:
        names = None
    elif isinstance(regions, list) and regions and all(isinstance(r, str) and r for r in regions):
        names = tuple(regions)
    else:
        raise InvalidCatalog(f"{where}: regions must be 'all' or a non-empty list of region names")
    return CatalogTemplate(
        path=str(pure), regions=names, keep_versions=_keep(entry.get("keep_versions", default_keep), where)
    )


def parse_catalog(document: Any, *, source: str) -> Catalog:
    """Validate a parsed catalog document.

    :param document: the YAML document.
    :param source: where it comes from, named in error messages.
    :raises InvalidCatalog: on an unknown key, a wrong type, or a template listed twice.
    """
    if not isinstance(document, dict):
        raise InvalidCatalog(f"{source}: the catalog must be a mapping")
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise InvalidCatalog(f"{source}: unknown key(s) {unknown}; known: {sorted(_TOP_KEYS)}")
    default_keep = _keep(document.get("keep_versions", DEFAULT_KEEP_VERSIONS), source)
    os_types = document.get("os_types") or {}
    if not isinstance(os_types, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in os_types.items()
    ):
        raise InvalidCatalog(f"{source}: os_types must map OS type names to CloudStack descriptions")
    entries = document.get("templates")
    if not isinstance(entries, list):
        raise InvalidCatalog(f"{source}: templates must be a list")
    templates = tuple(
        _template(entry, default_keep, f"{source}: templates[{index}]") for index, entry in enumerate(entries)
    )
    keys = [t.key for t in templates]
    twice = sorted({t.path for t in templates if keys.count(t.key) > 1})
    if twice:
        raise InvalidCatalog(f"{source}: template(s) listed twice: {', '.join(twice)}")
    conn_ids = {}
    for key, default in (
        ("mgtr_conn_id", DEFAULT_MGTR_CONN_ID),
        ("staging_conn_id", DEFAULT_STAGING_CONN_ID),
    ):
        value = document.get(key, default)
        if not isinstance(value, str) or not value:
            raise InvalidCatalog(f"{source}: {key} must be a Connection id (got {value!r})")
        conn_ids[key] = value
    return Catalog(templates=templates, os_types=dict(os_types), **conn_ids)


def load_catalog(location: Path) -> Catalog:
    """Read the catalog from a YAML file, or from ``catalog.yaml`` in a folder.

    :param location: the file or the folder.
    :raises InvalidCatalog: when it is missing, not YAML or malformed.
    """
    path = location / CATALOG_FILE if location.is_dir() else location
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidCatalog(f"cannot read the templates catalog {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidCatalog(f"{path}: not valid YAML: {exc}") from None
    return parse_catalog(document, source=str(path))
