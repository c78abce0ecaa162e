"""Airflow finds the ``meca`` plugin in the plugins folder, and only in ``meca/plugin.py``."""

from __future__ import annotations

import subprocess
import sys


def test_airflow_loads_the_meca_plugin_from_the_plugins_folder() -> None:
    from airflow import plugins_manager

    meca = [info for info in plugins_manager.get_plugin_info() if info["name"] == "meca"]
    assert len(meca) == 1
    assert str(meca[0]["source"]).endswith("meca/plugin.py")
    assert plugins_manager.get_import_errors() == {}


def test_importing_the_package_does_not_import_airflow() -> None:
    """Airflow imports ``meca.provider_info`` while reading its own config: ``meca`` must stay light."""
    code = "import sys, meca.provider_info; print(sorted(m for m in sys.modules if m.startswith('airflow')))"
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
