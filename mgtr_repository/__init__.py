"""A local MGTR (MECA global template repository) for the demo, the tests and the benchmarks.

:mod:`mgtr_repository.server` runs a real SFTP server on loopback (OpenSSH's sshd when installed,
else asyncssh's); :mod:`mgtr_repository.publish` turns an image file into an MGTR template folder.
"""

from __future__ import annotations
