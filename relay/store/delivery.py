"""What happens to waiting messages when an agent registers or comes back online."""
from . import activity, messages, policies, pools


def on_agent_online(conn, agent: dict, now: int) -> dict:
    """Resolve what was queued for this agent's spawn policy and pools.

    A registration whose meta names the policy and the spawn request that the
    policy's state is waiting for makes that state `running` with this agent,
    and the policy's queue drains to it in send order (the reference's postAgent).
    """
    result = {"policyName": None, "policyState": None, "policyActivity": None,
              "policyMessages": [], "poolMessages": []}
    meta = agent.get("meta") or {}
    policy_name, request_id = meta.get("policyName"), meta.get("spawnRequestId")
    if isinstance(policy_name, str) and isinstance(request_id, str):
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
