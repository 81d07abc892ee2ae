"""relay: a self-hosted message bus for AI coding agents.

Kept light on purpose: the agent side (`relay.client`, the client verbs, the
hooks) imports this package on every call, so nothing here imports Flask or
pydantic; `create_app` loads the server's app factory only when asked for.
"""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "create_app":
        from .server.app import create_app
        return create_app
    raise AttributeError(f"module 'relay' has no attribute {name!r}")
