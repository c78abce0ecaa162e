"""Reading command parameters the way CloudStack's ``ParamProcessWorker`` and ``BaseListCmd`` do."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cloudstack_simulator.errors import ApiError

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INDEXED = re.compile(r"^(?P<prefix>[a-z]+)\[(?P<index>\d+)\]\.(?P<field>.+)$")
DEFAULT_PAGE_SIZE = 500


def require(command: str, params: Mapping[str, str], name: str) -> str:
    """The value of a required parameter.

    :raises ApiError: 431 ``missing parameter`` like CloudStack when absent or empty.
    """
    value = params.get(name, "")
    if value == "":
        raise ApiError(431, f"Unable to execute API command {command} due to missing parameter {name}")
    return value


def parse_bool(value: str | None, default: bool = False) -> bool:
    """``Boolean.valueOf``: case-insensitive ``true`` is true, anything else false."""
    if value is None:
        return default
    return value.lower() == "true"


def invalid_value(command: str, name: str, value: str) -> ApiError:
    """The 431 CloudStack answers for a malformed uuid or one naming no entity."""
    return ApiError(
        431,
        f"Unable to execute API command {command} due to invalid value. Invalid parameter {name} "
        f"value={value} due to incorrect long value format, or entity does not exist or due to "
        "incorrect parameter annotation for the field in api cmd class.",
    )


def lookup(command: str, params: Mapping[str, str], name: str, table: Mapping[str, Any]) -> Any:
    """The entity a uuid parameter names, or ``None`` when the parameter is absent.

    :raises ApiError: 431 when the value is not a uuid or names nothing in ``table``.
    """
    value = params.get(name, "")
    if value == "":
        return None
    if not _UUID.match(value) or value not in table:
        raise invalid_value(command, name, value)
    return table[value]


def lookup_required(command: str, params: Mapping[str, str], name: str, table: Mapping[str, Any]) -> Any:
    """Like :func:`lookup` but the parameter must be present."""
    require(command, params, name)
    return lookup(command, params, name, table)


def integer(command: str, params: Mapping[str, str], name: str) -> int | None:
    """An integer parameter, or ``None`` when absent.

    :raises ApiError: 431 when it is not an integer.
    """
    value = params.get(name, "")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(
            431, f"Unable to execute API command {command} due to invalid value {value} for parameter {name}"
        ) from None


def indexed_maps(params: Mapping[str, str], prefix: str) -> list[dict[str, str]]:
    """Map parameters such as ``tags[0].key=a&tags[0].value=b`` as a list ordered by index.

    :param params: the (lower-cased) parameters.
    :param prefix: e.g. ``tags`` or ``details``.
    """
    found: dict[int, dict[str, str]] = {}
    for key, value in params.items():
        match = _INDEXED.match(key)
        if match and match["prefix"] == prefix:
            found.setdefault(int(match["index"]), {})[match["field"]] = value
    return [found[i] for i in sorted(found)]


def paginate(command: str, params: Mapping[str, str], items: Sequence[Any]) -> Sequence[Any]:
    """The page ``page``/``pagesize`` ask for (``BaseListCmd``); the first 500 when neither is given.

    ``pagesize=-1`` means unlimited and needs no ``page``.

    :raises ApiError: 431 when only one of them is given or the size is out of range.
    """
    page, size = integer(command, params, "page"), integer(command, params, "pagesize")
    if page is None and size is None:
        return items[:DEFAULT_PAGE_SIZE]
    if size == -1:
        return items
    if page is None:
        raise ApiError(431, '"page" parameter is required when "pagesize" is specified')
    if size is None:
        raise ApiError(431, '"pagesize" parameter is required when "page" is specified')
    if size < 1 or size > DEFAULT_PAGE_SIZE:
        raise ApiError(431, f"Page size can't exceed max allowed page size value: {DEFAULT_PAGE_SIZE}")
    if page < 1:
        raise ApiError(431, "Page number can't be less than 1")
    return items[(page - 1) * size : page * size]


def list_answer(command: str, params: Mapping[str, str], key: str, items: Sequence[Any]) -> dict[str, Any]:
    """``{"count": total, key: page}`` as ``ApiResponseSerializer`` writes it.

    ``count`` is left out when there is nothing and ``key`` when the page is empty, so an empty
    list is ``{}``.
    """
    page = list(paginate(command, params, items))
    out: dict[str, Any] = {}
    if items:
        out["count"] = len(items)
    if page:
        out[key] = page
    return out
