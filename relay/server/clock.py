"""Time as the relay sees it: integer milliseconds since the epoch.

Everything that decides by time takes a clock, so tests can move it
instead of sleeping.
"""
import threading
import time


def system_clock() -> int:
    return int(time.time() * 1000)


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start_ms: int = 1_700_000_000_000):
        self._now = start_ms
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> int:
        with self._lock:
            self._now += int(seconds * 1000)
            return self._now
