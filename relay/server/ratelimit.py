"""Per-key sliding-window rate limit (integration events, README: Bridging a Slack channel).

In memory: a limit that forgets on restart lets at most one extra window
through, which is not worth a write per event.
"""
import threading
from collections import deque

WINDOW_MS = 60_000


class RateLimiter:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: int) -> int:
        """Count one event for `key` at `now` (ms); 0 when allowed, else the whole
        seconds until the oldest event in the window leaves it (nothing counted)."""
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - WINDOW_MS:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, -(-(seen[0] + WINDOW_MS - now) // 1000))
            seen.append(now)
            return 0
