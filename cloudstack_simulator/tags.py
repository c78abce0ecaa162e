"""A resource tag (``createTags``) and its API shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESOURCE_TYPES = ("UserVm", "Template")


@dataclass
class Tag:
    """One key/value on one resource.

    :param key: tag key.
    :param value: tag value.
    :param resource_type: ``UserVm`` or ``Template``.
    :param resource_id: the resource uuid.
    """

    key: str
    value: str
    resource_type: str
    resource_id: str

    def as_dict(self, owner: dict[str, Any]) -> dict[str, Any]:
        """As ``listTags`` and the ``tags`` list of a resource show it.

        :param owner: the ``account``/``domainid``/``domain`` keys.
        """
        return {
            "key": self.key,
            "value": self.value,
            "resourcetype": self.resource_type,
            "resourceid": self.resource_id,
            **owner,
        }
