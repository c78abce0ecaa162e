"""End-to-end tests: the real simulator and a real multi-process Airflow, driven over REST."""

from __future__ import annotations
