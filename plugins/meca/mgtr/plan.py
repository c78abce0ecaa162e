"""Plan a replication run: which template versions go to which regions, from what is already done.

A template's newest version folder on the MGTR is the one replicated. A region needs work unless
the status table says that version is ``Ready`` there; a template is fetched when at least one of
its regions needs work. Version folders are immutable: publish a change as a new version.
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass
from typing import Any

from meca.mgtr.catalog import Catalog
from meca.mgtr.status import READY, StatusRow


@dataclass(frozen=True)
class TemplateWork:
    """One template to fetch, extract and register in some regions.

    :param path: the catalog's MGTR path.
    :param key: the template's file-system-safe key (staging and cache folder name).
    :param version: the version to replicate (its newest).
    :param remote_dir: the version folder on the MGTR.
    :param regions: region name → Connection id, for the regions needing it.
    :param keep_versions: versions kept per region.
    """

    path: str
    key: str
    version: str
    remote_dir: str
    regions: dict[str, str]
    keep_versions: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for XCom)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemplateWork:
        """The inverse of :meth:`to_dict`."""
        return cls(**data)


def plan_work(
    catalog: Catalog, versions: dict[str, list[str]], regions: dict[str, str], rows: list[StatusRow]
) -> tuple[list[TemplateWork], list[str]]:
    """What this run has to do, and notes on what it leaves alone.

    :param catalog: the templates catalog.
    :param versions: catalog path → its version folders, oldest first.
    :param regions: every region's name → its Connection id.
    :param rows: the status table.
    :return: the work per template (in catalog order), and one note per template left alone.
    :raises InvalidCatalog: when the catalog names an unknown region.
    """
    done = {(row.template_path, row.region): row for row in rows}
    work, notes = [], []
    for template in catalog.templates:
        available = versions.get(template.path, [])
        if not available:
            notes.append(f"{template.path}: no version folder on the MGTR; nothing to replicate")
            continue
        newest = available[-1]
        targets = template.target_regions(list(regions))
        needed = {}
        for name in targets:
            row = done.get((template.path, name))
            if row is None or row.version != newest or row.state != READY:
                needed[name] = regions[name]
        if not needed:
            notes.append(f"{template.path}: version {newest} is Ready in all {len(targets)} region(s)")
            continue
        work.append(
            TemplateWork(
                path=template.path,
                key=template.key,
                version=newest,
                remote_dir=posixpath.join(template.path, newest),
                regions=needed,
                keep_versions=template.keep_versions,
            )
        )
    return work, notes
