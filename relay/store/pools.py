"""Pools: named live groups of agents and how one member is picked (API.md §6)."""
import random

from . import dumps, loads
from .agents import to_dict as agent_dict

STRATEGIES = ("round-robin", "least-recent", "random")
ONLINE = ("online", "idle", "busy")


def to_dict(row) -> dict:
    return {"name": row["name"], "selector": loads(row["selector"], {}), "strategy": row["strategy"],
            "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def get(conn, name: str) -> dict | None:
    row = conn.execute("SELECT * FROM pools WHERE name = ?", (name,)).fetchone()
    return to_dict(row) if row else None


def put(conn, name: str, selector: dict, strategy: str, now: int) -> tuple[dict, bool]:
    created = get(conn, name) is None
    conn.execute(
        """INSERT INTO pools (name, selector, strategy, created_at, updated_at) VALUES (?,?,?,?,?)
           ON CONFLICT (name) DO UPDATE SET selector = excluded.selector,
               strategy = excluded.strategy, updated_at = excluded.updated_at""",
        (name, dumps(selector), strategy, now, now))
    return get(conn, name), created


def is_member(selector: dict, agent: dict) -> bool:
    """Member when the agent matches every non-empty part of the selector."""
    if not set(selector.get("tags") or ()) <= set(agent["tags"]):
        return False
    if not set(selector.get("capabilities") or ()) <= set(agent["capabilities"]):
        return False
    if selector.get("labels") and agent["label"] not in selector["labels"]:
        return False
    return not selector.get("agentIds") or agent["id"] in selector["agentIds"]


def online_members(conn, pool: dict) -> list[str]:
    rows = conn.execute(f"SELECT * FROM agents WHERE status IN ({','.join('?' * len(ONLINE))}) "
                        "ORDER BY id", ONLINE)
    return [r["id"] for r in rows if is_member(pool["selector"], agent_dict(r))]


def pools_with_member(conn, agent: dict) -> list[dict]:
    return [p for p in map(to_dict, conn.execute("SELECT * FROM pools ORDER BY name"))
            if is_member(p["selector"], agent)]


def pick(conn, pool: dict, now: int, members: list[str] | None = None, rng=random) -> str | None:
    """One online member by the pool's strategy, recorded as picked; None when none.

    `members` saves re-reading the online members when picking many times at once.
    """
    if members is None:
        members = online_members(conn, pool)
    if not members:
        return None
    if pool["strategy"] == "random":
        chosen = rng.choice(members)
    elif pool["strategy"] == "least-recent":
        picked = dict(conn.execute("SELECT agent_id, picked_at FROM pool_picks WHERE pool = ?",
                                   (pool["name"],)).fetchall())
        chosen = min(members, key=lambda m: (m in picked, picked.get(m, 0), m))
    else:
        last = conn.execute("SELECT last_pick FROM pools WHERE name = ?", (pool["name"],)).fetchone()[0]
        chosen = next((m for m in members if last is None or m > last), members[0])
    conn.execute("UPDATE pools SET last_pick = ? WHERE name = ?", (chosen, pool["name"]))
    conn.execute("INSERT INTO pool_picks (pool, agent_id, picked_at) VALUES (?,?,?) "
                 "ON CONFLICT (pool, agent_id) DO UPDATE SET picked_at = excluded.picked_at",
                 (pool["name"], chosen, now))
    return chosen
