"""MECA mClouds pipelines: the ``meca`` package (CloudStack hooks, region registry, ...).

Keep this module free of Airflow imports: Airflow imports ``meca.provider_info`` (and so this
package) while it is still reading its own configuration, and an import of ``airflow.settings`` or
``airflow.plugins_manager`` from here would be circular and break every Airflow command. The
plugin registration lives in :mod:`meca.plugin`, which Airflow finds in the plugins folder.
"""

from __future__ import annotations
