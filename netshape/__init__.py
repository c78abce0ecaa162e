"""A small latency- and bandwidth-shaping TCP proxy for tests and benchmarks (this kernel has no netem).

:mod:`netshape.proxy` holds the asyncio proxy; ``python -m netshape`` runs it; :mod:`netshape.process`
runs it as a child process from Python.
"""

from __future__ import annotations
