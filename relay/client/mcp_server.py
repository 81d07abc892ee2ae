"""`relay mcp`: a stdio MCP server on the official SDK (the extra relay[mcp]).

Only this module imports the SDK (large and slow to import); the relay server
and the other verbs never do. Tools are declared once, in TOOLS below: each is
a function with typed parameters and a docstring that teaches the model when to
use it, plus its annotations. Every tool but relay_inbox ends its result with a
one-line notice of messages that arrived since the last notice (never twice).
"""
import json
import threading
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from .. import __version__
from . import mail
from .context import default_agent_id, session
from .transport import RelayError, Unreachable
from .presence import Presence
from .state import State

INSTRUCTIONS = """\
You are connected to a relay: a message bus shared with other agents.
- When a tool result ends with "relay: N new message(s)", call relay_inbox and read them.
- A claimable message is work offered to several agents: relay_claim it before working on it
  (a 409 means another agent has it: leave it), relay_release it if you stop.
- Answer with relay_reply (it goes to the sender, in the same thread); relay_send starts a new
  conversation (to an agent id, label:<l>, tag:<t>, cap:<c>, or broadcast).
- relay_inbox with wait (up to 50 s) waits for the next message when you have nothing else to do.
- A message with ackRequired waits for relay_ack once you have acted on it (mode progress if
  you need longer); one marked redelivered is late: ack it. relay_search finds earlier messages.
"""

Json = dict[str, Any]
# Codex and Claude Code cut a tool call at 60 s.
MAX_WAIT = 50


class Session:
    """The agent this server acts as, its relay client and its state file."""

    def __init__(self, client, agent_id):
        self.client = client
        self.agent_id = agent_id
        self.state = State(client.url, agent_id)
        self.instance_id, self.epoch = session()
        self.presence = None
        self.lock = threading.Lock()

    def start(self):
        """Register if unknown (a fresh instanceId) and heartbeat while running;
        an agent held by `relay run` (RELAY_INSTANCE_ID set) is left to it."""
        if self.instance_id:
            return
        try:
            self.client.agent(self.agent_id)
            known = True
        except RelayError as error:
            known = error.status != 404
        except Unreachable:
            known = False
        if known:
            self.presence = Presence(self.client, self.agent_id, {"instanceId": None})
            self.presence.registered.set()         # heartbeat an agent someone else registered
        else:
            self.presence = Presence(self.client, self.agent_id, {"kind": "provider"})
            self.presence.try_register()       # before the first tool call; else in the background
        self.presence.start()

    def stop(self):
        if self.presence is not None:
            self.presence.stop()

    def guard(self):
        """instanceId/epoch to act with (the runner's, else this server's)."""
        if self.instance_id:
            return self.instance_id, self.epoch
        p = self.presence
        if p is not None and p.fields.get("instanceId") and p.registered.is_set():
            return p.instance_id, p.epoch
        return None, None

    def notice(self):
        """The "new messages" line, once per message; None when nothing is new."""
        with self.lock:
            try:
                fresh = mail.unannounced(self.client, self.agent_id, self.state)
            except (RelayError, Unreachable):
                return None
            if not fresh:
                return None
            self.state.advance(noticed=max(m["id"] for m in fresh))
            return mail.notice_line(fresh)


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except RelayError as error:
        raise ToolError(f"relay: {error.message}") from None
    except Unreachable as error:
        raise ToolError(f"relay: {error}") from None


def result(structured, notice=None):
    content = [TextContent(type="text", text=json.dumps(structured, ensure_ascii=False))]
    if notice:
        content.append(TextContent(type="text", text=notice))
    return CallToolResult(content=content, structured_content=structured)


READ = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                        open_world_hint=False)
IDEMPOTENT = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                             open_world_hint=False)
# relay_inbox moves the cursor: not read-only, but repeating it loses nothing.
INBOX = IDEMPOTENT


def tools(s: Session):
    """The tools, in one place: (function, annotations)."""
    c = s.client

    def relay_whoami() -> Json:
        """Who am I on the relay: my agent card, the relay's URL and version, and how many
        unread messages wait for me. Call it first if unsure of your agent id."""
        agent = call(c.agent, s.agent_id)
        health = call(c.health)
        unread = call(mail.unread, c, s.agent_id, s.state, limit=500)
        return {"agent": agent, "relay": {"url": c.url, "version": health.get("version")},
                "unread": len(unread)}

    def relay_send(to: Annotated[str, Field(description="an agent id, broadcast, label:<l>, "
                                            "tag:<t>, cap:<c>, pool:<p> or policy:<p>")],
                   body: str, subject: str | None = None, claimable: bool = False,
                   replyTo: int | None = None, kind: str | None = None,
                   payload: dict[str, Any] | None = None, ackRequired: bool = False,
                   ackWithinSeconds: Annotated[int | None, Field(ge=1, le=2592000)] = None) -> Json:
        """Send a message to another agent or a group. Use claimable=true to offer work that
        exactly one agent should take; ackRequired=true when you need to know it was acted
        on (each recipient must relay_ack it in time). To answer a message, prefer relay_reply."""
        return call(c.send, s.agent_id, to, body, subject=subject, claimable=claimable or None,
                    replyTo=replyTo, kind=kind, payload=payload, ackRequired=ackRequired or None,
                    ackWithinSeconds=ackWithinSeconds)

    def relay_inbox(wait: Annotated[int, Field(ge=0, le=MAX_WAIT, description=
                                               "seconds to wait for a message (0-50)")] = 0,
                    limit: Annotated[int, Field(ge=1, le=500)] = 50,
                    peek: bool = False) -> Json:
        """My new messages (newer than what I have already seen), oldest first. They count as
        seen afterwards unless peek=true. With wait, blocks up to that many seconds for the
        next message: use it when idle and waiting for work or an answer."""
        messages = call(mail.after_cursor, c, s.agent_id, s.state, limit=limit, wait=wait)
        if messages and not peek:
            # A message redelivered (its ack is late) comes first, below the cursor.
            latest = max(m["id"] for m in messages)
            s.state.advance(cursor=latest, noticed=latest)
        return {"messages": messages, "count": len(messages)}

    def relay_read(ids: list[int]) -> Json:
        """Mark messages as read (other agents and the dashboard see it)."""
        instance, epoch = s.guard()
        return {"read": call(c.read, s.agent_id, ids, instance, epoch)}

    def relay_claim(id: int, ttlSeconds: Annotated[int | None, Field(ge=1, le=86400)] = None) -> Json:
        """Claim a claimable message before working on it: exactly one agent wins. An error
        saying it is already claimed means someone else is on it: leave it."""
        instance, epoch = s.guard()
        return call(c.claim, id, s.agent_id, ttlSeconds, instance, epoch)

    def relay_release(id: int) -> Json:
        """Give a claim back when you will not finish the work, so another agent can take it."""
        instance, epoch = s.guard()
        return call(c.release, id, s.agent_id, instance, epoch)

    def relay_reply(id: int, body: str) -> Json:
        """Reply to a message: goes to its sender, in the same thread."""
        original = call(c.message, id)
        return call(c.send, s.agent_id, original["from"], body, replyTo=id)

    def relay_thread(id: int) -> Json:
        """The whole conversation a message belongs to, oldest first."""
        return {"messages": call(c.thread, id)}

    def relay_agents(status: str | None = None, tag: str | None = None,
                     capability: str | None = None) -> Json:
        """The agents on the relay (id, label, status, tags, capabilities): who to ask."""
        return {"agents": call(c.agents, status=status, tag=tag, capability=capability)}

    def relay_tasks(status: Annotated[str | None, Field(description=
                                                        "a status or a comma list")] = None) -> Json:
        """Tasks (work items with a status), newest first."""
        return {"tasks": call(c.tasks, status=status)}

    def relay_task_update(id: int, status: str | None = None, note: str | None = None,
                          claim: bool = False) -> Json:
        """Claim a task (claim=true), move it to a status (in_progress, blocked, resolved,
        failed, cancelled) and/or add a progress note."""
        task = None
        if claim:
            task = call(c.claim_task, id, s.agent_id)
        if status:
            task = call(c.task_status, id, status, agent_id=s.agent_id, note=note)
        elif note:
            call(c.task_note, id, note, agent_id=s.agent_id)
        return task or call(c.task, id)

    def relay_ack(id: int, note: str | None = None,
                  mode: Annotated[Literal["ack", "progress", "nack"], Field(description=
                      "ack: done; progress: still working (the deadline moves); nack: not now "
                      "(redelivered after retryInSeconds)")] = "ack",
                  retryInSeconds: Annotated[int | None, Field(ge=0, le=86400)] = None) -> Json:
        """Acknowledge a message marked ackRequired once you have acted on it: its sender
        waits for this, and the relay redelivers it and escalates if you do not."""
        instance, epoch = s.guard()
        if mode == "nack":
            return call(c.nack, id, s.agent_id, note, retryInSeconds, instance, epoch)
        if mode == "progress":
            return call(c.progress, id, s.agent_id, instance, epoch)
        return call(c.ack, id, s.agent_id, note, instance, epoch)

    def relay_search(q: Annotated[str, Field(description=
                         'words (all must match), "a phrase", or, -word, word* (a prefix)')],
                     limit: Annotated[int, Field(ge=1, le=100)] = 10,
                     thread: int | None = None, sender: str | None = None) -> Json:
        """Search the messages I can read, best match first; each hit has a snippet with the
        matched words in [ ]. Use it to find what was said earlier instead of scrolling."""
        return {"messages": call(c.search, q, for_agent=s.agent_id, sender=sender,
                                 thread=thread, limit=limit)}

    return [(relay_whoami, READ), (relay_send, WRITE), (relay_inbox, INBOX),
            (relay_ack, IDEMPOTENT), (relay_search, READ),
            (relay_read, IDEMPOTENT), (relay_claim, IDEMPOTENT), (relay_release, IDEMPOTENT),
            (relay_reply, WRITE), (relay_thread, READ), (relay_agents, READ),
            (relay_tasks, READ), (relay_task_update, WRITE)]


def with_notice(s, fn):
    """fn's result as a CallToolResult, with the "new messages" line when due."""
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        structured = fn(*args, **kwargs)
        return result(structured, None if fn.__name__ == "relay_inbox" else s.notice())
    return wrapped


def build(s: Session) -> MCPServer:
    server = MCPServer("relay", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING")
    for fn, annotations in tools(s):
        server.tool(annotations=annotations, structured_output=True)(with_notice(s, fn))
    return server


def serve(client, agent_id=None) -> int:
    s = Session(client, agent_id or default_agent_id())
    s.start()
    try:
        build(s).run("stdio")
    finally:
        s.stop()
    return 0
