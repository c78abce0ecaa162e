"""A token bucket shared by every connection of one transfer: the bandwidth cap of a link."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Lets at most ``rate`` bytes per second through, after an initial burst of ``burst`` bytes.

    :param rate: bytes per second (> 0).
    :param burst: the bucket's capacity in bytes (> 0).
    """

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"bandwidth cap: rate ({rate}) and burst ({burst}) must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, amount: int) -> None:
        """Wait until ``amount`` bytes may pass (amounts above the burst wait for a full bucket).

        :param amount: bytes about to be consumed.
        """
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            if self._tokens < 0:
                await asyncio.sleep(-self._tokens / self.rate)
