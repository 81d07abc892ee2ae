"""The server half: HTTP API, contract, domain, store, live delivery, workers.

Importing this package imports nothing heavy: `relay init-db` and the
agent-side commands reach `relay.server.settings` and `relay.server.db`
without loading Flask; `create_app` and `serve` load it when called.
"""


def create_app(config=None, clock=None):
    """The Flask app (see app.py)."""
    from .app import create_app as build
    return build(config, clock)


def serve(settings) -> int:
    """Serve the relay with waitress until a signal (see serving.py)."""
    from .serving import serve as run
    return run(settings)
