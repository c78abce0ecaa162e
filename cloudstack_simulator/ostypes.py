"""The guest OS types every simulated region offers, as (category, description) pairs.

A realistic subset of CloudStack's ``guest_os`` table: the families a teaching cloud uses.
"""

from __future__ import annotations

OS_TYPES: tuple[tuple[str, str], ...] = (
    ("CentOS", "CentOS 5.6 (64-bit)"),
    ("CentOS", "CentOS 6.10 (64-bit)"),
    ("CentOS", "CentOS 7"),
    ("CentOS", "CentOS 7.9"),
    ("CentOS", "CentOS 8"),
    ("CentOS", "CentOS Stream 9"),
    ("RedHat", "Red Hat Enterprise Linux 8"),
    ("RedHat", "Red Hat Enterprise Linux 9"),
    ("Rocky", "Rocky Linux 8"),
    ("Rocky", "Rocky Linux 9"),
    ("Alma", "AlmaLinux 9"),
    ("Debian", "Debian GNU/Linux 10 (64-bit)"),
    ("Debian", "Debian GNU/Linux 11 (64-bit)"),
    ("Debian", "Debian GNU/Linux 12 (64-bit)"),
    ("Ubuntu", "Ubuntu 18.04 LTS"),
    ("Ubuntu", "Ubuntu 20.04 LTS"),
    ("Ubuntu", "Ubuntu 22.04 LTS"),
    ("Ubuntu", "Ubuntu 24.04 LTS"),
    ("Windows", "Windows 10 (64-bit)"),
    ("Windows", "Windows 11 (64-bit)"),
    ("Windows", "Windows Server 2019 (64-bit)"),
    ("Windows", "Windows Server 2022 (64-bit)"),
    ("Other", "Other Linux (64-bit)"),
    ("Other", "Other (64-bit)"),
)
