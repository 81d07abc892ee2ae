"""The empty poll answered from memory (GET /api/messages?for=...: most polls find nothing).

An inbox poll that found nothing after `since` is remembered for its agent:
until something that can make a message visible to that agent happens, a
poll with the same filters (or none) from `since` or later finds nothing too,
and is answered without the database. What can make a message visible:

- a message committed to the agent, to an address that reaches it, or
  resolved to it (pool, policy, orchestrator), a claim released or expired
  by the reaper, a redelivery (a late ack: the message is shown again even
  below `since`): every one is a `message.*` event whose scope names the
  agent or its `to` (events.py: message.redelivered names the recipient); the committer hands each commit's
  events here before anyone is answered. Each one forgets the agents it
  names, and a `to` of several agents forgets every agent that has it.
- the agent's own addresses changing (tags, label, capabilities): each entry
  keeps the addresses it was learned with and serves only while they match
  the agent as it polls.
- time: a message claimed by another agent comes back when its claim runs
  out, with no event; an entry learned while such claims were live serves
  only until the earliest of them ends.

A poll in flight while such an event is handed over must not leave behind
what it learned before the event: each agent has a counter (and messages to
groups one shared counter) read before its query and checked when storing.

Only while no other process writes the database: on PostgreSQL with several
relays (Relay.shared) another process's commit is not handed here, so it is
off and every poll reads the database.
"""
import threading

LIMIT = 10_000          # agents remembered; beyond, start over


class EmptyPolls:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.hits = 0                           # polls answered from memory (tests, health)
        # agent id -> (its addresses, {filters: (since, until)})
        self._known: dict[str, tuple[tuple, dict]] = {}
        self._agent_gen: dict[str, int] = {}
        self._group_gen = 0
        self._lock = threading.Lock()

    # --- the poll's side ---------------------------------------------------------

    def empty(self, agent_id: str, addresses: tuple, filters: tuple, since: int, now: int) -> bool:
        """Whether this poll is known to find nothing."""
        if not self.enabled:
            return False
        entry = self._known.get(agent_id)
        if entry is None or entry[0] != addresses:
            return False
        learned = entry[1]
        for key in (filters, ()):
            found = learned.get(key)
            if found is not None and since >= found[0] and now < found[1]:
                self.hits += 1
                return True
        return False

    def mark(self, agent_id: str) -> tuple[int, int]:
        """Read before the poll's query: what learn() checks."""
        return self._group_gen, self._agent_gen.get(agent_id, 0)

    def learn(self, agent_id: str, addresses: tuple, filters: tuple, since: int, until: float,
              mark: tuple[int, int]) -> None:
        """The poll found nothing after `since` (and claims by others end at
        `until` at the earliest): remember it unless something that could
        have made a message visible was handed over since `mark`."""
        if not self.enabled:
            return
        with self._lock:
            if mark != (self._group_gen, self._agent_gen.get(agent_id, 0)):
                return
            entry = self._known.get(agent_id)
            if entry is None or entry[0] != addresses:
                if len(self._known) >= LIMIT:
                    self._known.clear()
                entry = self._known[agent_id] = (addresses, {})
            found = entry[1].get(filters)
            if found is None or since <= found[0]:
                entry[1][filters] = (since, until)

    # --- the committer's side ----------------------------------------------------

    def committed(self, stored) -> None:
        """The committer's hook: the (envelope, scope) pairs of one commit."""
        if not self.enabled:
            return
        for envelope, scope in stored:
            kind = envelope["type"]
            if kind == "agent.removed":
                self._forget([envelope["subject"]])
            elif kind.startswith("message."):
                self._message(scope)

    def _message(self, scope: dict | None) -> None:
        if not scope:
            self._forget_all()          # cannot tell whom it concerns: nobody is known empty
            return
        named = [a for a in scope.get("agents", ()) if a]
        to = scope.get("to")
        if to and ":" not in to and to != "broadcast":
            named.append(to)            # a direct address (addresses.split: no prefix)
        elif to:
            self._forget_group(to)
        if named:
            self._forget(named)

    def _forget(self, agent_ids) -> None:
        with self._lock:
            for agent_id in agent_ids:
                self._agent_gen[agent_id] = self._agent_gen.get(agent_id, 0) + 1
                self._known.pop(agent_id, None)
            if len(self._agent_gen) >= LIMIT:
                # Counters only need to differ from a mark taken before: a poll
                # in flight for a dropped id sees the group counter move instead.
                self._agent_gen.clear()
                self._group_gen += 1

    def _forget_group(self, address: str) -> None:
        with self._lock:
            self._group_gen += 1
            for agent_id in [a for a, (addresses, _) in self._known.items() if address in addresses]:
                del self._known[agent_id]

    def _forget_all(self) -> None:
        with self._lock:
            self._group_gen += 1
            self._known.clear()
