"""Tasks: opening and folding, listing, claims, the status machine, history."""
import threading

import pytest

from .conftest import inbox, register

OPEN = ("open", "claimed", "in_progress", "blocked")
URL_RULE = "callbackUrl must be an http or https URL with a host name or IPv4 address (at most 2000 characters)"
FINAL = ("resolved", "failed", "cancelled")


def open_task(client, status=201, **fields):
    r = client.post("/api/tasks", json={"title": "suite red on main", **fields})
    assert r.status_code == status, r.get_json()
    return r.get_json()


def move(client, task_id, status, code=200, **fields):
    r = client.post(f"/api/tasks/{task_id}/status", json={"status": status, **fields})
    assert r.status_code == code, r.get_json()
    return r.get_json()


def claim(client, task_id, agent_id, code=200, **fields):
    r = client.post(f"/api/tasks/{task_id}/claim", json={"agentId": agent_id, **fields})
    assert r.status_code == code, r.get_json()
    return r.get_json()


def event_types(client, prefix="task."):
    return [e["type"] for e in client.get("/api/events/recent?types=" + prefix).get_json()]


def test_create_answers_every_field(client, clock):
    t = open_task(client, body="3 failures", severity="high", source="ci", dedupeKey="ci:main",
                  callbackUrl="https://ci.example/hook", payload={"run": 7}, meta={"a": 1})
    assert t == {"id": 1, "title": "suite red on main", "body": "3 failures", "severity": "high",
                 "status": "open", "source": "ci", "dedupeKey": "ci:main", "target": None,
                 "claimedBy": None, "claimExpiresAt": None,
                 "callbackUrl": "https://ci.example/hook", "payload": {"run": 7}, "meta": {"a": 1},
                 "result": None, "occurrences": 1, "integration": None, "createdAt": clock(),
                 "updatedAt": clock(), "resolvedAt": None}
    assert open_task(client, title="x")["severity"] == "medium"
    assert event_types(client) == ["task.created", "task.created"]


def test_duplicates_fold_into_the_live_task(client, clock):
    first = open_task(client, dedupeKey="disk:db-2")
    clock.advance(1)
    again = open_task(client, 200, dedupeKey="disk:db-2", title="disk 96 %")
    assert again["id"] == first["id"] and again["occurrences"] == 2
    assert again["updatedAt"] == first["updatedAt"] + 1000
    history = client.get(f"/api/tasks/{first['id']}").get_json()["events"]
    assert [(e["type"], e["note"]) for e in history] == [("created", None),
                                                        ("duplicate", "disk 96 %")]
    events = client.get("/api/events/recent?types=task.").get_json()
    assert [e["type"] for e in events] == ["task.created", "task.event"]
    assert events[1]["data"]["event"]["type"] == "duplicate"
    assert events[1]["data"]["task"]["occurrences"] == 2
    # Another key is another task; once the first is final, the key opens a new one.
    assert open_task(client, dedupeKey="other")["id"] != first["id"]
    move(client, first["id"], "resolved")
    fresh = open_task(client, 201, dedupeKey="disk:db-2")
    assert fresh["id"] not in (first["id"],) and fresh["occurrences"] == 1
    assert open_task(client, 200, dedupeKey="disk:db-2")["id"] == fresh["id"]
    # Any string is a key, the empty one too.
    empty = open_task(client, 201, dedupeKey="")
    assert open_task(client, 200, dedupeKey="")["id"] == empty["id"]


def test_target_gets_a_task_message(client):
    register(client, "worker")
    t = open_task(client, target="worker", body="look at it", severity="critical", source="ci")
    [m] = inbox(client, "worker")
    assert (m["kind"], m["from"], m["to"], m["subject"], m["body"]) == (
        "task", "system", "worker", "suite red on main", "look at it")
    assert m["payload"] == {"taskId": t["id"], "severity": "critical", "source": "ci"}
    # A folded duplicate sends nothing new.
    open_task(client, dedupeKey="k", target="worker")
    open_task(client, 200, dedupeKey="k", target="worker")
    assert len(inbox(client, "worker")) == 2


def test_unknown_target_is_404_and_opens_nothing(client):
    r = client.post("/api/tasks", json={"title": "t", "target": "nobody"})
    assert r.status_code == 404 and r.get_json() == {"error": "agent nobody not found"}
    assert client.get("/api/tasks").get_json() == []


@pytest.mark.parametrize("address", ["pool:builders", "policy:reviewer"])
def test_target_pool_or_policy_is_queued(client, relay_, address):
    from relay.server.store import config, pools
    t = relay_.clock()
    relay_.committer.commit(lambda c: (
        (pools.put(c, "builders", {"tags": ["build"]}, "round-robin", t),
         config.put(c, "spawn-policy", "reviewer", {"name": "reviewer"}, t)), []))
    task = open_task(client, target=address)
    [m] = client.get("/api/messages/queued?for=" + address).get_json()
    assert (m["kind"], m["payload"]["taskId"], m["deliveryStatus"]) == (
        "task", task["id"], "queued")
    assert event_types(client, "message.") == ["message.queued"]


def test_list_filters_newest_first(client):
    register(client, "a")
    t1 = open_task(client, source="ci", severity="high", target="a")
    t2 = open_task(client, source="mon", severity="low", target="tag:x")
    t3 = open_task(client, source="ci")
    claim(client, t3["id"], "a")
    move(client, t2["id"], "blocked")

    def ids(query=""):
        r = client.get("/api/tasks" + query)
        assert r.status_code == 200, r.get_json()
        return [t["id"] for t in r.get_json()]
    assert ids() == [3, 2, 1]
    assert ids("?status=open") == [1]
    assert ids("?status=claimed,blocked") == [3, 2]
    assert ids("?source=ci") == [3, 1]
    assert ids("?severity=low") == [2]
    assert ids("?target=a") == [1]
    assert ids("?target=tag:x") == [2]
    assert ids("?claimedBy=a") == [3]
    assert ids("?before=3&limit=1") == [2]
    assert (t1["id"], t2["id"], t3["id"]) == (1, 2, 3)


@pytest.mark.parametrize("query,error", [
    ("status=nope", "status must be a comma separated list of open, claimed, in_progress, "
                    "blocked, resolved, failed, cancelled"),
    ("status=open,x", "status must be a comma separated list of open, claimed, in_progress, "
                      "blocked, resolved, failed, cancelled"),
    ("severity=huge", "severity must be one of info, low, medium, high, critical"),
    ("limit=0", "limit must be an integer between 1 and 500"),
    ("before=x", "before must be an integer between 1 and 9223372036854775807"),
])
def test_bad_list_query_is_400(client, query, error):
    r = client.get("/api/tasks?" + query)
    assert r.status_code == 400 and r.get_json() == {"error": error}


@pytest.mark.parametrize("body,error", [
    ({}, "title is required"),
    ({"title": "  "}, "title must not be empty"),
    ({"title": "t" * 241}, "title must be at most 240 characters"),
    ({"title": 5}, "title must be a string"),
    ({"title": "t", "severity": "urgent"},
     "severity must be one of info, low, medium, high, critical"),
    ({"title": "t", "callbackUrl": "ftp://x/y"}, URL_RULE),
    ({"title": "t", "callbackUrl": "file:///etc/passwd"}, URL_RULE),
    ({"title": "t", "callbackUrl": "http://"}, URL_RULE),
    ({"title": "t", "callbackUrl": "http://ci.example:99999/hook"}, URL_RULE),
    ({"title": "t", "callbackUrl": "http://ci.example/" + "x" * 2000}, URL_RULE),
    ({"title": "t", "payload": []}, "payload must be a JSON object"),
    ({"title": "t", "meta": "x"}, "meta must be a JSON object"),
    ({"title": "t", "dedupeKey": "k" * 241}, "dedupeKey must be at most 240 characters"),
    ({"title": "t", "source": "s" * 121}, "source must be at most 120 characters"),
    ({"title": "t", "target": "a/b"}, "target must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -"),
    ({"title": "t", "body": 3}, "body must be a string"),
])
def test_bad_create_is_400_naming_the_field(client, body, error):
    r = client.post("/api/tasks", json=body)
    assert r.status_code == 400 and r.get_json() == {"error": error}


def test_get_unknown_task_is_404(client):
    for method, path in (("get", "/api/tasks/9"), ("delete", "/api/tasks/9"),
                         ("get", "/api/tasks/9/deliveries")):
        r = getattr(client, method)(path)
        assert r.status_code == 404 and r.get_json() == {"error": "task 9 not found"}
    assert client.post("/api/tasks/9/status", json={"status": "open"}).status_code == 404
    assert client.post("/api/tasks/9/events", json={"note": "n"}).status_code == 404
    assert client.get("/api/tasks/0").status_code == 404
    assert client.get("/api/tasks/99999999999999999999").status_code == 404


def test_claim_release_and_ttl(client, relay_, clock):
    register(client, "a")
    register(client, "b")
    t = open_task(client)
    held = claim(client, t["id"], "a", ttlSeconds=60)
    assert (held["status"], held["claimedBy"], held["claimExpiresAt"]) == (
        "claimed", "a", clock() + 60000)
    assert claim(client, t["id"], "b", 409) == {"error": "task 1 is already claimed by a"}
    # The holder re-claiming extends and keeps its status.
    move(client, t["id"], "in_progress", agentId="a")
    clock.advance(10)
    again = claim(client, t["id"], "a")
    assert again["status"] == "in_progress" and again["claimExpiresAt"] == clock() + 300000
    r = client.post(f"/api/tasks/{t['id']}/release", json={"agentId": "b"})
    assert r.status_code == 409 and r.get_json() == {"error": "task 1 is claimed by a, not b"}
    released = client.post(f"/api/tasks/{t['id']}/release", json={"agentId": "a"}).get_json()
    assert (released["status"], released["claimedBy"], released["claimExpiresAt"]) == (
        "open", None, None)
    r = client.post(f"/api/tasks/{t['id']}/release", json={"agentId": "a"})
    assert r.status_code == 409 and r.get_json() == {"error": "task 1 is not claimed"}
    # An expired claim can be taken before the reaper runs.
    claim(client, t["id"], "a", ttlSeconds=5)
    clock.advance(5)
    assert claim(client, t["id"], "b")["claimedBy"] == "b"
    history = [(e["type"], e["status"], e["agentId"])
               for e in client.get(f"/api/tasks/{t['id']}").get_json()["events"]]
    assert history == [("created", "open", None), ("claimed", "claimed", "a"),
                       ("status", "in_progress", "a"), ("claimed", "in_progress", "a"),
                       ("released", "open", "a"), ("claimed", "claimed", "a"),
                       ("claimed", "claimed", "b")]


def test_claim_needs_a_registered_agent_and_a_live_session(client):
    a = register(client, "a")
    t = open_task(client)
    r = client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "ghost"})
    assert r.status_code == 404 and r.get_json() == {"error": "agent ghost not found"}
    r = client.post(f"/api/tasks/{t['id']}/claim", json={"agentId": "a", "epoch": a["epoch"] + 1})
    assert r.status_code == 409 and r.get_json() == {"error": "stale agent session"}
    for body, error in (({}, "agentId is required"),
                        ({"agentId": "a", "ttlSeconds": 0},
                         "ttlSeconds must be an integer between 1 and 86400")):
        r = client.post(f"/api/tasks/{t['id']}/claim", json=body)
        assert r.status_code == 400 and r.get_json() == {"error": error}
    assert client.post("/api/tasks/1/release", json={}).get_json() == {
        "error": "agentId is required"}


@pytest.mark.parametrize("final", FINAL)
def test_final_task_cannot_be_claimed_or_moved(client, final):
    register(client, "a")
    t = open_task(client)
    done = move(client, t["id"], final, result={"fixed": "abc123"}, note="done")
    assert done["resolvedAt"] is not None and done["result"] == {"fixed": "abc123"}
    assert claim(client, t["id"], "a", 409) == {
        "error": f"task 1 is {final}: a final task cannot be claimed"}
    for status in OPEN[:1] + OPEN[2:] + FINAL:
        assert move(client, t["id"], status, 409) == {
            "error": f"task 1 is {final}, a final status: it cannot move to {status} "
                     "(open a new task)"}
    assert client.post(f"/api/tasks/{t['id']}/release", json={"agentId": "a"}).status_code == 409


@pytest.mark.parametrize("start", ["open", "in_progress", "blocked"])
@pytest.mark.parametrize("target", ["open", "in_progress", "blocked", *FINAL])
def test_every_move_from_a_live_status_is_legal(client, start, target):
    t = open_task(client)
    if start != "open":
        move(client, t["id"], start)
    moved = move(client, t["id"], target)
    assert moved["status"] == target
    assert (moved["resolvedAt"] is not None) == (target in FINAL)


def test_moves_from_claimed(client):
    register(client, "a")
    register(client, "b")
    t = open_task(client)
    claim(client, t["id"], "a")
    assert move(client, t["id"], "in_progress", 409, agentId="b") == {
        "error": "task 1 is claimed by a, not b"}
    assert move(client, t["id"], "in_progress", agentId="a")["claimedBy"] == "a"
    opened = move(client, t["id"], "open")
    assert (opened["claimedBy"], opened["claimExpiresAt"]) == (None, None)


def test_claimed_is_not_a_status_move(client):
    t = open_task(client)
    rule = ("status must be one of open, in_progress, blocked, resolved, failed, cancelled "
            "(claimed is set only by POST /api/tasks/:id/claim)")
    assert move(client, t["id"], "claimed", 400) == {"error": rule}
    assert move(client, t["id"], "done", 400) == {"error": rule}
    r = client.post(f"/api/tasks/{t['id']}/status", json={})
    assert r.get_json() == {"error": "status is required"}
    r = client.post(f"/api/tasks/{t['id']}/status", json={"status": "open", "result": [1]})
    assert r.get_json() == {"error": "result must be a JSON object"}


def test_progress_events(client, clock):
    t = open_task(client)
    r = client.post(f"/api/tasks/{t['id']}/events",
                    json={"note": "bisecting", "agentId": "a", "progress": 40})
    assert r.status_code == 201
    assert r.get_json() == {"id": 2, "taskId": 1, "type": "progress", "status": "open",
                            "note": "bisecting", "agentId": "a", "progress": 40,
                            "createdAt": clock()}
    [event] = [e for e in client.get("/api/events/recent").get_json() if e["type"] == "task.event"]
    assert event["data"]["event"] == r.get_json()
    for body, error in (({}, "note is required"),
                        ({"note": "n", "progress": 101},
                         "progress must be an integer between 0 and 100"),
                        ({"note": "n", "progress": -1},
                         "progress must be an integer between 0 and 100"),
                        ({"note": "n", "agentId": "a b"},
                         "agentId must be 1-240 characters of A-Z a-z 0-9 . _ : @ + -")):
        r = client.post(f"/api/tasks/{t['id']}/events", json=body)
        assert r.status_code == 400 and r.get_json() == {"error": error}


def test_delete(client):
    t = open_task(client)
    r = client.delete(f"/api/tasks/{t['id']}")
    assert r.status_code == 200 and r.get_json() == {"ok": True}
    assert client.get(f"/api/tasks/{t['id']}").status_code == 404
    events = client.get("/api/events/recent?types=task.").get_json()
    assert events[-1]["type"] == "task.deleted" and events[-1]["data"] == {"taskId": t["id"]}


def test_task_events_reach_the_target_agents_stream_filter(client):
    register(client, "a")
    open_task(client, target="a")
    open_task(client)
    mine = client.get("/api/events/recent?agentId=a&types=task.").get_json()
    assert [e["data"]["id"] for e in mine] == [1]


def test_reaper_releases_expired_and_orphaned_claims(client, clock, settings):
    register(client, "a")
    register(client, "b")
    expiring, orphan, blocked = open_task(client), open_task(client), open_task(client)
    claim(client, expiring["id"], "a", ttlSeconds=30)
    claim(client, orphan["id"], "b", ttlSeconds=3600)
    claim(client, blocked["id"], "b", ttlSeconds=3600)
    move(client, blocked["id"], "blocked")
    clock.advance(31)
    client.post("/api/agents/a/heartbeat", json={})
    report = client.post("/api/system/reap").get_json()
    assert report["releasedTaskIds"] == [expiring["id"]]
    assert report["releasedOrphanedTaskIds"] == []
    clock.advance(settings.offline_after + 1)
    client.post("/api/agents/a/heartbeat", json={})
    report = client.post("/api/system/reap").get_json()
    assert report["offlineAgentIds"] == ["b"]
    assert report["releasedOrphanedTaskIds"] == [orphan["id"], blocked["id"]]
    states = {t["id"]: (t["status"], t["claimedBy"]) for t in client.get("/api/tasks").get_json()}
    assert states == {expiring["id"]: ("open", None), orphan["id"]: ("open", None),
                      blocked["id"]: ("blocked", None)}
    history = client.get(f"/api/tasks/{orphan['id']}").get_json()["events"]
    assert [e["type"] for e in history][-1] == "orphaned"
    assert [e["type"] for e in client.get(f"/api/tasks/{expiring['id']}").get_json()["events"]
            ][-1] == "claim_expired"
    assert client.post("/api/system/reap").get_json()["releasedOrphanedTaskIds"] == []


def test_deleting_or_pruning_an_agent_releases_its_tasks(client, clock, settings):
    register(client, "a")
    register(client, "b")
    t1, t2 = open_task(client), open_task(client)
    claim(client, t1["id"], "a")
    claim(client, t2["id"], "b", ttlSeconds=86400)
    assert client.delete("/api/agents/a").status_code == 200
    assert client.get(f"/api/tasks/{t1['id']}").get_json()["status"] == "open"
    updated = [e for e in client.get("/api/events/recent?types=task.updated").get_json()]
    assert updated[-1]["data"]["id"] == t1["id"] and updated[-1]["data"]["claimedBy"] is None
    # Pruned with the same cycle that finds it long offline.
    clock.advance(settings.prune_after + 1)
    report = client.post("/api/system/reap").get_json()
    assert report["prunedAgentIds"] == ["b"]
    assert client.get(f"/api/tasks/{t2['id']}").get_json()["claimedBy"] is None


def test_thirty_threads_claim_one_task_exactly_once(live):
    for i in range(30):
        assert live.request("POST", "/api/agents", {"id": f"w{i}"})[0] == 201
    status, task = live.request("POST", "/api/tasks", {"title": "one of us"})
    assert status == 201
    start = threading.Barrier(30)
    results = [None] * 30

    def grab(i):
        start.wait()
        results[i] = live.request("POST", f"/api/tasks/{task['id']}/claim", {"agentId": f"w{i}"})
    threads = [threading.Thread(target=grab, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [i for i, (status, _) in enumerate(results) if status == 200]
    assert len(winners) == 1
    assert sorted(status for status, _ in results) == [200] + [409] * 29
    winner = f"w{winners[0]}"
    assert all(body == {"error": f"task {task['id']} is already claimed by {winner}"}
               for status, body in results if status == 409)
    _, stored = live.request("GET", f"/api/tasks/{task['id']}")
    assert stored["claimedBy"] == winner
    assert [e["type"] for e in stored["events"]] == ["created", "claimed"]


def test_stats_and_health_count_tasks(client):
    for _ in range(3):
        open_task(client)
    move(client, 1, "resolved")
    move(client, 2, "blocked")
    assert client.get("/api/stats").get_json()["tasks"] == {
        "total": 3, "byStatus": {"open": 1, "blocked": 1, "resolved": 1}}
    assert client.get("/api/health").get_json()["counts"]["openTasks"] == 2


def test_every_change_emits_its_event(client):
    register(client, "a")
    t = open_task(client, dedupeKey="k")
    open_task(client, 200, dedupeKey="k")
    claim(client, t["id"], "a")
    move(client, t["id"], "in_progress", agentId="a")
    client.post(f"/api/tasks/{t['id']}/events", json={"note": "half way", "progress": 50})
    client.post(f"/api/tasks/{t['id']}/release", json={"agentId": "a"})
    move(client, t["id"], "resolved")
    client.delete(f"/api/tasks/{t['id']}")
    events = client.get("/api/events/recent?types=task.").get_json()
    assert [(e["type"], e["subject"]) for e in events] == [
        ("task.created", "1"), ("task.event", "1"), ("task.updated", "1"), ("task.updated", "1"),
        ("task.event", "1"), ("task.updated", "1"), ("task.updated", "1"), ("task.deleted", "1")]
    assert [e["data"].get("status") for e in events if e["type"] == "task.updated"] == [
        "claimed", "in_progress", "open", "resolved"]
    # The holder's stream sees the tasks it holds.
    held = client.get("/api/events/recent?agentId=a&types=task.updated").get_json()
    assert [e["data"]["status"] for e in held] == ["claimed", "in_progress"]


def test_concurrent_duplicates_fold_into_one_task(live):
    start = threading.Barrier(20)
    results = [None] * 20

    def report(i):
        start.wait()
        results[i] = live.request("POST", "/api/tasks", {"title": "disk full", "dedupeKey": "d"})
    threads = [threading.Thread(target=report, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(status for status, _ in results) == [200] * 19 + [201]
    assert {body["id"] for _, body in results} == {1}
    _, task = live.request("GET", "/api/tasks/1")
    assert task["occurrences"] == 20
    assert [e["type"] for e in task["events"]] == ["created"] + ["duplicate"] * 19
