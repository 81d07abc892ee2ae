"""Stream slots: every open SSE stream, WebSocket and held long poll keeps a
waitress thread busy, so their number is capped below the thread count and
ordinary requests always find a thread. One client address may hold at most
`per_client` of them (RELAY_MAX_STREAMS_PER_CLIENT), so one client cannot
take every slot from the others."""
import threading

KINDS = ("sse", "ws", "poll")


class Slots:
    def __init__(self, limit: int, per_client: int = 0):
        self.limit = limit
        self.per_client = per_client          # 0: no cap
        self._open = dict.fromkeys(KINDS, 0)
        self._clients: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, kind: str, client: str = "") -> str | None:
        """Take a slot: None, or why there is none."""
        with self._lock:
            if sum(self._open.values()) >= self.limit:
                return "no stream slot free; retry shortly"
            held = self._clients.get(client, 0)
            if self.per_client and held >= self.per_client:
                return (f"this client already holds {held} streams (RELAY_MAX_STREAMS_PER_CLIENT); "
                        "close one first")
            self._open[kind] += 1
            self._clients[client] = held + 1
            return None

    def release(self, kind: str, client: str = "") -> None:
        with self._lock:
            self._open[kind] -= 1
            left = self._clients.get(client, 1) - 1
            if left > 0:
                self._clients[client] = left
            else:
                self._clients.pop(client, None)

    def snapshot(self) -> dict:
        with self._lock:
            return {**self._open, "max": self.limit}
