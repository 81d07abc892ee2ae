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
import logging
import select
import threading

log = logging.getLogger("relay.watch")

_HANGUP = select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR


class HangupWatch:
    def __init__(self):
        self._epoll = None
        self._callbacks: dict[int, callable] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._stopping.clear()
            self._epoll = select.epoll()
            self._thread = threading.Thread(target=self._run, name="relay-hangup-watch", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout)
            self._thread = None
            with self._lock:
                self._callbacks.clear()
                self._epoll.close()

    def add(self, sock, gone) -> int | None:
        """Call `gone()` once when the peer of `sock` hangs up. Returns a key
        for remove(), which must come before the socket is closed (epoll
        would otherwise report a reused descriptor). None when not running."""
        with self._lock:
            if self._thread is None:
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
        with self._lock:
            self._callbacks.pop(key, None)
            if self._thread is not None:
                try:
                    self._epoll.unregister(key)      # also after it fired (EPOLLONESHOT)
                except (OSError, ValueError):
                    pass

    def _run(self) -> None:
        # A short timeout so stop() is noticed; epoll_wait costs nothing while idle.
        while not self._stopping.is_set():
            try:
                ready = self._epoll.poll(0.5)
            except (OSError, ValueError):
                return              # closed under us by stop()
            for fd, _ in ready:
                with self._lock:
                    gone = self._callbacks.pop(fd, None)
                if gone is None:
                    continue
                try:
                    gone()
                except Exception:
                    log.exception("a hang-up callback failed")
