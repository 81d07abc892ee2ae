"""The agent cache behind polls and sends: never older than the last commit."""
from relay.server.agent_cache import AgentCache

from .conftest import inbox, register, send


def last_seen(client, agent_id):
    return client.get(f"/api/agents/{agent_id}").get_json()["lastSeen"]


def test_poll_follows_a_tag_change_at_once(client):
    register(client, "a", tags=["old"])
    assert inbox(client, "a") == []                      # a is cached now
    assert client.patch("/api/agents/a", json={"tags": ["new"]}).status_code == 200
    send(client, "z", "tag:old", "to the old tag")
    send(client, "z", "tag:new", "to the new tag")
    assert [m["body"] for m in inbox(client, "a")] == ["to the new tag"]


def test_unknown_then_registered_then_deleted(client):
    assert client.get("/api/messages?for=ghost").status_code == 404
    register(client, "ghost")
    send(client, "z", "ghost", "boo")
    assert [m["body"] for m in inbox(client, "ghost")] == ["boo"]
    assert client.delete("/api/agents/ghost").status_code == 200
    response = client.get("/api/messages?for=ghost")
    assert response.status_code == 404
    assert response.get_json() == {"error": "agent ghost not found"}


def test_poll_presence_is_written_at_most_every_five_seconds(client, clock):
    start = register(client, "a")["lastSeen"]
    clock.advance(6)
    inbox(client, "a")
    assert last_seen(client, "a") == start + 6000
    clock.advance(4)
    inbox(client, "a")                                   # 4 s after the last write
    assert last_seen(client, "a") == start + 6000
    clock.advance(1)
    inbox(client, "a")
    assert last_seen(client, "a") == start + 11000


def test_send_presence_of_a_sender_registered_after_its_first_send(client, clock):
    register(client, "b")
    send(client, "late", "b")                            # "late" is no agent yet
    start = register(client, "late")["lastSeen"]
    clock.advance(2)
    send(client, "late", "b")
    assert last_seen(client, "late") == start
    clock.advance(5)
    send(client, "late", "b")
    assert last_seen(client, "late") == start + 7000


def test_a_read_that_raced_a_commit_is_not_kept():
    cache = AgentCache()
    stale = {"id": "a", "status": "online", "lastSeen": 1, "tags": ["old"]}
    fresh = {**stale, "tags": ["new"]}

    def load_while_a_commit_lands():
        cache.committed([({"type": "agent.status", "subject": "a", "data": fresh}, None)])
        return stale                                      # read before that commit

    assert cache.get("a", load_while_a_commit_lands) is stale
    assert cache.get("a", lambda: None) is fresh
    cache.committed([({"type": "agent.removed", "subject": "a", "data": {"agentId": "a"}}, None)])
    assert cache.get("a", lambda: fresh) is None


def test_other_events_leave_the_cache_alone():
    cache = AgentCache()
    agent = {"id": "a", "status": "online", "lastSeen": 1}
    assert cache.get("a", lambda: agent) is agent
    cache.committed([({"type": "message.new", "subject": "7", "data": {}}, None)])
    assert cache.get("a", lambda: None) is agent
