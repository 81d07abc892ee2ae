"""The shape every background thread of the relay shares: run_once() every
interval on its own daemon thread, start()/stop(), and a pass that fails
is logged and the thread goes on."""
import logging
import threading


class Periodic:
    name = "relay-thread"

    def __init__(self, interval: float):
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()      # run_once from a route and the thread: one at a time

    def run_once(self):
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                logging.getLogger(f"relay.{self.name}").exception("%s pass failed", self.name)
