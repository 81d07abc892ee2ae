"""The client verbs: the real `relay` executable against a real relay on a free port."""
import json
import subprocess
import time

import pytest

from tests.agent_side import RELAY, environment, free_port, relay
from tests.conftest import Live
from relay.config import Settings
from relay.client.state import State


@pytest.fixture
def env(live, tmp_path):
    return environment(live, tmp_path)


def as_(env, agent):
    return {**env, "RELAY_AGENT_ID": agent}


def ok(done):
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stderr == ""
    return done.stdout


def lines(text):
    return text.splitlines()


def test_register_send_inbox_and_the_cursor(env, live, tmp_path):
    assert ok(relay(env, "register", "--id", "alice", "--label", "Alice", "--tag", "a", "--tag", "b")) == "alice\n"
    assert ok(relay(as_(env, "bob"), "register", "--cap", "review")) == "bob\n"
    fresh = ok(relay(env, "register")).strip()
    assert fresh.startswith("agent-") and len(fresh) == 14
    assert ok(relay(as_(env, "alice"), "send", "bob", "first", "--subject", "s1")) == "#1 delivered\n"
    assert ok(relay(as_(env, "alice"), "send", "bob", "-", input="from stdin\nline 2\n")) == "#2 delivered\n"
    # --peek prints and leaves the cursor
    peeked = lines(ok(relay(as_(env, "bob"), "inbox", "--peek")))
    assert [l.split()[0] for l in peeked] == ["#1", "#2"]
    assert "alice -> bob  s1: first" in peeked[0] and peeked[1].endswith("alice -> bob  from stdin")
    state = State(env["RELAY_URL"], "bob", env["XDG_STATE_HOME"])
    assert state.cursor == 0
    # a new process each time: the cursor is in the state file
    assert [l.split()[0] for l in lines(ok(relay(as_(env, "bob"), "inbox")))] == ["#1", "#2"]
    assert state.cursor == 2
    assert ok(relay(as_(env, "bob"), "inbox")) == ""
    ok(relay(as_(env, "alice"), "send", "bob", "third"))
    assert [l.split()[0] for l in lines(ok(relay(as_(env, "bob"), "inbox")))] == ["#3"]
    # --since overrides the cursor (and never moves it back)
    assert [l.split()[0] for l in lines(ok(relay(as_(env, "bob"), "inbox", "--since", "1")))] == ["#2", "#3"]
    assert state.cursor == 3
    # per relay URL: another URL has its own cursor
    assert State("http://other:1", "bob", env["XDG_STATE_HOME"]).cursor == 0


def test_the_cursor_moves_only_after_printing(env, live):
    ok(relay(env, "register", "--id", "bob"))
    ok(relay(as_(env, "alice"), "send", "bob", "hello"))
    with open("/dev/full", "w") as full:
        done = subprocess.run([RELAY, "inbox"], env=as_(env, "bob"), stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith("relay: cannot write the output")
    assert "Traceback" not in done.stderr
    assert [l.split()[0] for l in lines(ok(relay(as_(env, "bob"), "inbox")))] == ["#1"]


def test_json_output_is_the_apis_json(env, live):
    agent = json.loads(ok(relay(env, "register", "--id", "bob", "--json")))
    assert agent["id"] == "bob" and agent["status"] == "online"
    sent = json.loads(ok(relay(as_(env, "alice"), "send", "bob", "x", "--json", "--claimable",
                               "--payload", '{"pr": 7}', "--kind", "task")))
    assert (sent["from"], sent["claimable"], sent["payload"], sent["kind"]) == ("alice", True, {"pr": 7}, "task")
    inbox = json.loads(ok(relay(as_(env, "bob"), "inbox", "--json")))
    assert [m["id"] for m in inbox] == [sent["id"]]
    assert json.loads(ok(relay(as_(env, "bob"), "inbox", "--json"))) == []


def test_claim_release_read_reply_thread_agents(env, live):
    ok(relay(env, "register", "--id", "alice", "--label", "Alice"))
    ok(relay(env, "register", "--id", "bob", "--cap", "review", "--tag", "x"))
    ok(relay(env, "register", "--id", "carol", "--cap", "review"))
    ok(relay(as_(env, "alice"), "send", "cap:review", "review PR 7", "--claimable", "--subject", "PR 7"))
    claimed = ok(relay(as_(env, "bob"), "claim", "1", "--ttl", "60"))
    assert claimed.startswith("claimed #1 until ")
    done = relay(as_(env, "carol"), "claim", "1")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "relay: already claimed by bob\n")
    assert ok(relay(as_(env, "bob"), "release", "1")) == "released #1\n"
    ok(relay(as_(env, "bob"), "claim", "1"))
    assert ok(relay(as_(env, "bob"), "read", "1")) == "read #1\n"
    assert ok(relay(as_(env, "bob"), "reply", "1", "LGTM")) == "#2 delivered\n"
    thread = lines(ok(relay(env, "thread", "2")))
    assert [l.split()[0] for l in thread] == ["#1", "#2"]
    assert "[claimed by bob]" in thread[0] and "bob -> alice  [re #1]  LGTM" in thread[1]
    table = lines(ok(relay(env, "agents")))
    assert table[0].split() == ["ID", "STATUS", "LABEL", "SEEN", "TAGS", "CAPABILITIES"]
    assert [r.split()[0] for r in table[1:]] == ["alice", "bob", "carol"]
    assert table[2].split()[1:3] == ["online", "-"] and table[2].split()[-2:] == ["x", "review"]
    assert [r.split()[0] for r in lines(ok(relay(env, "agents", "--tag", "x")))[1:]] == ["bob"]
    # an inbox sees the reply; bob's read was recorded
    assert json.loads(ok(relay(env, "thread", "1", "--json")))[0]["readBy"] == ["bob"]


def test_tasks(env, live):
    ok(relay(env, "register", "--id", "bob"))
    assert ok(relay(as_(env, "alice"), "task", "create", "fix the build", "--severity", "high",
                    "--target", "bob", "--body", "CI is red")) == "task #1 open\n"
    table = lines(ok(relay(env, "task", "list")))
    assert table[0].split() == ["ID", "STATUS", "SEVERITY", "CLAIMED", "UPDATED", "TITLE"]
    assert table[1].split()[:4] == ["1", "open", "high", "-"] and table[1].endswith("fix the build")
    assert ok(relay(as_(env, "bob"), "task", "claim", "1")) == "claimed task #1\n"
    assert ok(relay(as_(env, "bob"), "task", "status", "1", "in_progress", "--note", "on it")) == "task #1 in_progress\n"
    assert ok(relay(as_(env, "bob"), "task", "status", "1", "resolved")) == "task #1 resolved\n"
    done = relay(as_(env, "bob"), "task", "status", "1", "open")
    assert done.returncode == 1 and done.stderr.startswith("relay: ") and "resolved" in done.stderr
    assert len(lines(ok(relay(env, "task", "list", "--status", "open")))) == 1   # the header only
    # the task's message reached bob
    [message] = json.loads(ok(relay(as_(env, "bob"), "inbox", "--json")))
    assert (message["kind"], message["payload"]["taskId"]) == ("task", 1)


def test_errors_usage_and_unreachable(env, live, tmp_path):
    ok(relay(env, "register", "--id", "bob"))
    done = relay(as_(env, "bob"), "claim", "99")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "relay: message 99 not found\n")
    done = relay(env, "send")
    assert done.returncode == 2 and "the following arguments are required: to" in done.stderr
    done = relay(env, "send", "bob", "x", "--payload", "{nope")
    assert done.returncode == 2 and "--payload is not JSON" in done.stderr
    done = relay(env, "inbox", "--wait", "99")
    assert done.returncode == 2 and "--wait must be between 0 and 60" in done.stderr
    done = relay(env, "nosuchverb")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    port = free_port()
    for verb in (["inbox"], ["agents"], ["send", "bob", "x"], ["watch"], ["wait", "--timeout", "1"]):
        done = relay(env, *verb, "--url", f"http://127.0.0.1:{port}")
        assert done.returncode == 3, (verb, done.stderr)
        assert done.stderr == f"relay: cannot reach http://127.0.0.1:{port}: connection refused\n"
        assert done.stdout == ""
    done = relay(env, "agents", "--url", "ftp://x")
    assert done.returncode == 2 and "relay URL must be http(s)" in done.stderr


def test_token_is_sent(tmp_path, live_factory):
    server = live_factory(token="s3cret")
    env = environment(server, tmp_path)
    done = relay(env, "agents")
    assert done.returncode == 1 and done.stderr.startswith("relay: ")
    assert ok(relay(env, "agents", "--token", "s3cret")).startswith("ID")
    assert ok(relay({**env, "AGENT_RELAY_TOKEN": "s3cret"}, "register", "--id", "x")) == "x\n"


def test_wait_returns_on_a_message_from_another_process(env, live):
    ok(relay(env, "register", "--id", "bob"))
    waiter = subprocess.Popen([RELAY, "wait", "--timeout", "40"], env=as_(env, "bob"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    ok(relay(as_(env, "alice"), "send", "bob", "wake up", "--subject", "ping"))
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert len(lines(out)) == 1 and out.startswith("#1 ") and out.rstrip().endswith("ping: wake up")
    # wait leaves the cursor: inbox still shows it; then wait times out with 1
    assert lines(ok(relay(as_(env, "bob"), "inbox")))[0].startswith("#1 ")
    started = time.monotonic()
    done = relay(as_(env, "bob"), "wait", "--timeout", "1")
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
    assert time.monotonic() - started < 15


def test_watch_resumes_across_a_relay_restart(tmp_path):
    port = free_port()
    settings = Settings(db=str(tmp_path / "w.db"), port=port, reap_interval=3600, keepalive=0.5)
    server = Live(settings)
    env = environment(server, tmp_path)
    ok(relay(env, "register", "--id", "bob"))
    watcher = subprocess.Popen([RELAY, "watch", "--types", "message.new"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        ok(relay(as_(env, "alice"), "send", "bob", "one"))
        first = watcher.stdout.readline()
        assert first.split()[1:3] == ["message.new", "1"] and first.rstrip().endswith("alice -> bob: one")
        server.stop()
        server = Live(settings)               # the same database, the same port
        # sent before the watcher is back: replayed from Last-Event-ID
        ok(relay(as_(env, "alice"), "send", "bob", "two"))
        ok(relay(as_(env, "alice"), "send", "bob", "three"))
        got = [watcher.stdout.readline(), watcher.stdout.readline()]
        assert [g.rstrip().rsplit(" ", 1)[1] for g in got] == ["two", "three"]
        ids = [int(line.split()[0]) for line in [first] + got]
        assert ids == sorted(set(ids))        # nothing repeated, in order
    finally:
        watcher.terminate()
        _, err = watcher.communicate(timeout=10)
        server.stop()
    assert "relay: stream dropped" in err and "reconnecting from event" in err
    assert "Traceback" not in err


def test_a_relay_on_a_new_database_resets_the_cursor(tmp_path):
    port = free_port()
    server = Live(Settings(db=str(tmp_path / "one.db"), port=port, reap_interval=3600))
    env = environment(server, tmp_path)
    try:
        ok(relay(env, "register", "--id", "bob"))
        for body in ("a", "b", "c"):
            ok(relay(as_(env, "alice"), "send", "bob", body))
        assert len(lines(ok(relay(as_(env, "bob"), "inbox")))) == 3
        server.stop()
        server = Live(Settings(db=str(tmp_path / "two.db"), port=port, reap_interval=3600))
        ok(relay(env, "register", "--id", "bob"))
        ok(relay(as_(env, "alice"), "send", "bob", "fresh"))
        out = lines(ok(relay(as_(env, "bob"), "inbox")))
        assert [l.split()[0] for l in out] == ["#1"] and out[0].endswith("fresh")
    finally:
        server.stop()


def test_ack_and_search(env, live):
    for agent in ("alice", "bob"):
        ok(relay(env, "register", "--id", agent))
    sent = ok(relay(as_(env, "alice"), "send", "bob", "review the café migration", "--ack",
                    "--ack-within", "600", "--subject", "migration"))
    assert sent == "#1 delivered\n"
    ok(relay(as_(env, "carol"), "send", "alice", "not for bob: migration"))
    [line] = lines(ok(relay(as_(env, "bob"), "inbox")))
    assert line.startswith("#1 ") and "[ack by " in line and "migration: review" in line
    # search: only what bob can read, best match first, the snippet under each hit
    found = lines(ok(relay(as_(env, "bob"), "search", "cafe", "migration")))
    assert found[0].startswith("#1 ") and found[1] == "    review the [café] [migration]"
    assert len(found) == 2
    assert len(lines(ok(relay(as_(env, "bob"), "search", "--all", "migration")))) == 4
    assert json.loads(ok(relay(as_(env, "bob"), "search", "nothing-like-it", "--json"))) == []
    # progress, nack, ack: each answers the receipt
    assert ok(relay(as_(env, "bob"), "ack", "1", "--progress")).startswith(
        "#1 delivered for bob (delivery 1, due ")
    nacked = json.loads(ok(relay(as_(env, "bob"), "ack", "1", "--nack", "--retry", "30",
                                 "--note", "busy", "--json")))
    assert (nacked["note"], nacked["state"]) == ("busy", "delivered")
    assert ok(relay(as_(env, "bob"), "ack", "1", "--note", "merged")) == \
        "#1 acked for bob (delivery 1)\n"
    _, receipts = live.request("GET", "/api/messages/1/receipts")
    assert (receipts[0]["ackedBy"], receipts[0]["note"]) == ("bob", "merged")
    # errors: the relay's sentence, exit 1; usage, exit 2
    done = relay(as_(env, "alice"), "ack", "1")
    assert (done.returncode, done.stderr) == (1, "relay: agent alice is not a recipient of message 1\n")
    done = relay(as_(env, "bob"), "ack", "1", "--progress", "--nack")
    assert done.returncode == 2 and "at most one of --progress or --nack" in done.stderr
