"""State kept between processes, per relay URL and agent id, under
$XDG_STATE_HOME/relay/ (default ~/.local/state/relay/).

The cursor is the highest message id already shown (inbox, relay_inbox); the
notice mark is the highest id already announced (hooks, the MCP "new
messages" line) and when. Every update is a locked read-merge-write that
only moves ids forward, so the CLI, `relay mcp` and the hooks can share it.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import re
import time


def state_dir(base=None):
    base = base or os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "relay")


def slug(url, agent_id):
    digest = hashlib.sha256(f"{url}\n{agent_id}".encode()).hexdigest()[:12]
    return re.sub(r"[^A-Za-z0-9._-]", "_", agent_id)[:60] + "-" + digest


class State:
    def __init__(self, url, agent_id, base=None):
        """`base` replaces $XDG_STATE_HOME (tests)."""
        self.url = url
        self.agent_id = agent_id
        self.dir = os.path.join(state_dir(base), "agents")
        self.path = os.path.join(self.dir, slug(url, agent_id) + ".json")

    def load(self) -> dict:
        try:
            with open(self.path) as f:
                data = json.load(f)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    @property
    def cursor(self) -> int:
        return int(self.load().get("cursor") or 0)

    @property
    def noticed(self) -> int:
        data = self.load()
        return max(int(data.get("noticed") or 0), int(data.get("cursor") or 0))

    @contextlib.contextmanager
    def locked(self):
        os.makedirs(self.dir, exist_ok=True)
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def advance(self, cursor=None, noticed=None) -> dict:
        """Move the cursor and/or the notice mark forward (never back)."""
        with self.locked():
            data = self.load()
            data.update(url=self.url, agent=self.agent_id)
            if cursor is not None:
                data["cursor"] = max(int(data.get("cursor") or 0), int(cursor))
            if noticed is not None:
                data["noticed"] = max(int(data.get("noticed") or 0), int(noticed))
                data["noticedAt"] = time.time()
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)
            return data

    def reset(self) -> None:
        """Back to 0: the relay no longer has the messages the cursor points past."""
        with self.locked():
            data = self.load()
            data.update(url=self.url, agent=self.agent_id, cursor=0, noticed=0)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(data, f)
            os.replace(tmp, self.path)

    def try_lock(self, name):
        """An exclusive lock held while the returned file stays open, or None
        when another process holds it (one Stop watcher per agent)."""
        os.makedirs(self.dir, exist_ok=True)
        handle = open(os.path.join(self.dir, f"{slug(self.url, self.agent_id)}.{name}.lock"), "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        return handle
