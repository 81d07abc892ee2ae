"""Message addresses (API.md §2.1): parsing, and which agents one reaches."""

GROUP_PREFIXES = {"label:": "label", "tag:": "tags", "cap:": "capabilities"}
QUEUED_PREFIXES = ("pool:", "policy:")
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
