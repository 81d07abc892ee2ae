"""Stream slots: every open SSE stream, WebSocket and held long poll keeps a
waitress thread busy, so their number is capped below the thread count and
ordinary requests always find a thread."""
import threading

KINDS = ("sse", "ws", "poll")


class Slots:
    def __init__(self, limit: int):
        self.limit = limit
        self._open = dict.fromkeys(KINDS, 0)
        self._lock = threading.Lock()

    def acquire(self, kind: str) -> bool:
        with self._lock:
            if sum(self._open.values()) >= self.limit:
                return False
            self._open[kind] += 1
            return True

    def release(self, kind: str) -> None:
        with self._lock:
            self._open[kind] -= 1

    def snapshot(self) -> dict:
        with self._lock:
            return {**self._open, "max": self.limit}
