"""relay: a self-hosted message bus for AI coding agents."""

__version__ = "0.1.0"


def create_app(config=None, clock=None):
    """The server's app factory (relay.server.create_app)."""
    from .server import create_app as build
    return build(config, clock)
