"""Turning an API answer into the HTTP response CloudStack sends: JSON, or XML without ``response=json``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp import web

from cloudstack_simulator.errors import ApiError

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
XML_CONTENT_TYPE = "text/xml; charset=UTF-8"
#: The version CloudStack writes on the root element of its XML answers.
CLOUDSTACK_VERSION = "4.20.0.0"
#: The wrapper key CloudStack uses when the command is unknown or absent.
UNKNOWN_COMMAND_KEY = "errorresponse"
#: The ``ApiErrorCode`` answered under :data:`UNKNOWN_COMMAND_KEY` (UNSUPPORTED_ACTION_ERROR).
UNSUPPORTED_ACTION = 432


def response_key(command: str | None) -> str:
    """The top-level key of an answer: ``<command lower-cased>response``, or ``errorresponse`` without one."""
    return f"{command.lower()}response" if command else UNKNOWN_COMMAND_KEY


def render(key: str, body: dict[str, Any], *, status: int = 200, as_xml: bool = False) -> web.Response:
    """An HTTP response carrying ``{key: body}``.

    :param key: the top-level key, e.g. ``listzonesresponse``.
    :param body: the inner body.
    :param status: the HTTP status.
    :param as_xml: answer XML (the client sent no ``response=json``).
    """
    if as_xml:
        return web.Response(status=status, body=to_xml(key, body), headers={"Content-Type": XML_CONTENT_TYPE})
    text = json.dumps({key: body}, separators=(",", ":"), ensure_ascii=False)
    return web.Response(status=status, body=text.encode("utf-8"), headers={"Content-Type": JSON_CONTENT_TYPE})


def render_error(command: str | None, error: ApiError, *, as_xml: bool = False) -> web.Response:
    """The answer to a failed command: HTTP status ``errorcode`` and an ``X-Description`` header.

    :param command: the command as received; ``None`` when there was none.
    :param error: what went wrong.
    :param as_xml: answer XML (the client sent no ``response=json``).
    """
    key = UNKNOWN_COMMAND_KEY if error.errorcode == UNSUPPORTED_ACTION else response_key(command)
    response = render(key, error.body(), status=error.errorcode, as_xml=as_xml)
    response.headers["X-Description"] = _header_safe(error.errortext)
    return response


def to_xml(key: str, body: dict[str, Any]) -> bytes:
    """CloudStack's XML serialisation: a list repeats its element, a nested object becomes an element.

    :param key: the root element's name.
    :param body: the inner body.
    """
    root = ET.Element(key, {"cloud-stack-version": CLOUDSTACK_VERSION})
    _fill(root, body)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


def _fill(element: ET.Element, mapping: dict[str, Any]) -> None:
    for name, value in mapping.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            child = ET.SubElement(element, name)
            if isinstance(item, dict):
                _fill(child, item)
            elif isinstance(item, bool):
                child.text = "true" if item else "false"
            else:
                child.text = str(item)


def _header_safe(text: str) -> str:
    """A header value: one line, Latin-1 encodable (the servlet container would mangle the rest)."""
    one_line = " ".join(text.split())
    return one_line.encode("latin-1", errors="replace").decode("latin-1")
