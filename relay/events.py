"""Events: what changed, recorded in the durable log and handed to the broadcaster.

publish() writes events *after* the state change has committed, and hands
them to the broadcaster while still holding the write lock, so the live
order is the id order. A stream subscribes before it replays from the log,
which makes resume gap-free; ids it has already replayed are skipped when
they arrive live.
"""
from dataclasses import dataclass

from . import db
from .broadcaster import Broadcaster
from .store import events as event_log
from .store.events import Envelope


@dataclass
class Event:
    type: str
    subject: str | None
    data: dict
    scope: dict | None = None          # {"to": address, "agents": [...]}: whom it concerns
    source: str = "server"


def agent_event(type_: str, agent: dict) -> Event:
    return Event(type_, agent["id"], agent, {"agents": [agent["id"]]})


def agent_removed(agent_id: str) -> Event:
    return Event("agent.removed", agent_id, {"agentId": agent_id}, {"agents": [agent_id]})


def message_scope(message: dict) -> dict:
    agents = [a for a in (message["from"], message.get("resolvedToAgent"),
                          message.get("claimedBy")) if a]
    return {"to": message["to"], "agents": agents}


def message_event(type_: str, message: dict, source: str = "server") -> Event:
    return Event(type_, str(message["id"]), message, message_scope(message), source)


def message_deleted(message: dict) -> Event:
    # Deletions carry only the id; the scope still says whom it concerned.
    return Event("message.deleted", str(message["id"]), {"messageId": message["id"]},
                 message_scope(message))


def activity_event(entry: dict) -> Event:
    scope = {"agents": [entry["agentId"]]} if entry.get("agentId") else None
    return Event("activity.created", str(entry["id"]), entry, scope)


def delivery_events(result: dict) -> list[Event]:
    """Events for store.delivery.on_agent_online's result, in the reference's order."""
    events = []
    name = result["policyName"]
    if name:
        events.append(Event("policy.state.changed", name, result["policyState"]))
        delivered = result["policyMessages"]
        if delivered:
            agent_id = result["policyState"]["agentId"]
            events.append(Event("message.available", "policy:" + name,
                                {"policyName": name, "agentId": agent_id,
                                 "messageIds": [m["id"] for m in delivered],
                                 "count": len(delivered)},
                                {"agents": [agent_id]}))
            events += [message_event("message.new", m, m["from"]) for m in delivered]
    events += [message_event("message.new", m, m["from"]) for m in result["poolMessages"]]
    return events


class Publisher:
    """Records events after the change they describe has committed, then fans out.

    It writes through its own connection at synchronous=NORMAL: the change was
    already committed (and fsynced at FULL) by the caller, and in WAL mode the
    next FULL commit makes these frames durable too. A killed process loses
    nothing; a power cut can lose only the newest events, never acknowledged
    state. It saves one fsync per write, held under the write lock.
    """

    def __init__(self, db_path: str, broadcaster: Broadcaster, clock):
        self.conn = db.connect(db_path, "NORMAL")
        self.broadcaster = broadcaster
        self.clock = clock

    def publish(self, events: list[Event]) -> list[dict]:
        if not events:
            return []
        rows = event_log.rows_for(events, self.clock())
        # One INSERT statement is its own atomic transaction. Holding the write
        # lock until the hand-off makes the live order the id order.
        with self.conn.write_lock:
            ids = event_log.append(self.conn, rows)
            stored = [(Envelope(id=i, type=e.type, source=e.source, subject=e.subject,
                                time=row[3], data=e.data), e.scope)
                      for i, e, row in zip(ids, events, rows)]
            self.broadcaster.submit(stored)
        return [envelope for envelope, _ in stored]

    def close(self) -> None:
        self.conn.close()
