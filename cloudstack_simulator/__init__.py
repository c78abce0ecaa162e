"""A protocol-faithful Apache CloudStack API simulator serving many regions from one process.

Run it with ``python -m cloudstack_simulator --topology FILE --endpoints-file FILE``; see
``docs/simulator.md``.
"""

from __future__ import annotations
