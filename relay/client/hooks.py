"""`relay hook claude|codex EVENT`: what Claude Code's and Codex's hooks run.

A hook reads the agent's hook JSON on stdin and answers on stdout per that
agent's hook contract. It never feeds an error to the model nor blocks a
session because of the relay: every failure exits 0 silently, and a relay
that is down costs at most HOOK_TIMEOUT per call. Exit 2 only wakes (the
Claude Stop watcher, run with asyncRewake) as the contract defines.
"""
import json
import os
import signal
import sys
import time

from . import mail
from .api import Client
from .context import default_agent_id, session
from .transport import RelayError, Unreachable, backoff
from .state import State

# Per HTTP call, and for the whole hook (but the Claude Stop watcher): with
# the relay down or slow, a hook answers within 2 s.
HOOK_TIMEOUT = 1.5
HOOK_DEADLINE = 1.9
# PostToolUse tells of new messages at most this often.
NOTICE_EVERY = 60.0
# The Stop watcher gives up before the hook's own timeout (3600 s).
WATCH_FOR = float(os.environ.get("RELAY_WATCH_TIMEOUT", "3500"))
POLL = 50

EVENTS = {
    "claude": ("SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SessionEnd"),
    # Codex has no SessionEnd and no asynchronous wake.
    "codex": ("SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"),
}


class Hook:
    def __init__(self, provider, event, payload, url=None, token=None, agent_id=None):
        self.provider = provider
        self.event = event
        self.payload = payload if isinstance(payload, dict) else {}
        self.client = Client(url, token, timeout=HOOK_TIMEOUT)
        self.agent_id = agent_id or default_agent_id(self.payload.get("cwd"))
        self.state = State(self.client.url, self.agent_id)

    def context(self, text):
        """Claude Code's (and Codex's) way to put text in front of the model."""
        return {"hookSpecificOutput": {"hookEventName": self.event, "additionalContext": text}}

    def run(self):
        """(stdout document or None, stderr line or None, exit code)."""
        handler = getattr(self, "on_" + self.event, None)
        return handler() if handler else (None, None, 0)

    def tell_unread(self):
        messages = mail.unread(self.client, self.agent_id, self.state)
        if not messages:
            return None, None, 0
        self.state.advance(noticed=messages[-1]["id"])
        return self.context(mail.summary(messages, self.how())), None, 0

    def how(self):
        return "call relay_inbox (or run `relay inbox`) to read them"

    def on_SessionStart(self):
        if not session()[0]:                # a runner holds the agent: it registered it
            try:
                self.client.agent(self.agent_id)
            except RelayError as error:
                if error.status == 404:
                    self.client.register(self.agent_id, kind="provider")
        return self.tell_unread()

    def on_UserPromptSubmit(self):
        return self.tell_unread()

    def on_PostToolUse(self):
        if time.time() - float(self.state.load().get("noticedAt") or 0) < NOTICE_EVERY:
            return None, None, 0
        fresh = mail.unannounced(self.client, self.agent_id, self.state)
        if not fresh:
            return None, None, 0
        self.state.advance(noticed=fresh[-1]["id"])
        return self.context(mail.notice_line(fresh)), None, 0

    def on_Stop(self):
        if self.provider == "codex":
            fresh = mail.unannounced(self.client, self.agent_id, self.state)
            if not fresh:
                return None, None, 0
            self.state.advance(noticed=fresh[-1]["id"])
            return {"decision": "block", "reason": mail.summary(fresh, self.how())}, None, 0
        return self.watch()

    def watch(self):
        """The asyncRewake watcher: exit 2 (waking the idle session) when a message
        arrives that was not announced yet; one watcher per agent."""
        lock = self.state.try_lock("watch")
        if lock is None:
            return None, None, 0
        with lock:
            deadline = time.monotonic() + WATCH_FOR
            failures = 0
            while time.monotonic() < deadline:
                wait = max(1, int(min(POLL, deadline - time.monotonic())))
                try:
                    self.client.timeout = HOOK_TIMEOUT
                    fresh = self.client.inbox(self.agent_id, since=self.state.noticed, wait=wait)
                    failures = 0
                except (RelayError, Unreachable):
                    # The relay is down: this process never blocks the session, so it
                    # keeps trying until a message arrives or its time is up.
                    time.sleep(backoff(failures, cap=10.0))
                    failures += 1
                    continue
                if fresh:
                    self.state.advance(noticed=fresh[-1]["id"])
                    return None, mail.notice_line(fresh), 2
        return None, None, 0

    def on_SessionEnd(self):
        if not session()[0]:                # a runner marks its agent offline itself
            self.client.patch_agent(self.agent_id, status="offline")
        return None, None, 0


class Late(Exception):
    """The hook's deadline passed."""


def deadline(signum, frame):
    raise Late()


def run(provider, event, stdin, url=None, token=None, agent_id=None) -> int:
    if not (provider == "claude" and event == "Stop"):
        signal.signal(signal.SIGALRM, deadline)
        signal.setitimer(signal.ITIMER_REAL, HOOK_DEADLINE)
    try:
        raw = stdin.read()
        payload = json.loads(raw) if raw.strip() else {}
        hook = Hook(provider, event, payload, url, token, agent_id)
        document, line, code = hook.run()
    except Exception:            # relay down, bad input, anything: never bother the model
        return 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if document is not None:
        print(json.dumps(document, ensure_ascii=False))
    if line:
        print(line, file=sys.stderr)
    sys.stdout.flush()
    return code
