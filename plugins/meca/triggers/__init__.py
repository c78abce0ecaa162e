"""Deferrable triggers: they only wait (async, serialisable, no side effect); see ``meca.triggers.*``."""

from __future__ import annotations
