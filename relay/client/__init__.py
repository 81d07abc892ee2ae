"""The agent side of the relay: the HTTP client, and the verbs, runner, MCP
server and hooks built on it.

`from relay.client import Client, RelayError, Unreachable` imports only the
standard library: neither Flask nor pydantic nor anything of the server.
"""
from .api import Client
from .transport import RelayError, Unreachable

__all__ = ["Client", "RelayError", "Unreachable"]
