"""The one shape of every background thread of the relay (reaper, lifecycle,
callbacks, automations, broadcaster, hang-up watch).

A Worker owns one daemon thread running `loop()`, with start()/stop() and
`running`. A step that fails is logged and recorded (`last_error`) and the
thread goes on; `last_run_at` is when a step last finished, on the relay's
clock (injectable: tests move it). GET /api/health shows all three per worker.

stop() asks the thread to end (`stopping`, then `wake()`) and waits up to
its timeout. A thread that does not end in time is not forgotten: the
worker still says `running`, its `last_error` says the stop timed out, and
start() refuses to run a second thread beside it (WorkerStuck) until it ends.
"""
import logging
import threading

from .clock import system_clock


class WorkerStuck(RuntimeError):
    """start() while the thread of a timed-out stop() still runs."""


class Worker:
    name = "relay-worker"

    def __init__(self, clock=system_clock):
        self.clock = clock
        self.stopping = threading.Event()
        self.last_run_at: int | None = None
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()              # start() and stop() one at a time
        self.log = logging.getLogger(f"relay.{self.name.removeprefix('relay-')}")

    # --- what a worker defines ---------------------------------------------------

    def loop(self) -> None:
        """The thread's body: runs until `stopping` is set (and wake() is called)."""
        raise NotImplementedError

    def wake(self) -> None:
        """Make loop() notice `stopping` now (stop() calls it after setting it)."""

    def starting(self) -> None:
        """Before the thread starts (acquire what it needs)."""

    def stopped(self) -> None:
        """After the thread ended or stop() gave up waiting (release, close)."""

    # --- the shared part -----------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                if not self._thread.is_alive():
                    self._thread = None
                elif self.stopping.is_set():
                    raise WorkerStuck(f"{self.name}: the thread of a timed-out stop() still runs")
                else:
                    return                                  # already running
            self.stopping.clear()
            self.starting()
            self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Ask the thread to end and wait up to `timeout`; False when it did not."""
        with self._lock:
            self.stopping.set()
            thread = self._thread
            if thread is None:
                return True
            self.wake()
            thread.join(timeout)
            if thread.is_alive():
                self.last_error = f"stop() timed out after {timeout:g} s; the thread still runs"
                self.log.error("%s: %s", self.name, self.last_error)
                self.stopped()
                return False
            self._thread = None
            self.stopped()
            return True

    def step(self, what: str, fn, *args):
        """Run one step: its failure is logged and recorded, never raised."""
        try:
            result = fn(*args)
        except Exception as error:
            self.failed(what, error)
            return None
        self.last_run_at = self.clock()
        return result

    def failed(self, what: str, error: Exception) -> None:
        self.last_error = f"{what}: {error}"
        self.log.error("%s failed", what, exc_info=error)

    def status(self) -> dict:
        return {"running": self.running, "lastRunAt": self.last_run_at,
                "lastError": self.last_error}

    def _main(self) -> None:
        try:
            self.loop()
        except Exception as error:              # loop() ended by a bug: say so
            self.failed(f"{self.name} loop", error)


class Periodic(Worker):
    """run_once() every `interval` seconds (sooner when woken)."""

    def __init__(self, interval: float, clock=system_clock, first_at_start: bool = False):
        super().__init__(clock)
        self.interval = interval
        self.first_at_start = first_at_start
        self._wake = threading.Event()
        # run_once from a route and from the thread: one at a time.
        self._run_lock = threading.Lock()
        # Whether this process runs the work now (leader.py: one process of several on
        # PostgreSQL); a pass it skips leaves `following` set.
        self.gate = None
        self.following = False

    def run_once(self):
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def loop(self) -> None:
        if not self.first_at_start:
            self._wake.wait(self.interval)
        while not self.stopping.is_set():
            self._wake.clear()
            self.following = self.gate is not None and not self.gate()
            if not self.following:
                self.step(f"{self.name} pass", self.run_once)
            self._wake.wait(self.interval)
