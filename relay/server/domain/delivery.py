"""What happens to waiting messages when an agent registers or comes back
online: queued delivery for pool:/policy: addresses (the /api/messages summaries)."""
from ..store import activity, messages, policies, pools, receipts
from .addresses import pick


def on_agent_online(conn, agent: dict, now: int) -> dict:
    """Re-evaluate the agent's pool memberships (poolChanges), and resolve what
    was queued for its spawn policy and, when it is online, its pools.

    A registration (or change) of a live agent whose meta names the policy and the
    spawn request that the policy's state is waiting for makes that state `running`
    with this agent,
    and the policy's queue drains to it in send order (the reference's postAgent).
    """
    result = {"policyName": None, "policyState": None, "policyActivity": None,
              "policyMessages": [], "poolMessages": [],
              "poolChanges": pools.reevaluate(conn, agent["id"], agent)}
    meta = agent.get("meta") or {}
    policy_name, request_id = meta.get("policyName"), meta.get("spawnRequestId")
    # Only a live agent runs its policy: the old process of a restart (same spawn request
    # and agent id) reporting itself offline must not count as the new one starting.
    if isinstance(policy_name, str) and isinstance(request_id, str) \
            and agent["status"] in pools.ONLINE:
        state = policies.mark_running(conn, policy_name, request_id, agent["id"], now)
        if state:
            result["policyName"] = policy_name
            result["policyState"] = state
            result["policyActivity"], _ = activity.add(conn, {
                "kind": "state", "agentId": agent["id"], "title": f"policy {policy_name}: "
                f"running as {agent['id']}", "meta": {"policyName": policy_name,
                                                      "status": "running"}}, now)
            result["policyMessages"] = owe_acks(conn, messages.resolve_queued(
                conn, "policy:" + policy_name, agent["id"], now))
    if agent["status"] in pools.ONLINE:
        result["poolMessages"] = resolve_pool_queues(conn, agent, now)
    return result


def on_agent_status(conn, agent_id: str, agent: dict | None) -> dict:
    """An agent went stale or offline (or, with None, was removed): only its pools change."""
    return {"policyName": None, "policyMessages": [], "poolMessages": [],
            "poolChanges": pools.reevaluate(conn, agent_id, agent)}


def resolve_pool_queues(conn, agent: dict, now: int) -> list[dict]:
    """An agent came online: queued messages of its pools go out, one member
    each by the pool's strategy (the newcomer among them)."""
    delivered = []
    for pool in pools.pools_with_member(conn, agent):
        members = pools.online_members(conn, pool)     # fixed for this transaction
        for message in messages.queued_for(conn, "pool:" + pool["name"], limit=500):
            if message["expiresAt"] is not None and message["expiresAt"] <= now:
                continue
            member = pick(conn, pool, now, members)
            if member is None:
                break
            sent = messages.deliver_queued(conn, message["id"], member)
            if sent:
                delivered.append(sent)
    return owe_acks(conn, delivered)


def owe_acks(conn, resolved: list[dict]) -> list[dict]:
    """Queued messages that reached an agent: those asking for an ack are owed by it."""
    for message in resolved:
        if message.get("ackRequired"):
            receipts.open_for_agent(conn, message, message["resolvedToAgent"])
    return resolved
