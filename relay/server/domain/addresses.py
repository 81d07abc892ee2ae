"""Message addresses (the summary of POST /api/messages): parsing, which agents one reaches,
where a message to one goes now, and how a pool picks its member."""
import random

from ..store import orchestrators, policies, pools
from .errors import NotFound

PREFIXES = ("label:", "tag:", "cap:", "pool:", "policy:", "orchestrator:")


def split(address: str) -> tuple[str, str]:
    """('direct', id) | ('broadcast', '') | (prefix without ':', name)."""
    if address == "broadcast":
        return "broadcast", ""
    for prefix in PREFIXES:
        if address.startswith(prefix):
            return prefix[:-1], address[len(prefix):]
    return "direct", address


def inbox_addresses(agent: dict) -> list[str]:
    """Every `to` value that reaches this agent when it reads its inbox.

    Group addresses are matched at read time, so an agent that joins a group
    later still sees what was sent to it before.
    """
    addresses = [agent["id"], "broadcast"]
    if agent.get("label"):
        addresses.append("label:" + agent["label"])
    addresses += ["tag:" + t for t in agent.get("tags", [])]
    addresses += ["cap:" + c for c in agent.get("capabilities", [])]
    return addresses


def reaches(address: str | None, agent: dict) -> bool:
    if not address:
        return False
    kind, name = split(address)
    if kind == "direct":
        return name == agent["id"]
    if kind == "broadcast":
        return True
    if kind == "label":
        return agent.get("label") == name
    if kind == "tag":
        return name in agent.get("tags", [])
    if kind == "cap":
        return name in agent.get("capabilities", [])
    return False  # pool:/policy:/orchestrator: reach the agent they resolved to


def concerns(scope: dict | None, agent: dict) -> bool:
    """Whether an event with this scope ({to, agents}) concerns the agent."""
    if not scope:
        return False
    return agent["id"] in scope.get("agents", ()) or reaches(scope.get("to"), agent)


# --- where a message goes now ------------------------------------------------------

def resolve(conn, kind: str, name: str, now: int,
            max_age: int | None) -> tuple[str, str | None, int | None]:
    """Where a message to address `kind:name` goes now: (deliveryStatus, resolvedTo,
    expiresAt). A direct address is checked when the message is stored."""
    if kind == "orchestrator":
        orchestrator = orchestrators.get(conn, name)
        if orchestrator is None:
            raise NotFound(f"orchestrator {name} not found")
        return "delivered", orchestrator["agentId"], None
    if kind == "pool":
        pool = pools.get(conn, name)
        if pool is None:
            raise NotFound(f"pool {name} not found")
        member = pick(conn, pool, now)
        if member:
            return "delivered", member, None
        age = policies.DEFAULT_QUEUE_AGE if max_age is None else max_age
        return "queued", None, now + 1000 * age
    if kind == "policy":
        policy = policies.get(conn, name)
        if policy is None:
            raise NotFound(f"spawn policy {name} not found")
        agent_id = policies.running_agent(conn, name)
        if agent_id:
            policies.note_activity(conn, agent_id, now)
            return "delivered", agent_id, None
        age = policies.queue_max_age(policy) if max_age is None else max_age
        return "queued", None, now + 1000 * age
    return "delivered", None, None      # direct; broadcast and groups are matched when read


def pick(conn, pool: dict, now: int, members: list[str] | None = None, rng=random) -> str | None:
    """One online member by the pool's strategy, recorded as picked; None when none.

    `members` (the online members' ids) saves re-reading them when picking many
    times at once; without it, round-robin and least-recent ask SQL for the one
    member they pick, so a send reads one row whatever the pool's size.
    """
    name = pool["name"]
    if pool["strategy"] == "random":
        members = pools.online_members(conn, pool) if members is None else members
        chosen = rng.choice(members) if members else None
    elif pool["strategy"] == "least-recent":
        chosen = pools.least_recent(conn, name, members)
    else:
        chosen = pools.next_in_turn(conn, name, members)
    if chosen is not None:
        pools.record_pick(conn, name, chosen, now)
    return chosen
