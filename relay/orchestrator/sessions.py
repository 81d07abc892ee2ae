"""The agents this orchestrator runs, one tmux session each: spawn, stop, restart, type
into, watch, adopt, and the roster it reports.

A record per session is kept in the state file (state.py) with the spawn's parameters,
so a restart works after the daemon's own restart and its sessions are adopted when it
starts again. A session whose process ends stays in tmux (remain-on-exit) and in the
roster as `exited` until a new spawn of the same policy or agent replaces it, or for
EXITED_KEPT seconds; a session stopped on purpose (shutdown, restart) leaves the roster
instead, so the relay never counts a requested stop as a failure.
"""
import logging
import os
import re
import secrets
import signal
import sys
import time

from . import workspace
from .tmux import TmuxError, session_name

log = logging.getLogger("relay.orchestrator")

EXITED_KEPT = 3600           # seconds an exited session stays in the roster
ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:@+-]+")
SPAWN_FIELDS = ("provider", "cwd", "label", "tags", "capabilities", "approvalMode",
                "providerArgs", "prompt", "policyName", "spawnRequestId")
ROSTER_FIELDS = ("provider", "status", "agentId", "label", "policyName", "spawnRequestId",
                 "pid")


class CommandFailed(Exception):
    """A command that cannot be carried out; the message is the reason the relay records."""


class Sessions:
    def __init__(self, tmux, providers: dict, state, base_dir: str, prefix: str,
                 orchestrator_id: str, relay_url: str, token: str | None, grace: float = 10.0,
                 clock=time.time, python: str = sys.executable):
        self.tmux = tmux
        self.providers = providers
        self.state = state
        self.base_dir = base_dir
        self.prefix = prefix
        self.orchestrator_id = orchestrator_id
        self.relay_url = relay_url
        self.token = token
        self.grace = grace
        self.clock = clock
        self.python = python
        self.records = state.sessions          # name -> record, saved with the state
        for record in self.records.values():
            record.pop("stopping", None)       # a stop cut short by our own exit: watch it
        self.strangers: set[str] = set()

    # --- commands ------------------------------------------------------------------

    def spawn(self, params: dict, config: dict | None = None, command_id: str | None = None) -> dict:
        """agent.spawn: a new session running `relay run` around the provider."""
        provider = self.provider(params.get("provider"))
        try:
            cwd = workspace.directory(self.base_dir, params.get("cwd"))
        except (workspace.Outside, NotADirectoryError) as error:
            raise CommandFailed(str(error)) from None
        request = params.get("spawnRequestId")
        with self.state.lock:
            for name, record in self.records.items():
                if request and record["spawnRequestId"] == request and record["status"] == "running":
                    return self.result(name, record)      # asked again: the same agent
        short = secrets.token_hex(3)
        base = params.get("label") or params.get("policyName") or provider.name
        agent_id = params.get("agentId") or ID_UNSAFE.sub("-", f"{params.get('policyName') or base}"
                                                              f"-{short}")[:240]
        spec = {k: params.get(k) for k in SPAWN_FIELDS}
        spec.update(cwd=cwd, provider=provider.name)
        name = session_name(self.prefix, base, short)
        return self.start(name, agent_id, spec, config, command_id)

    def restart(self, params: dict, config: dict | None = None, command_id: str | None = None) -> dict:
        """agent.restart: the agent's session stopped (SIGTERM, then kill after the grace
        period) and started again with the same parameters, agent id and session name."""
        name, record = self.find(params)
        self.stop_session(name, record)
        spec = dict(record["spawn"])
        if params.get("spawnRequestId"):
            spec["spawnRequestId"] = params["spawnRequestId"]
        self.provider(spec["provider"])
        return self.start(name, record["agentId"], spec, config, command_id)

    def shutdown(self, params: dict, **_) -> dict:
        """agent.shutdown: the session stopped and forgotten; nothing running is a success."""
        try:
            name, record = self.find(params)
        except CommandFailed as error:
            return {"stopped": False, "reason": str(error)}
        self.stop_session(name, record)
        return {"stopped": True, "agentId": record["agentId"], "tmuxSession": name}

    def inject(self, params: dict, **_) -> dict:
        """prompt.inject: the text typed into the agent's session, then Enter."""
        text = params.get("text")
        if not isinstance(text, str) or not text:
            raise CommandFailed("params.text must be a non-empty string")
        name, record = self.find(params)
        if record["status"] != "running":
            raise CommandFailed(f"tmux session {name} has exited")
        try:
            self.tmux.type_text(name, text)
        except TmuxError as error:
            raise CommandFailed(f"tmux could not type into {name}: {error}") from None
        return {"agentId": record["agentId"], "tmuxSession": name, "typed": len(text)}

    # --- the parts ---------------------------------------------------------------------

    def provider(self, name):
        provider = self.providers.get(name)
        if provider is None or not provider.available:
            offered = ", ".join(p for p, v in self.providers.items() if v.available) or "none"
            raise CommandFailed(f"provider {name} is not offered by this orchestrator "
                                f"(offered: {offered})")
        return provider

    def start(self, name: str, agent_id: str, spec: dict, config, command_id) -> dict:
        provider = self.provider(spec["provider"])
        argv, env = provider.command_line(spec, config)
        run = [self.python, "-m", "relay", "run", "--id", agent_id]
        if spec.get("label"):
            run += ["--label", spec["label"]]
        run += [a for tag in spec.get("tags") or [] for a in ("--tag", tag)]
        run += [a for cap in spec.get("capabilities") or [] for a in ("--cap", cap)]
        env.update({"RELAY_URL": self.relay_url, "RELAY_ORCHESTRATOR_ID": self.orchestrator_id,
                    "RELAY_TMUX_SESSION": name})
        if self.token:
            env["AGENT_RELAY_TOKEN"] = self.token
        for key, field in (("RELAY_POLICY_NAME", "policyName"),
                           ("RELAY_SPAWN_REQUEST_ID", "spawnRequestId")):
            if spec.get(field):
                env[key] = spec[field]
        path = self.state.spawn_file(name, {"cwd": spec["cwd"], "argv": run + ["--"] + argv,
                                            "env": env})
        with self.state.lock:      # the watch sees the session and its record together
            try:
                pid = self.tmux.new_session(name, [self.python, "-m", "relay.orchestrator.launch"],
                                            {"RELAY_SPAWN_FILE": path})
            except TmuxError as error:
                if os.path.exists(path):
                    os.unlink(path)
                raise CommandFailed(f"tmux could not start session {name}: {error}") from None
            record = {"agentId": agent_id, "provider": spec["provider"],
                      "label": spec.get("label"), "policyName": spec.get("policyName"),
                      "spawnRequestId": spec.get("spawnRequestId"), "pid": pid,
                      "status": "running", "startedAt": int(self.clock() * 1000),
                      "exitedAt": None, "commandId": command_id, "cwd": spec["cwd"],
                      "spawn": spec}
            for old in [n for n, r in self.records.items() if r["status"] == "exited" and (
                    r["agentId"] == agent_id or (record["policyName"] and
                                                 r["policyName"] == record["policyName"]))]:
                self.forget(old)                  # replaced by this run
            self.records[name] = record
            self.state.save()
        log.info("started %s in tmux session %s (pid %s)", agent_id, name, pid)
        return self.result(name, record)

    @staticmethod
    def result(name: str, record: dict) -> dict:
        return {"agentId": record["agentId"], "tmuxSession": name, "pid": record["pid"]}

    def find(self, params: dict) -> tuple[str, dict]:
        """The session a command names, by tmuxSession, agentId or policyName (a running one
        first, then the latest)."""
        with self.state.lock:
            for key in ("tmuxSession", "agentId", "policyName"):
                value = params.get(key)
                if not value:
                    continue
                found = [(n, r) for n, r in self.records.items()
                         if (n if key == "tmuxSession" else r.get(key)) == value]
                if found:
                    found.sort(key=lambda nr: (nr[1]["status"] == "running", nr[1]["startedAt"]))
                    return found[-1]
        named = ", ".join(f"{k} {params[k]}" for k in ("tmuxSession", "agentId", "policyName")
                          if params.get(k)) or "nothing"
        raise CommandFailed(f"no session of this orchestrator matches {named}")

    def stop_session(self, name: str, record: dict) -> None:
        """SIGTERM to the session's process group, kill-session after the grace period, and
        the record forgotten. The watch leaves a record being stopped alone."""
        record["stopping"] = True
        pid = record.get("pid")
        if record["status"] == "running" and pid:
            try:
                os.killpg(os.getpgid(pid), signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + self.grace
            while time.monotonic() < deadline:
                pane = self.tmux.panes(name).get(name)
                if pane is None or pane["dead"]:
                    break
                time.sleep(0.05)
        with self.state.lock:
            self.forget(name)
            self.state.save()

    def forget(self, name: str) -> None:
        """Kill the session (if still there) and drop its record; under the state lock."""
        try:
            self.tmux.kill(name)
        except TmuxError as error:
            log.warning("tmux could not kill session %s: %s", name, error)
        self.records.pop(name, None)

    # --- watching ----------------------------------------------------------------------

    def watch(self) -> bool:
        """Compare the records with tmux: a running session whose pane died or that is gone
        is `exited`; an exited one kept past EXITED_KEPT is forgotten. Answers whether the
        roster changed. Also what adopts the sessions after a restart of the daemon."""
        changed = False
        with self.state.lock:      # a session being replaced is never seen half-way
            panes = self.tmux.panes(self.prefix)
            now = int(self.clock() * 1000)
            for name, record in list(self.records.items()):
                if record.get("stopping"):
                    continue
                pane = panes.get(name)
                if record["status"] == "running":
                    if pane is None or pane["dead"]:
                        record.update(status="exited", exitedAt=now)
                        log.info("%s exited (tmux session %s)", record["agentId"], name)
                        changed = True
                    elif pane["pid"] != record["pid"]:
                        record["pid"] = pane["pid"]
                        changed = True
                elif now - (record["exitedAt"] or now) > EXITED_KEPT * 1000:
                    self.forget(name)
                    changed = True
            for name in set(panes) - set(self.records) - self.strangers:
                self.strangers.add(name)
                log.warning("tmux session %s has this orchestrator's prefix but no record in "
                            "%s: left alone", name, self.state.path)
            if changed:
                self.state.save()
        return changed

    def roster(self) -> list[dict]:
        """What the relay is told runs here (PATCH /api/orchestrators/:id/agents)."""
        with self.state.lock:
            records = sorted(self.records.items(), key=lambda nr: nr[1]["startedAt"])
            return [{"sessionName": name, "tmuxSession": name,
                     **{k: record[k] for k in ROSTER_FIELDS if record.get(k) is not None}}
                    for name, record in records]

    def listing(self) -> list[dict]:
        """GET /api/sessions: the roster with when each started and exited, and its cwd."""
        with self.state.lock:
            extra = {name: {"startedAt": r["startedAt"], "exitedAt": r["exitedAt"],
                            "cwd": r["cwd"]} for name, r in self.records.items()}
        return [{**entry, **extra[entry["sessionName"]]} for entry in self.roster()]

    def owns(self, name: str) -> bool:
        with self.state.lock:
            return name in self.records
