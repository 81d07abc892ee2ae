"""`relay mcp` driven over stdio by the MCP SDK's own client, against a live relay."""
import threading
import time

import anyio
import pytest

pytest.importorskip("mcp")      # the test extra installs it; say so rather than fail to import

from mcp import Client                                   # noqa: E402
from mcp.client.stdio import StdioServerParameters       # noqa: E402

from tests.agent_side import RELAY, environment         # noqa: E402

TOOLS = {"relay_whoami", "relay_send", "relay_inbox", "relay_read", "relay_claim",
         "relay_release", "relay_reply", "relay_thread", "relay_agents", "relay_tasks",
         "relay_task_update", "relay_ack", "relay_search"}


def texts(result):
    return [c.text for c in result.content]


def test_mcp_server_over_stdio(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-1")
    server = StdioServerParameters(command=RELAY, args=["mcp"], env=env, cwd=str(tmp_path))
    live.request("POST", "/api/agents", {"id": "alice"})
    timings = {}

    async def main():
        started = time.monotonic()
        async with Client(server, mode="legacy", read_timeout_seconds=90) as client:
            timings["initialize"] = time.monotonic() - started
            assert "relay_claim it before working on it" in client.instructions

            listed = (await client.list_tools()).tools
            assert {t.name for t in listed} == TOOLS
            by_name = {t.name: t for t in listed}
            assert by_name["relay_whoami"].annotations.read_only_hint is True
            assert by_name["relay_thread"].annotations.read_only_hint is True
            assert by_name["relay_send"].annotations.read_only_hint is False
            assert by_name["relay_send"].annotations.destructive_hint is False
            assert by_name["relay_claim"].annotations.idempotent_hint is True
            inbox_schema = by_name["relay_inbox"].input_schema["properties"]["wait"]
            assert (inbox_schema["minimum"], inbox_schema["maximum"]) == (0, 50)
            assert set(by_name["relay_send"].input_schema["required"]) == {"to", "body"}
            assert "claimable" in by_name["relay_send"].description.lower()
            assert by_name["relay_send"].output_schema["type"] == "object"

            # registered on start (unknown before), with an instanceId
            who = await client.call_tool("relay_whoami", {})
            assert who.structured_content["agent"]["id"] == "claude-1"
            assert who.structured_content["agent"]["instanceId"]
            assert who.structured_content["relay"]["url"] == env["RELAY_URL"]
            assert who.structured_content["unread"] == 0

            sent = await client.call_tool("relay_send", {"to": "alice", "body": "hi", "subject": "s"})
            assert not sent.is_error
            assert (sent.structured_content["from"], sent.structured_content["to"],
                    sent.structured_content["deliveryStatus"]) == ("claude-1", "alice", "delivered")
            assert len(sent.content) == 1        # nothing new: no notice line

            # an inbox with wait, answered by a message another agent sends meanwhile
            threading.Timer(1.0, lambda: live.request(
                "POST", "/api/messages",
                {"from": "alice", "to": "claude-1", "body": "please review", "claimable": True})).start()
            t0 = time.monotonic()
            got = await client.call_tool("relay_inbox", {"wait": 30})
            assert time.monotonic() - t0 < 25
            [message] = got.structured_content["messages"]
            assert (message["from"], message["body"]) == ("alice", "please review")

            claimed = await client.call_tool("relay_claim", {"id": message["id"], "ttlSeconds": 60})
            assert claimed.structured_content["claimedBy"] == "claude-1"
            other = await client.call_tool("relay_claim", {"id": 999})
            assert other.is_error and texts(other)[0].endswith("relay: message 999 not found")

            # messages arriving while working: one notice line, once
            live.request("POST", "/api/messages", {"from": "alice", "to": "claude-1", "body": "more"})
            live.request("POST", "/api/messages", {"from": "alice", "to": "broadcast", "body": "all"})
            agents = await client.call_tool("relay_agents", {})
            assert [a["id"] for a in agents.structured_content["agents"]] == ["alice", "claude-1"]
            assert texts(agents)[-1] == (f"relay: 2 new messages for you (ids #{message['id'] + 1} "
                                         f"#{message['id'] + 2}) — call relay_inbox")
            again = await client.call_tool("relay_agents", {})
            assert len(again.content) == 1       # never the same notice twice

            replied = await client.call_tool("relay_reply", {"id": message["id"], "body": "done"})
            assert (replied.structured_content["to"], replied.structured_content["replyTo"]) == \
                ("alice", message["id"])
            thread = await client.call_tool("relay_thread", {"id": message["id"]})
            assert [m["body"] for m in thread.structured_content["messages"]] == ["please review", "done"]
            rest = await client.call_tool("relay_inbox", {})
            assert [m["body"] for m in rest.structured_content["messages"]] == ["more", "all"]
            read = await client.call_tool("relay_read", {"ids": [message["id"]]})
            assert not read.is_error
            released = await client.call_tool("relay_release", {"id": message["id"]})
            assert released.structured_content["claimedBy"] is None

            live.request("POST", "/api/tasks", {"title": "t1"})
            tasks = await client.call_tool("relay_tasks", {"status": "open"})
            [task] = tasks.structured_content["tasks"]
            updated = await client.call_tool("relay_task_update",
                                             {"id": task["id"], "claim": True, "status": "in_progress",
                                              "note": "started"})
            assert (updated.structured_content["status"], updated.structured_content["claimedBy"]) == \
                ("in_progress", "claude-1")
            bad = await client.call_tool("relay_inbox", {"wait": 51})
            assert bad.is_error

            # the call's cost over the HTTP call it makes (informational)
            t0 = time.monotonic()
            for _ in range(20):
                await client.call_tool("relay_thread", {"id": message["id"]})
            timings["tool"] = (time.monotonic() - t0) / 20

    anyio.run(main)
    status, agent = live.request("GET", "/api/agents/claude-1")
    assert status == 200
    print(f"\nmcp: initialize answered {timings['initialize']:.2f}s after start; "
          f"relay_thread call {timings['tool'] * 1000:.1f} ms")


def test_mcp_ack_and_search(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-2")
    server = StdioServerParameters(command=RELAY, args=["mcp"], env=env, cwd=str(tmp_path))
    live.request("POST", "/api/agents", {"id": "alice"})

    async def main():
        async with Client(server, mode="legacy", read_timeout_seconds=90) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert listed["relay_search"].annotations.read_only_hint is True
            assert listed["relay_ack"].annotations.idempotent_hint is True
            assert "relay_ack" in client.instructions
            await client.call_tool("relay_whoami", {})          # registered
            _, m = live.request("POST", "/api/messages", {
                "from": "alice", "to": "claude-2", "subject": "migration", "ackRequired": True,
                "body": "please review the migration"})
            live.request("POST", "/api/messages", {"from": "alice", "to": "alice", "body": "migration"})
            got = await client.call_tool("relay_inbox", {})
            [message] = got.structured_content["messages"]
            assert message["ackRequired"] is True
            found = await client.call_tool("relay_search", {"q": "migrat*"})
            [hit] = found.structured_content["messages"]       # only what claude-2 can read
            assert (hit["id"], hit["snippet"]) == (m["id"], "[migration]")
            progressed = await client.call_tool("relay_ack", {"id": m["id"], "mode": "progress"})
            assert progressed.structured_content["dueAt"] is not None
            acked = await client.call_tool("relay_ack", {"id": m["id"], "note": "looks good"})
            assert (acked.structured_content["state"], acked.structured_content["note"]) == (
                "acked", "looks good")
            mine = await client.call_tool("relay_send", {"to": "alice", "body": "ack this",
                                                         "ackRequired": True})
            assert mine.structured_content["ackRequired"] is True
            refused = await client.call_tool("relay_ack", {"id": mine.structured_content["id"]})
            assert refused.is_error and texts(refused)[0].endswith(
                f"relay: agent claude-2 is not a recipient of message {mine.structured_content['id']}")

    anyio.run(main)
