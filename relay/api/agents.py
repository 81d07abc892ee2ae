"""Agents (API.md §1): register, list, get, patch, heartbeat, delete."""
from flask import Blueprint

from .. import validation as v
from ..errors import conflict, not_found
from ..events import activity_event, agent_event, agent_removed, delivery_events, message_event
from ..store import activity, agents, delivery, messages
from . import answer, commit, conn, now, relay

bp = Blueprint("agents", __name__, url_prefix="/api/agents")

KINDS = ("provider", "channel", "orchestrator", "system", "user")
STATUSES = ("online", "idle", "busy", "stale", "offline")


def known_agent(agent_id: str) -> dict | None:
    """The agent as of the latest commit, for the hot paths; its lastSeen may
    lag (agent_cache.py). Routes that answer with an agent read it fresh."""
    return relay().agent_cache.get(agent_id, lambda: agents.get(conn(), agent_id))


def agent_or_404(c, agent_id: str) -> dict:
    agent = agents.get(c, agent_id)
    if agent is None:
        raise not_found(f"agent {agent_id} not found")
    return agent


def session_fields(body: dict) -> tuple[str | None, int | None]:
    return (v.string(body, "instanceId", max_len=v.ID_MAX),
            v.integer(body, "epoch", 0, 2**53))


def acting_agent(c, agent_id: str, body: dict) -> dict:
    """The agent a call acts for, held to the session guard: an instanceId or
    epoch that is not the registered one is a stale process (409)."""
    agent = agent_or_404(c, agent_id)
    instance_id, epoch = session_fields(body)
    if not agents.session_matches(agent, instance_id, epoch):
        raise conflict("stale agent session")
    return agent


def read_profile(body: dict) -> dict:
    """The fields register and PATCH share."""
    fields = {
        "label": v.string(body, "label"),
        "tags": v.string_list(body, "tags"),
        "capabilities": v.string_list(body, "capabilities"),
        "status": v.choice(body, "status", STATUSES),
        "ready": v.boolean(body, "ready"),
        "meta": v.mapping(body, "meta"),
    }
    return {k: value for k, value in fields.items() if value is not None}


@bp.post("")
def register():
    body = v.json_body()
    agent_id = v.identifier(body, "id", required=True)
    fields = {
        **read_profile(body),
        "name": v.string(body, "name"),
        "kind": v.choice(body, "kind", KINDS),
        "machine": v.string(body, "machine"),
        "rig": v.string(body, "rig"),
        "cwd": v.string(body, "cwd", max_len=v.PATH_MAX),
        "instanceId": v.string(body, "instanceId", max_len=v.ID_MAX),
    }
    t = now()

    def change(c):
        agent, created = agents.upsert(c, agent_id, fields, t)
        delivered = delivery.on_agent_online(c, agent, t)
        entry = None
        if created:
            entry, _ = activity.add(c, {"kind": "state", "agentId": agent_id,
                                        "title": f"{agent_id} registered"}, t)
        return (agent, created), [*delivery_events(delivered), agent_event("agent.status", agent),
                                  entry and activity_event(entry)]
    agent, created = commit(change)
    return answer(agent, 201 if created else 200)


@bp.get("")
def list_agents():
    return answer(agents.listing(
        conn(),
        status=v.query_choice("status", STATUSES),
        kind=v.query_choice("kind", KINDS),
        tag=v.query_string("tag", max_len=v.NAME_MAX),
        capability=v.query_string("capability", max_len=v.NAME_MAX),
        label=v.query_string("label", max_len=v.NAME_MAX),
        include_offline=v.query_bool("includeOffline", True)))


@bp.get("/<agent_id>")
def get_agent(agent_id):
    return answer(agent_or_404(conn(), agent_id))


@bp.patch("/<agent_id>")
def patch_agent(agent_id):
    body = v.json_body()
    changes = read_profile(body)
    if "label" in body and body["label"] is None:
        changes["label"] = None          # an explicit null clears the label
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        agent = agents.patch(c, agent_id, changes, t)
        delivered = delivery.on_agent_online(c, agent, t)
        return agent, [*delivery_events(delivered), agent_event("agent.status", agent)]
    return answer(commit(change))


def beat(agent_id: str, body: dict) -> dict:
    """A heartbeat (also sent over the WebSocket): presence, back online if stale."""
    status = v.choice(body, "status", STATUSES)
    t = now()

    def change(c):
        acting_agent(c, agent_id, body)
        agent, changed = agents.touch(c, agent_id, t, status)
        # A heartbeat that changes nothing but lastSeen is not news worth an event.
        if not changed:
            return agent, []
        delivered = delivery.on_agent_online(c, agent, t)
        return agent, [*delivery_events(delivered), agent_event("agent.status", agent)]
    return commit(change)


@bp.post("/<agent_id>/heartbeat")
def heartbeat(agent_id):
    return answer(beat(agent_id, v.json_body()))


@bp.delete("/<agent_id>")
def delete_agent(agent_id):
    def change(c):
        if not agents.delete(c, agent_id):
            raise not_found(f"agent {agent_id} not found")
        released = messages.release_claims_of(c, agent_id)
        return {"ok": True}, [*[message_event("message.claim_released", m) for m in released],
                              agent_removed(agent_id)]
    return answer(commit(change))
