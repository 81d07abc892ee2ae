"""Live delivery to one client, whatever its transport (SSE, WebSocket, a
proxied orchestrator stream): the filter it asks for, its stream slot, and
replay-then-follow over the event log and the broadcaster."""
from .broadcaster import CLOSED, RESET, Filter
from .domain import addresses, agents
from .errors import ApiError, bad_request
from .schemas.common import ID_MAX
from .store import event_log

REPLAY_BATCH = 500


def read_filter(conn, types, agent_id) -> Filter:
    """The filter a stream or a poll of events asks for (404 for an unknown agent)."""
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) and 0 < len(t) <= 120 for t in types)):
        raise bad_request("types must be a list of event type prefixes")
    agent = None
    if agent_id is not None:
        if not isinstance(agent_id, str):
            raise bad_request("agentId must be a string")
        if len(agent_id) > ID_MAX:
            raise bad_request(f"agentId must be at most {ID_MAX} characters")
        agent = agents.get(conn, agent_id)
    return Filter(types, agent, carries=agent is not None)


def take_slot(r, kind: str, client: str) -> str:
    """A stream slot for this client (its address), or 503; answers the client key
    to release it with."""
    refused = r.slots.acquire(kind, client)
    if refused:
        raise ApiError(503, refused, {"Retry-After": "2"})
    return client


def replay(r, since: int, event_filter: Filter):
    """Logged events after `since` that pass the filter, in batches (lists).

    Yields (RESET, data) first when `since` is older than retention.
    """
    c = r.connections.acquire()
    try:
        first_kept = event_log.first_kept_id(c)
        if since + 1 < first_kept:
            yield RESET, {"reason": "retention", "lastEventId": since, "firstKeptId": first_kept}
        for wanted in matching(c, since, event_filter):
            if event_filter.carries:
                r.stream_receipts.record(event_filter.agent["id"], wanted)
            yield "events", wanted
    finally:
        r.connections.release(c)


def matching(c, since: int, event_filter: Filter):
    """Logged events after `since` that pass the filter, oldest first, in
    non-empty batches (lists).

    One agent's view reads only the events naming it or an address that
    reaches it (event_log.concerning), with the addresses it has at that
    point: the filter follows the agent's own status events, and each one
    that changes its addresses starts the next read from there.
    """
    types = list(event_filter.types) or None
    while True:
        if event_filter.agent is None:
            batch = event_log.after(c, since, REPLAY_BATCH, types)
        else:
            reach = addresses.inbox_addresses(event_filter.agent)
            batch = event_log.concerning(c, since, REPLAY_BATCH, reach, types)
        wanted = []
        for e, scope in batch:
            since = e["id"]
            if event_filter.wants(e, scope):
                wanted.append(e)
                if (event_filter.agent is not None
                        and addresses.inbox_addresses(event_filter.agent) != reach):
                    break
        else:
            if wanted:
                yield wanted
            if len(batch) < REPLAY_BATCH:
                return
            continue
        yield wanted


def subscribe(r, event_filter: Filter, since: int | None):
    """The subscription a stream follows, made before its client is told it is
    live (SSE's `: connected`, WebSocket's ack): whatever commits after that
    reaches it, however late the stream's thread goes on.

    Live from now (no `since`) on a shared database, it starts after the log's
    last id, read here: the log's tail (event_tail.py) may still hand over
    events committed before; they are not this stream's. (Read once the client
    had been told, a send it made at once could fall before it: never delivered.)
    """
    subscription = r.broadcaster.subscribe(event_filter)
    if since is None and r.shared:
        try:
            subscription.sent_id = latest_event_id(r)
        except BaseException:
            r.broadcaster.unsubscribe(subscription)
            subscription.close()
            raise
    return subscription


def latest_event_id(r) -> int:
    c = r.connections.acquire()
    try:
        return event_log.latest_id(c)
    finally:
        r.connections.release(c)


def follow(r, subscription, since: int | None, event_filter: Filter, idle: float, sink=None,
           keepalive: bytes | None = None):
    """Replay, then live events, with no gap and no duplicate.

    Yields ('events', [envelopes]), ('idle', None) after `idle` seconds of
    quiet, and ('reset', data) as the last item once the subscriber fell behind.
    The subscription was opened (subscribe()) before the replay read the log,
    so whatever commits meanwhile is queued; ids the replay already sent are
    skipped, and so are those before where a stream live from now starts.

    With a `sink`, live events go straight to it while this waits
    (Subscription.take), and so does `keepalive` after each `idle` seconds
    of quiet; the bytes it could not take come back as a bytes item, first
    in a list, to be written before anything else.
    """
    last = since or 0
    if since is not None:
        for kind, item in replay(r, since, event_filter):
            if kind == "events":
                last = item[-1]["id"]
            yield kind, item
    while True:
        taken = subscription.take(idle, sink=sink, seen=last, keepalive=keepalive)
        last = max(last, subscription.sent_id)
        if taken == RESET:
            yield RESET, {"reason": "slow consumer", "lastEventId": last}
            return
        if taken == CLOSED:
            return
        fresh = [e for e in taken if type(e) is bytes or e["id"] > last]
        if fresh:
            if type(fresh[-1]) is not bytes:
                last = fresh[-1]["id"]
            yield "events", fresh
        elif not taken:
            yield "idle", None
