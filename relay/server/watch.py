"""The hang-up watch: notices at once when a held client closes its connection.

waitress only finds a gone client when a write to it fails, so an idle SSE
stream or a held long poll would keep its slot (and its thread) until the
next keepalive. One thread waits on epoll for the peer's FIN or reset on
every such connection and calls that stream's `gone` callback, which ends
the stream or the poll; nothing polls or wakes up while clients stay.

It asks for EPOLLRDHUP only, never EPOLLIN: bytes a client pipelines behind
its request must not wake the watch over and over. A client that half-closes
its side (shutdown(SHUT_WR)) while still reading counts as gone.
"""
import select
import threading

from .clock import system_clock
from .worker import Worker

_HANGUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


class HangupWatch(Worker):
    name = "relay-hangup-watch"

    def __init__(self, clock=system_clock):
        super().__init__(clock)
        self._epoll = None
        self._callbacks: dict[int, callable] = {}
        self._callbacks_lock = threading.Lock()

    # --- the thread (worker.py: start/stop) ----------------------------------------

    def starting(self) -> None:
        self._epoll = select.epoll()

    def stopped(self) -> None:
        with self._callbacks_lock:
            self._callbacks.clear()
            self._epoll.close()             # a thread still in poll() wakes and ends

    def add(self, sock, gone) -> int | None:
        """Call `gone()` once when the peer of `sock` hangs up. Returns a key
        for remove(), which must come before the socket is closed (epoll
        would otherwise report a reused descriptor). None when not running."""
        with self._callbacks_lock:
            if self._thread is None or self.stopping.is_set():
                return None
            fd = sock.fileno()
            self._callbacks[fd] = gone
            try:
                self._epoll.register(fd, _HANGUP | select.EPOLLONESHOT)
            except OSError:
                del self._callbacks[fd]
                return None
            return fd

    def remove(self, key: int | None) -> None:
        if key is None:
            return
        with self._callbacks_lock:
            self._callbacks.pop(key, None)
            if self._thread is not None and not self.stopping.is_set():
                try:
                    self._epoll.unregister(key)      # also after it fired (EPOLLONESHOT)
                except (OSError, ValueError):
                    pass

    def loop(self) -> None:
        # A short timeout so stop() is noticed; epoll_wait costs nothing while idle.
        while not self.stopping.is_set():
            try:
                ready = self._epoll.poll(0.5)
            except (OSError, ValueError):
                return              # closed under us by stop()
            for fd, _ in ready:
                with self._callbacks_lock:
                    gone = self._callbacks.pop(fd, None)
                if gone is None:
                    continue
                self.step("a hang-up callback", gone)
