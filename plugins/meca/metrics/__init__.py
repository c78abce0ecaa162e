"""Region metrics: collect capacity and VM counts from a region, store them, roll them up, apply rules."""

from __future__ import annotations

from datetime import timedelta

#: How often ``meca_metrics_sweep`` samples every region (its cron is ``*/5 * * * *``).
SWEEP_INTERVAL = timedelta(minutes=5)
