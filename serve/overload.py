"""Load shedding for the model-bound routes: at most ``serve.max_heavy_requests`` at once, the rest answer 503.

``POST /search`` (a VGG forward on an upload) and ``GET``/``POST /explain`` (a style-transfer rendering) take
turns on one model lock. Without a cap, a burst of them fills the worker thread pool with threads that only wait
for that lock, and cheap routes (``GET /items/{id}/similar``, a FAISS lookup) queue behind them for a thread.

:func:`heavy_slot` is an async dependency, so it runs on the event loop and a request waiting for a slot holds no
thread. Past the cap a request waits up to ``serve.heavy_queue_timeout_s`` for a slot, then gets 503 with
``Retry-After`` (whole seconds: the recent mean time of a heavy request, rounded up, at least 1).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request

# How often a waiting request looks for a free slot, seconds: doubling from the first to the last.
_POLL_FIRST_S = 0.005
_POLL_LAST_S = 0.05
_EMA_WEIGHT = 0.2  # of the newest duration in the running mean


class HeavyGate:
    """A counting limit shared by every request of one app, safe across threads and event loops.

    Counted under a threading lock and waited for by polling, not with an ``asyncio.Semaphore``: an asyncio
    primitive binds to the first event loop that waits on it, and Starlette's test client runs requests in an
    event loop of their own when it is not used as a context manager (a second loop would raise).
    """

    def __init__(self, limit: int, wait_s: float) -> None:
        if limit < 1:
            raise ValueError(f"max_heavy_requests must be at least 1, got {limit}")
        self.limit = limit
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._active = 0
        self._mean_s: float | None = None  # running mean duration of a heavy request, seconds

    @property
    def active(self) -> int:
        return self._active

    def try_enter(self) -> bool:
        with self._lock:
            if self._active >= self.limit:
                return False
            self._active += 1
            return True

    def leave(self, duration_s: float) -> None:
        with self._lock:
            self._active -= 1
            old = self._mean_s
            self._mean_s = duration_s if old is None else old + _EMA_WEIGHT * (duration_s - old)

    async def enter(self) -> bool:
        """Take a slot, waiting up to ``wait_s``; False when none freed in time."""
        deadline = time.monotonic() + self.wait_s
        pause = _POLL_FIRST_S
        while not self.try_enter():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _POLL_LAST_S)
        return True

    def retry_after_s(self) -> int:
        """Seconds a refused client should wait: one heavy request's recent mean time, rounded up (≥ 1)."""
        mean = self._mean_s
        return max(1, math.ceil(mean)) if mean is not None else 1

    def busy_detail(self, retry_after_s: int) -> str:
        return (
            f"busy: {self.limit} model-bound requests (search by upload, explain) already running "
            f"(serve.max_heavy_requests); retry in {retry_after_s} s"
        )


async def heavy_slot(request: Request) -> AsyncIterator[None]:
    """Dependency of the heavy routes: hold a slot of the app's :class:`HeavyGate` for the request, or 503."""
    gate: HeavyGate = request.app.state.service.heavy
    if not await gate.enter():
        retry_after = gate.retry_after_s()
        raise HTTPException(503, gate.busy_detail(retry_after), headers={"Retry-After": str(retry_after)})
    start = time.monotonic()
    try:
        yield
    finally:
        gate.leave(time.monotonic() - start)
