"""What an agent has not seen yet, and how to tell it (MCP notices, hooks)."""
from .output import first_line

LIMIT = 100


def unread(client, agent_id, state, limit=LIMIT):
    """Messages after the cursor (what relay_inbox / relay inbox would show)."""
    return client.inbox(agent_id, since=state.cursor, limit=limit)


def after_cursor(client, agent_id, state, limit=None, wait=None):
    """My messages after the cursor. A cursor past the relay's newest message
    means the relay started over on a new database: the cursor starts over
    too, rather than hiding every message until the ids catch up."""
    cursor = state.cursor
    messages = client.inbox(agent_id, since=cursor, limit=limit, wait=wait)
    if not messages and cursor and client.latest_message_id() < cursor:
        state.reset()
        messages = client.inbox(agent_id, since=0, limit=limit)
    return messages


def unannounced(client, agent_id, state, limit=LIMIT):
    """Messages after both the cursor and the last notice."""
    return client.inbox(agent_id, since=state.noticed, limit=limit)


def notice_line(messages, tool="relay_inbox"):
    ids = " ".join(f"#{m['id']}" for m in messages)
    n = len(messages)
    return f"relay: {n} new message{'s' if n != 1 else ''} for you (ids {ids}) — call {tool}"


def summary(messages, how="call relay_inbox (or run `relay inbox`) to read them"):
    """A few lines for a model's context: sender, subject or first line, id."""
    n = len(messages)
    lines = [f"relay: {n} unread message{'s' if n != 1 else ''} for you; {how}."]
    for m in messages[:10]:
        text = m.get("subject") or first_line(m.get("body"), 80)
        claim = " (claimable: claim before working on it)" if m.get("claimable") and not m.get("claimedBy") else ""
        lines.append(f"- #{m['id']} from {m.get('from')}: {text}{claim}")
    if n > 10:
        lines.append(f"- … and {n - 10} more")
    return "\n".join(lines)
