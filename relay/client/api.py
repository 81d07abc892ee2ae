"""Client: one method per route the agent side uses (README "The command line")."""
from .transport import RelayError, Transport, Unreachable, _clean, backoff, sleep

# Long polls: the relay holds `wait` seconds at most 60; the call's timeout is
# the wait plus this margin.
WAIT_MARGIN = 10.0


class Client(Transport):
    """The relay's HTTP API. `url`/`token` default to RELAY_URL/AGENT_RELAY_TOKEN.

    Every method returns the decoded JSON answer, raises RelayError(status,
    message) when the relay answers an error and Unreachable(url, reason) when
    it cannot be reached.
    """

    # --- system ----------------------------------------------------------------------

    def health(self):
        return self.call("GET", "/api/health")

    def latest_message_id(self):
        return self.call("GET", "/api/messages/cursor")["latestId"]

    # --- agents ----------------------------------------------------------------------

    def register(self, agent_id, **fields):
        """Upsert an agent (fields in camelCase: label, tags, capabilities, kind,
        instanceId, meta, status, ...)."""
        return self.call("POST", "/api/agents", _clean({"id": agent_id, **fields}))

    def agent(self, agent_id):
        return self.call("GET", f"/api/agents/{agent_id}")

    def heartbeat(self, agent_id, instance_id=None, epoch=None, status=None):
        body = _clean({"instanceId": instance_id, "epoch": epoch, "status": status})
        return self.call("POST", f"/api/agents/{agent_id}/heartbeat", body)

    def patch_agent(self, agent_id, instance_id=None, epoch=None, **fields):
        body = _clean({"instanceId": instance_id, "epoch": epoch, **fields})
        return self.call("PATCH", f"/api/agents/{agent_id}", body)

    def delete_agent(self, agent_id):
        return self.call("DELETE", f"/api/agents/{agent_id}")

    def agents(self, status=None, tag=None, capability=None, kind=None, label=None,
               include_offline=None):
        return self.call("GET", "/api/agents", query={
            "status": status, "tag": tag, "capability": capability, "kind": kind,
            "label": label, "includeOffline": include_offline})

    # --- messages --------------------------------------------------------------------

    def send(self, sender, to, body, **fields):
        """Send (fields in camelCase: subject, claimable, replyTo, kind, payload,
        idempotencyKey, ...)."""
        return self.call("POST", "/api/messages",
                         _clean({"from": sender, "to": to, "body": body, **fields}))

    def inbox(self, agent_id, since=None, limit=None, wait=None, unread=None, kind=None):
        """Messages for `agent_id` after id `since`; `wait` seconds makes it a long poll."""
        timeout = None if not wait else self.timeout + wait + WAIT_MARGIN
        return self.call("GET", "/api/messages", timeout=timeout, query={
            "for": agent_id, "since": since, "limit": limit, "wait": wait or None,
            "unread": unread, "kind": kind})

    def message(self, message_id):
        return self.call("GET", f"/api/messages/{message_id}")

    def message_status(self, message_id):
        return self.call("GET", f"/api/messages/{message_id}/status")

    def thread(self, message_id):
        return self.call("GET", f"/api/messages/{message_id}/thread")

    def read(self, agent_id, ids, instance_id=None, epoch=None):
        body = _clean({"agentId": agent_id, "ids": list(ids), "instanceId": instance_id,
                       "epoch": epoch})
        return self.call("POST", "/api/messages/read", body)

    def claim(self, message_id, agent_id, ttl=None, instance_id=None, epoch=None):
        body = _clean({"agentId": agent_id, "ttlSeconds": ttl, "instanceId": instance_id,
                       "epoch": epoch})
        return self.call("POST", f"/api/messages/{message_id}/claim", body)

    def release(self, message_id, agent_id, instance_id=None, epoch=None):
        body = _clean({"agentId": agent_id, "instanceId": instance_id, "epoch": epoch})
        return self.call("POST", f"/api/messages/{message_id}/release", body)

    def ack(self, message_id, agent_id, note=None, instance_id=None, epoch=None):
        """Acknowledge a message sent with ackRequired; answers my receipt."""
        body = _clean({"agentId": agent_id, "note": note, "instanceId": instance_id,
                       "epoch": epoch})
        return self.call("POST", f"/api/messages/{message_id}/ack", body)

    def nack(self, message_id, agent_id, reason=None, retry_in=None, instance_id=None,
             epoch=None):
        """Not now: redelivered to me once `retry_in` seconds have passed."""
        body = _clean({"agentId": agent_id, "reason": reason, "retryInSeconds": retry_in,
                       "instanceId": instance_id, "epoch": epoch})
        return self.call("POST", f"/api/messages/{message_id}/nack", body)

    def progress(self, message_id, agent_id, instance_id=None, epoch=None):
        """Still working: my ack deadline moves by the message's window."""
        body = _clean({"agentId": agent_id, "instanceId": instance_id, "epoch": epoch})
        return self.call("POST", f"/api/messages/{message_id}/progress", body)

    def receipts(self, message_id):
        return self.call("GET", f"/api/messages/{message_id}/receipts")

    def search(self, q, for_agent=None, sender=None, to=None, kind=None, thread=None,
               limit=None):
        """Full-text search, best match first (web-search syntax in `q`)."""
        return self.call("GET", "/api/messages/search", query={
            "q": q, "for": for_agent, "from": sender, "to": to, "kind": kind, "thread": thread,
            "limit": limit})

    def delete_message(self, message_id):
        return self.call("DELETE", f"/api/messages/{message_id}")

    # --- tasks -----------------------------------------------------------------------

    def create_task(self, title, **fields):
        """Open a task (fields in camelCase: body, severity, target, callbackUrl, ...)."""
        return self.call("POST", "/api/tasks", _clean({"title": title, **fields}))

    def tasks(self, status=None, target=None, claimed_by=None, limit=None):
        return self.call("GET", "/api/tasks", query={
            "status": status, "target": target, "claimedBy": claimed_by, "limit": limit})

    def task(self, task_id):
        return self.call("GET", f"/api/tasks/{task_id}")

    def claim_task(self, task_id, agent_id, ttl=None):
        return self.call("POST", f"/api/tasks/{task_id}/claim",
                         _clean({"agentId": agent_id, "ttlSeconds": ttl}))

    def release_task(self, task_id, agent_id):
        return self.call("POST", f"/api/tasks/{task_id}/release", {"agentId": agent_id})

    def task_status(self, task_id, status, agent_id=None, note=None, result=None):
        body = _clean({"status": status, "agentId": agent_id, "note": note, "result": result})
        return self.call("POST", f"/api/tasks/{task_id}/status", body)

    def task_note(self, task_id, note, agent_id=None, progress=None):
        body = _clean({"note": note, "agentId": agent_id, "progress": progress})
        return self.call("POST", f"/api/tasks/{task_id}/events", body)

    # --- orchestrators and commands ----------------------------------------------------

    def register_orchestrator(self, orchestrator_id, **fields):
        """Upsert (fields in camelCase: hostname, providers, baseDir, apiUrl,
        apiToken, version, capabilities, meta)."""
        return self.call("POST", "/api/orchestrators", _clean({"id": orchestrator_id, **fields}))

    def orchestrator(self, orchestrator_id):
        return self.call("GET", f"/api/orchestrators/{orchestrator_id}")

    def orchestrator_heartbeat(self, orchestrator_id, **fields):
        return self.call("POST", f"/api/orchestrators/{orchestrator_id}/heartbeat",
                         _clean(fields))

    def orchestrator_roster(self, orchestrator_id, agents):
        return self.call("PATCH", f"/api/orchestrators/{orchestrator_id}/agents",
                         {"agents": list(agents)})

    def commands(self, target=None, status=None, type=None, correlation_id=None, limit=None):
        return self.call("GET", "/api/commands", query={
            "target": target, "status": status, "type": type,
            "correlationId": correlation_id, "limit": limit})

    def command(self, command_id):
        return self.call("GET", f"/api/commands/{command_id}")

    def create_command(self, type, target, **fields):
        return self.call("POST", "/api/commands", _clean({"type": type, "target": target, **fields}))

    def patch_command(self, command_id, status, result=None, error=None):
        body = _clean({"status": status, "result": result, "error": error})
        return self.call("PATCH", f"/api/commands/{command_id}", body)

    def spawn_policies(self):
        return self.call("GET", "/api/spawn-policies")

    def policy_status(self, name):
        return self.call("GET", f"/api/spawn-policy/{name}/status")

    # --- the event stream ------------------------------------------------------------

    def events(self, types=None, since=None, agent_id=None, reconnect=True, on_drop=None,
               stop=None, read_timeout=60.0):
        """(id, type, envelope) from /api/events, forever.

        `types` is a list of type prefixes. After a drop (or a relay that is
        down) the stream is opened again with `Last-Event-ID` set to the last
        id seen, so nothing is lost or repeated; `on_drop(reason)` is called
        each time. With reconnect=False a drop ends the iteration (and a relay
        that cannot be reached raises Unreachable). `stop` (a threading.Event)
        ends it between frames and reconnects.
        """
        last = since
        failures = 0
        query = {"types": types, "agentId": agent_id}
        while stop is None or not stop.is_set():
            try:
                for frame in self.stream("/api/events", query, last, read_timeout):
                    failures = 0
                    if frame[0] is not None:
                        last = frame[0]
                    yield frame
                    if stop is not None and stop.is_set():
                        return
                reason = "the relay ended the stream"
            except Unreachable as error:
                if not reconnect:
                    raise
                reason = error.reason
            except RelayError as error:
                if error.status != 503 or not reconnect:   # 503: no stream slot free yet
                    raise
                reason = error.message
            if not reconnect:
                return
            if on_drop is not None:
                on_drop(reason)
            if sleep(backoff(failures), stop):
                return
            failures += 1
