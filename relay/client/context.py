"""What every verb knows: the relay, who "I" am, and how to print."""
import json
import os
import re
import socket
import sys

from .api import Client


class UsageError(Exception):
    """A usage error: argparse's message and exit code 2."""


def default_agent_id(cwd=None):
    """RELAY_AGENT_ID, else `<directory>@<host>`: the CLI, `relay mcp` and the
    hooks started in the same project directory act as the same agent."""
    named = os.environ.get("RELAY_AGENT_ID")
    if named:
        return named
    base = os.path.basename(os.path.abspath(cwd or os.getcwd())) or "agent"
    host = socket.gethostname().split(".")[0] or "host"
    return re.sub(r"[^A-Za-z0-9._:@+-]", "-", f"{base}@{host}")[:240]


def session():
    """The runner's instanceId/epoch (RELAY_INSTANCE_ID/RELAY_EPOCH) when set:
    acting with them keeps the session guard of the agent the runner holds."""
    instance = os.environ.get("RELAY_INSTANCE_ID") or None
    epoch = os.environ.get("RELAY_EPOCH")
    return instance, int(epoch) if epoch and epoch.isdigit() else None


class Context:
    def __init__(self, args=None, timeout=10.0):
        self.args = args
        self.url = getattr(args, "url", None)
        self.token = getattr(args, "token", None)
        self.as_id = getattr(args, "as_id", None)
        self.json = getattr(args, "json", False)
        self.timeout = timeout
        self._client = None

    @property
    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = Client(self.url, self.token, self.timeout)
            except ValueError as error:
                raise UsageError(str(error)) from None
        return self._client

    @property
    def me(self) -> str:
        return self.as_id or default_agent_id()

    def close(self):
        if self._client is not None:
            self._client.close()

    def out(self, document=None, human=None):
        """Print `document` as JSON with --json, else the `human` line(s)."""
        if self.json:
            print(json.dumps(document, ensure_ascii=False))
        elif human is not None:
            lines = human if isinstance(human, list) else [human]
            for line in lines:
                print(line)
        sys.stdout.flush()
