"""Per-tenant request rate limits: a token bucket per tenant, in memory, in each API process.

A bucket holds up to one minute's allowance and refills continuously, so a tenant may burst
to `per_minute` requests and then sustain `per_minute / 60` a second. Checking costs a dict
look-up under a lock: no database round trip on the hot path. With `--workers N` each API
process keeps its own buckets, so the ceiling across processes is N times the setting.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by tenant id; `acquire` spends one token or says how long to wait."""

    MAX_TENANTS = 100_000  # idle buckets are full ones, so forgetting them changes nothing

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, tenant_id: str, now: float | None = None) -> int:
        """Spend a token for `tenant_id`: 0 if allowed, else the whole seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(tenant_id)
            if bucket is None:
                if len(self._buckets) >= self.MAX_TENANTS:
                    self._forget_full(now)
                bucket = self._buckets[tenant_id] = _Bucket(self.capacity, now)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def waiting(self, key: str, now: float | None = None) -> int:
        """The whole seconds until `key` has a token again (0: now), spending none."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0
            tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        return 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        refill = self.capacity / self.rate
        self._buckets = {
            tenant: bucket
            for tenant, bucket in self._buckets.items()
            if now - bucket.updated < refill
        }
