"""Transfer progress: bytes done, MB/s and ETA, reported at most every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
MB = 1_000_000


@dataclass(frozen=True)
class TransferProgress:
    """One progress report of a template fetch.

    :param template: the remote template folder.
    :param bytes_done: bytes fetched so far in this run.
    :param bytes_total: bytes this run has to fetch (reused bytes excluded).
    :param seconds: seconds since the transfer started.
    :param volumes_done: volumes verified so far (reused ones included).
    :param volumes_total: volumes in the template.
    """

    template: str
    bytes_done: int
    bytes_total: int
    seconds: float
    volumes_done: int
    volumes_total: int

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        return self.bytes_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate, ``None`` before any byte arrived."""
        return (self.bytes_total - self.bytes_done) / self.rate if self.rate > 0 else None

    def describe(self) -> str:
        """A one-line summary for a task log."""
        eta = "?" if self.eta_seconds is None else f"{self.eta_seconds:.0f} s"
        return (
            f"{self.template}: {self.bytes_done / MB:.1f}/{self.bytes_total / MB:.1f} MB, "
            f"{self.rate / MB:.1f} MB/s, ETA {eta}, volumes {self.volumes_done}/{self.volumes_total}"
        )


def log_progress(report: TransferProgress) -> None:
    """The default progress callback: one INFO line in the task log.

    :param report: the progress report.
    """
    log.info("%s", report.describe())


class ProgressMeter:
    """Counts fetched bytes and calls ``callback`` at most every ``interval`` seconds (and at the end).

    :param template: the remote template folder, named in reports.
    :param bytes_total: bytes to fetch in this run.
    :param volumes_total: volumes in the template.
    :param volumes_done: volumes already verified before the transfer (reused).
    :param callback: receives each :class:`TransferProgress`.
    :param interval: minimum seconds between two reports.
    """

    def __init__(
        self,
        template: str,
        *,
        bytes_total: int,
        volumes_total: int,
        volumes_done: int,
        callback: Callable[[TransferProgress], None],
        interval: float,
    ) -> None:
        self.template = template
        self.bytes_total = bytes_total
        self.volumes_total = volumes_total
        self.volumes_done = volumes_done
        self.bytes_done = 0
        self._callback = callback
        self._interval = interval
        self._start = time.monotonic()
        self._last_report = self._start

    @property
    def seconds(self) -> float:
        """Seconds since the meter started."""
        return time.monotonic() - self._start

    def add_bytes(self, count: int) -> None:
        """Count ``count`` fetched bytes; report when the interval has passed.

        :param count: bytes just received.
        """
        self.bytes_done += count
        if time.monotonic() - self._last_report >= self._interval:
            self.report()

    def add_volume(self) -> None:
        """Count one more verified volume."""
        self.volumes_done += 1

    def report(self) -> None:
        """Send a report now."""
        self._last_report = time.monotonic()
        self._callback(
            TransferProgress(
                template=self.template,
                bytes_done=self.bytes_done,
                bytes_total=self.bytes_total,
                seconds=self.seconds,
                volumes_done=self.volumes_done,
                volumes_total=self.volumes_total,
            )
        )
