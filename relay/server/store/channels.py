"""Channels: outside conversations bound to agents, their bindings, and what
routing reads (README: Bridging a Slack channel; the routing itself is domain/channels.py)."""
from . import dumps, loads, messages, placeholders, policies, pools
from .agents import LIVE_STATUSES

INBOUND = ("inbound", "both")
# A target type and the address prefix its messages are sent to.
PREFIX = {"agent": "", "label": "label:", "tag": "tag:", "capability": "cap:",
          "orchestrator": "orchestrator:", "pool": "pool:", "policy": "policy:"}


def address_of(target: dict) -> str:
    if target["type"] == "broadcast":
        return "broadcast"
    return PREFIX[target["type"]] + target["id"]


def binding_dict(row) -> dict:
    target = {"type": row["target_type"], "id": row["target_id"] or None}
    return {"id": row["id"], "channel": row["channel"], "target": target, "mode": row["mode"],
            "direction": row["direction"], "priority": row["priority"],
            "address": address_of(target), "createdAt": row["created_at"]}


def to_dict(row) -> dict:
    return {"id": row["id"], "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def get(conn, channel_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM channels WHERE id = ?", (channel_id,)).fetchone()
    return to_dict(row) if row else None


def listing(conn) -> list[dict]:
    return [to_dict(r) for r in conn.execute("SELECT * FROM channels ORDER BY id")]


def bindings(conn, channel_id: str) -> list[dict]:
    """In routing order: lowest priority number first, then creation order."""
    rows = conn.execute("SELECT * FROM channel_bindings WHERE channel = ? ORDER BY priority, id",
                        (channel_id,))
    return [binding_dict(r) for r in rows]


def _touch(conn, channel_id: str, now: int) -> None:
    conn.execute("INSERT INTO channels (id, created_at, updated_at) VALUES (?, ?, ?) "
                 "ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
                 (channel_id, now, now))


def add_binding(conn, channel_id: str, binding: dict, now: int) -> dict:
    """Adds a binding, creating the channel the first time."""
    _touch(conn, channel_id, now)
    target = binding["target"]
    row = conn.execute(
        """INSERT INTO channel_bindings (channel, target_type, target_id, mode, direction,
               priority, created_at) VALUES (?,?,?,?,?,?,?) RETURNING *""",
        (channel_id, target["type"], target.get("id") or "", binding["mode"],
         binding["direction"], binding["priority"], now)).fetchone()
    return binding_dict(row)


def replace_bindings(conn, channel_id: str, new: list[dict], now: int) -> list[dict]:
    _touch(conn, channel_id, now)
    conn.execute("DELETE FROM channel_bindings WHERE channel = ?", (channel_id,))
    return [add_binding(conn, channel_id, b, now) for b in new]


def delete_binding(conn, channel_id: str, binding_id: int, now: int) -> dict | None:
    row = conn.execute("DELETE FROM channel_bindings WHERE channel = ? AND id = ? RETURNING *",
                       (channel_id, binding_id)).fetchone()
    if row:
        _touch(conn, channel_id, now)
    return binding_dict(row) if row else None


# --- health: how many online agents a binding's target reaches now ------------------

_LIVE = f"status IN ({placeholders(LIVE_STATUSES)})"


def _reached(conn, target: dict) -> tuple[str, list]:
    """The online agents a target reaches, as (SELECT ... of them, arguments)."""
    kind, name = target["type"], target["id"]
    if kind == "pool":
        return pools.ONLINE_MEMBERS, [name, *pools.ONLINE]      # none for an unknown pool
    if kind in ("agent", "orchestrator", "policy"):
        if kind == "orchestrator":
            row = conn.execute("SELECT agent_id FROM orchestrators WHERE id = ?", (name,)).fetchone()
            name = row["agent_id"] if row else None
        elif kind == "policy":
            name = policies.running_agent(conn, name)
        sql, args = "id = ?", [name]
    elif kind == "label":
        sql, args = "label = ?", [name]
    elif kind in ("tag", "capability"):
        column = "tags" if kind == "tag" else "capabilities"
        sql, args = conn.dialect.json_has(f"agents.{column}"), [name]
    else:
        sql, args = "1 = 1", []
    return f"SELECT 1 FROM agents WHERE {_LIVE} AND {sql}", [*LIVE_STATUSES, *args]


def online_agents(conn, target: dict) -> int:
    sql, args = _reached(conn, target)
    return conn.execute(f"SELECT count(*) FROM ({sql}) AS reached", args).fetchone()[0]


def healthy(conn, target: dict) -> bool:
    """Whether the target reaches an online agent (stops at the first one)."""
    sql, args = _reached(conn, target)
    return bool(conn.execute(f"SELECT EXISTS ({sql})", args).fetchone()[0])


def summary(conn, channel: dict) -> dict:
    found = bindings(conn, channel["id"])
    health = []
    for b in found:
        online = online_agents(conn, b["target"])
        health.append({"bindingId": b["id"], "healthy": online > 0, "onlineAgents": online})
    row = conn.execute("SELECT count(*) AS n, max(id) AS last FROM messages WHERE channel = ?",
                       (channel["id"],)).fetchone()
    last = None
    if row["last"] is not None:
        last = conn.execute("SELECT created_at FROM messages WHERE id = ?",
                            (row["last"],)).fetchone()[0]
    return {"id": channel["id"], "bindings": found, "messageCount": row["n"],
            "lastActivityAt": max(channel["updatedAt"], last or 0),
            "health": health, "createdAt": channel["createdAt"], "updatedAt": channel["updatedAt"]}


# --- inbound events: what routing reads and writes ----------------------------------

def first_routing(conn, channel_id: str, key: str) -> dict | None:
    """The routing an idempotencyKey already had on this channel ({messages, routes})."""
    first = conn.execute("SELECT * FROM channel_events WHERE channel = ? AND "
                         "idempotency_key = ?", (channel_id, key)).fetchone()
    if first is None:
        return None
    found = [messages.get(conn, i) for i in loads(first["message_ids"], [])]
    return {"messages": [m for m in found if m], "routes": loads(first["routes"], [])}


def remember_routing(conn, channel_id: str, key: str, sent: list[dict], routes: list[dict],
                     now: int) -> None:
    conn.execute("INSERT INTO channel_events (channel, idempotency_key, message_ids, routes, "
                 "created_at) VALUES (?,?,?,?,?)",
                 (channel_id, key, dumps([m["id"] for m in sent]), dumps(routes), now))


def channel_messages(conn, channel_id: str, since: int, limit: int) -> list[dict]:
    rows = conn.execute("SELECT * FROM messages WHERE channel = ? AND id > ? ORDER BY id LIMIT ?",
                        (channel_id, since, limit))
    return [messages.to_dict(r) for r in rows]
