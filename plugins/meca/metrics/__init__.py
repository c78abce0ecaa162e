"""Region metrics: collect capacity and VM counts from a region, store them, roll them up, apply rules."""

from __future__ import annotations
