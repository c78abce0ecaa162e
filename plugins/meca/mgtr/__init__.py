"""MGTR template replication: the repository layout, the chunked parallel resumable SFTP transfer, ...

Modules: :mod:`meca.mgtr.layout` (``config.ini`` and ``manifest.json``), :mod:`meca.mgtr.transfer`
(:func:`~meca.mgtr.transfer.fetch_template`), :mod:`meca.mgtr.sftp_connection` (the Airflow SFTP
Connection read for asyncssh). See ``docs/mgtr.md``.
"""

from __future__ import annotations
