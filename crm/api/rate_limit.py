"""A token bucket per API key: `rate` requests a second on average, bursts up to `burst`.

In memory, per API process: several API processes behind a balancer each allow the full rate
(a shared limit would need Redis; not needed for one process).
"""

from __future__ import annotations

import math
import threading
import time

FORGET_EVERY = 1_024  # takes between sweeps for refilled buckets (amortised O(1) a take)


class TokenBuckets:
    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("the rate limit needs rate > 0 and burst >= 1")
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()
        self._takes = 0

    def take(self, key: str) -> float:
        """Take one token for `key`: 0 when allowed, else the seconds to wait for the next one."""
        now = self.clock()
        with self._lock:
            self._takes += 1
            if self._takes % FORGET_EVERY == 0:
                self._forget_full(now)
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def give_back(self, key: str) -> None:
        """Return a token taken for `key` that turned out not to count (a right API key)."""
        with self._lock:
            if key in self._buckets:
                tokens, then = self._buckets[key]
                self._buckets[key] = (min(float(self.burst), tokens + 1), then)

    def tracked(self) -> int:
        """How many keys have a bucket in memory."""
        with self._lock:
            return len(self._buckets)

    def _forget_full(self, now: float) -> None:
        # A bucket refilled to the brim is the same as none: forgetting it keeps memory bounded by
        # the keys active within one refill time, not every address ever seen.
        full = [k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]

    def waiting(self, key: str) -> float:
        """Seconds until `key` has a token again (0: it has one now); takes nothing."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after_header(wait_seconds: float) -> str:
    return str(max(1, math.ceil(wait_seconds)))
