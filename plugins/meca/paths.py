"""Where the files MECA reads at run time live (``include/``: rules, catalogs, pools)."""

from __future__ import annotations

import os
from pathlib import Path


def include_dir() -> Path:
    """The ``include/`` folder: ``$MECA_INCLUDE_DIR`` when set, else the one beside ``plugins/``."""
    configured = os.environ.get("MECA_INCLUDE_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "include"
