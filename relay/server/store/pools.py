"""Pools: named live groups of agents and how one member is picked."""

from . import dumps, loads, placeholders
from .agents import to_dict as agent_dict

ONLINE = ("online", "idle", "busy")
SELECTOR_PARTS = ("tags", "capabilities", "labels", "agentIds")


def to_dict(row) -> dict:
    selector = loads(row["selector"], {})
    return {"name": row["name"],
            "selector": {part: selector.get(part) or [] for part in SELECTOR_PARTS},
            "strategy": row["strategy"], "createdAt": row["created_at"],
            "updatedAt": row["updated_at"]}


def get(conn, name: str) -> dict | None:
    row = conn.execute("SELECT * FROM pools WHERE name = ?", (name,)).fetchone()
    return to_dict(row) if row else None


def listing(conn) -> list[dict]:
    return [to_dict(r) for r in conn.execute("SELECT * FROM pools ORDER BY name")]


def put(conn, name: str, selector: dict, strategy: str, now: int) -> tuple[dict, bool]:
    created = get(conn, name) is None
    conn.execute(
        """INSERT INTO pools (name, selector, strategy, created_at, updated_at) VALUES (?,?,?,?,?)
           ON CONFLICT (name) DO UPDATE SET selector = excluded.selector,
               strategy = excluded.strategy, updated_at = excluded.updated_at""",
        (name, dumps(selector), strategy, now, now))
    pool = get(conn, name)
    _remember_members(conn, pool)
    return pool, created


def delete(conn, name: str) -> bool:
    # Its picks and remembered members go with it (ON DELETE CASCADE); messages
    # queued for it stay queued until they expire or the pool is put again.
    return conn.execute("DELETE FROM pools WHERE name = ?", (name,)).rowcount == 1


def is_member(selector: dict, agent: dict) -> bool:
    """Member when the agent matches every non-empty part of the selector."""
    if not set(selector.get("tags") or ()) <= set(agent["tags"]):
        return False
    if not set(selector.get("capabilities") or ()) <= set(agent["capabilities"]):
        return False
    if selector.get("labels") and agent["label"] not in selector["labels"]:
        return False
    return not selector.get("agentIds") or agent["id"] in selector["agentIds"]


def _matching(dialect, selector: dict) -> tuple[str, list]:
    """WHERE clause and arguments selecting the agents `selector` matches: the
    SQL form of is_member, used when a pool is put."""
    where, args = [], []
    for part, column in (("tags", "tags"), ("capabilities", "capabilities")):
        for value in selector.get(part) or ():
            where.append(dialect.json_has(f"agents.{column}"))
            args.append(value)
    for part, column in (("labels", "label"), ("agentIds", "id")):
        values = selector.get(part) or ()
        if values:
            where.append(f"{column} IN ({placeholders(values)})")
            args += values
    return " AND ".join(where) or "1 = 1", args


# Members come from pool_members (kept by put and reevaluate); whether one is
# online is read from the agent itself.
_JOIN = "pool_members pm JOIN agents a ON a.id = pm.agent_id"
_MEMBERS = f"FROM {_JOIN} WHERE pm.pool = ?"
_LIVE = f"a.status IN ({placeholders(ONLINE)})"
_ONLINE = f"{_MEMBERS} AND {_LIVE}"
# The online members of the pool named by the first argument (then ONLINE).
ONLINE_MEMBERS = f"SELECT 1 {_ONLINE}"


def online_members(conn, pool: dict) -> list[str]:
    rows = conn.execute(f"SELECT pm.agent_id {_ONLINE} ORDER BY pm.agent_id",
                        (pool["name"], *ONLINE))
    return [r[0] for r in rows]


def members(conn, pool: dict) -> list[dict]:
    """Every agent the selector matches, whatever its status, by id."""
    rows = conn.execute(f"SELECT a.* {_MEMBERS} ORDER BY pm.agent_id", (pool["name"],))
    return [agent_dict(r) for r in rows]


def summary(conn, pool: dict) -> dict:
    found = members(conn, pool)
    return {**pool, "members": found, "online": sum(a["status"] in ONLINE for a in found)}


def pools_with_member(conn, agent: dict) -> list[dict]:
    rows = conn.execute("SELECT p.* FROM pools p JOIN pool_members pm ON pm.pool = p.name "
                        "WHERE pm.agent_id = ? ORDER BY p.name", (agent["id"],))
    return [to_dict(r) for r in rows]


def record_pick(conn, name: str, chosen: str, now: int) -> None:
    """Remember that `chosen` was picked now (round-robin and least-recent read it)."""
    conn.execute("UPDATE pools SET last_pick = ? WHERE name = ?", (chosen, name))
    seq = conn.execute("SELECT coalesce(max(seq), 0) + 1 FROM pool_picks WHERE pool = ?",
                       (name,)).fetchone()[0]
    conn.execute(
        """INSERT INTO pool_picks (pool, agent_id, picked_at, seq) VALUES (?, ?, ?, ?)
           ON CONFLICT (pool, agent_id) DO UPDATE SET picked_at = excluded.picked_at,
               seq = excluded.seq""",
        (name, chosen, now, seq))
    conn.execute("UPDATE pool_members SET seq = ? WHERE pool = ? AND agent_id = ?",
                 (seq, name, chosen))


def next_in_turn(conn, name: str, members: list[str] | None) -> str | None:
    """Round-robin: the first online member after the last one picked, by id; wraps."""
    last = conn.execute("SELECT last_pick FROM pools WHERE name = ?", (name,)).fetchone()[0] or ""
    if members is not None:
        return next((m for m in members if m > last), members[0] if members else None)
    for after in (last, ""):
        row = conn.execute(f"SELECT pm.agent_id {_ONLINE} AND pm.agent_id > ? "
                           "ORDER BY pm.agent_id LIMIT 1", (name, *ONLINE, after)).fetchone()
        if row:
            return row[0]
    return None


def least_recent(conn, name: str, members: list[str] | None) -> str | None:
    """The online member picked longest ago: never picked (seq 0) first, then by
    pick sequence (picks in the same millisecond stay ordered), ties by id."""
    if members is not None:
        seqs = dict(conn.execute("SELECT agent_id, seq FROM pool_members WHERE pool = ?",
                                 (name,)).fetchall())
        return min(members, key=lambda m: (seqs.get(m, 0), m), default=None)
    row = conn.execute(f"SELECT pm.agent_id {_ONLINE} ORDER BY pm.seq, pm.agent_id LIMIT 1",
                       (name, *ONLINE)).fetchone()
    return row[0] if row else None


# --- membership changes (pool.binding.changed) ------------------------------------
# pool_members remembers, per pool, the agents it matched and whether each was
# online, as of the last evaluation; an agent's change is compared against it.

# A (re)joining member keeps its place in the least-recent turn.
_LAST_PICK = ("coalesce((SELECT seq FROM pool_picks pp WHERE pp.pool = ? "
              "AND pp.agent_id = agents.id), 0)")


def _remember_members(conn, pool: dict) -> None:
    conn.execute("DELETE FROM pool_members WHERE pool = ?", (pool["name"],))
    where, args = _matching(conn.dialect, pool["selector"])
    conn.execute(
        f"""INSERT INTO pool_members (pool, agent_id, online, seq)
            SELECT ?, id, CASE WHEN status IN ({placeholders(ONLINE)}) THEN 1 ELSE 0 END,
                   {_LAST_PICK}
              FROM agents WHERE {where}""",
        (pool["name"], *ONLINE, pool["name"], *args))


def reevaluate(conn, agent_id: str, agent: dict | None) -> list[dict]:
    """Compare the agent (None once removed) with what each pool remembered of it;
    answers one change per pool where it joined, left, came online or went offline."""
    remembered = dict(conn.execute("SELECT pool, online FROM pool_members WHERE agent_id = ?",
                                   (agent_id,)).fetchall())
    changes = []
    for pool in listing(conn):
        name = pool["name"]
        member = agent is not None and is_member(pool["selector"], agent)
        online = member and agent["status"] in ONLINE
        before = remembered.get(name)
        if member and before != int(online):
            conn.execute(f"INSERT INTO pool_members (pool, agent_id, online, seq) "
                         f"SELECT ?, id, ?, {_LAST_PICK} FROM agents WHERE id = ? "
                         "ON CONFLICT (pool, agent_id) DO UPDATE SET online = excluded.online",
                         (name, int(online), name, agent_id))
        elif not member and before is not None:
            conn.execute("DELETE FROM pool_members WHERE pool = ? AND agent_id = ?",
                         (name, agent_id))
        else:
            continue
        rows = conn.execute("SELECT agent_id, online FROM pool_members WHERE pool = ? "
                            "ORDER BY agent_id", (name,)).fetchall()
        changes.append({"pool": name, "agentId": agent_id, "member": member,
                        "agentOnline": online, "memberIds": [r["agent_id"] for r in rows],
                        "online": sum(r["online"] for r in rows)})
    return changes
