"""Every background thread has one shape (relay/server/worker.py): start/stop,
running, a failing step logged and recorded, and GET /api/health shows them all."""
import threading

import pytest

from relay.server.worker import Worker, WorkerStuck

WORKERS = {"broadcaster", "hangupWatch", "reaper", "callbacks", "lifecycle", "automations",
           "streamReceipts"}


def test_health_lists_every_worker_and_shows_a_stopped_one(live):
    status, health = live.request("GET", "/api/health")
    assert status == 200
    assert set(health["workers"]) == WORKERS
    assert all(w["running"] is True and w["lastError"] is None
               for w in health["workers"].values())

    assert live.relay.callbacks.stop() is True
    _, health = live.request("GET", "/api/health")
    assert health["workers"]["callbacks"]["running"] is False
    running = {name for name, w in health["workers"].items() if w["running"]}
    assert running == WORKERS - {"callbacks"}


def test_a_failing_step_is_logged_recorded_and_the_others_run(client, relay_, clock, monkeypatch,
                                                               caplog):
    from relay.server.store import messages

    def broken(conn, now):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(messages, "release_expired_claims", broken)
    report = relay_.reaper.run_once()
    assert "offlineAgentIds" in report and "releasedMessageIds" not in report
    assert "reap step release_claims failed" in caplog.text

    reaper = client.get("/api/health").get_json()["workers"]["reaper"]
    assert reaper == {"running": False, "lastRunAt": clock(),
                      "lastError": "reap step release_claims: disk on fire"}


class Stubborn(Worker):
    """A worker whose loop does not notice stop() until it is let go."""
    name = "relay-stubborn"

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.let_go = threading.Event()
        self.loops = 0

    def loop(self):
        self.loops += 1
        self.entered.set()
        self.let_go.wait(30)


def test_a_stop_that_times_out_keeps_saying_so_and_refuses_a_second_start():
    worker = Stubborn()
    worker.start()
    assert worker.entered.wait(10)
    assert worker.stop(timeout=0.05) is False
    assert worker.running is True
    assert worker.status()["lastError"] == "stop() timed out after 0.05 s; the thread still runs"
    with pytest.raises(WorkerStuck, match="relay-stubborn: the thread of a timed-out stop"):
        worker.start()
    assert worker.loops == 1                  # no second thread was started

    stuck = worker._thread
    worker.let_go.set()
    stuck.join(10)
    assert worker.running is False
    worker.let_go.clear()
    worker.entered.clear()
    worker.start()                            # the old thread has ended: a new one may run
    assert worker.entered.wait(10) and worker.loops == 2 and worker.running
    worker.let_go.set()
    assert worker.stop(timeout=10) is True
    assert worker.running is False


def test_start_twice_runs_one_thread():
    worker = Stubborn()
    worker.start()
    worker.start()
    assert worker.entered.wait(10)
    worker.let_go.set()
    assert worker.stop(timeout=10) is True
    assert worker.loops == 1
