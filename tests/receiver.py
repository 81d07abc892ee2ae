"""A real local HTTP server that records the callbacks it receives."""
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Answers each POST with the next scripted status (then `default`); a
    status of None holds the request until `release` is set."""

    def __init__(self, statuses=(), default=200, path="/hook", port=0):
        self.statuses = list(statuses)
        self.default = default
        self.received: queue.Queue = queue.Queue()
        self.release = threading.Event()
        self.holding = 0                      # requests held now (concurrent senders)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                receiver.received.put({"path": self.path, "headers": dict(self.headers),
                                       "raw": raw, "json": json.loads(raw)})
                if status is None:
                    receiver.hold()
                    status = 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def hold(self) -> None:
        with self._lock:
            self.holding += 1
        self.release.wait(10)
        with self._lock:
            self.holding -= 1

    def take(self, timeout=5.0) -> dict:
        return self.received.get(timeout=timeout)

    def nothing_more(self) -> bool:
        return self.received.empty()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
