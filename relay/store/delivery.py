"""What happens to waiting messages when an agent registers or comes back online."""
from . import activity, messages, policies, pools


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
            result["policyMessages"] = messages.resolve_queued(
                conn, "policy:" + policy_name, agent["id"], now)
    if agent["status"] in pools.ONLINE:
        result["poolMessages"] = messages.resolve_pool_queues(conn, agent, now)
    return result


def on_agent_status(conn, agent_id: str, agent: dict | None) -> dict:
    """An agent went stale or offline (or, with None, was removed): only its pools change."""
    return {"policyName": None, "policyMessages": [], "poolMessages": [],
            "poolChanges": pools.reevaluate(conn, agent_id, agent)}
