"""Classroom sessions: booking validation, the capacity ledger, placement and the trigger form."""

from __future__ import annotations
