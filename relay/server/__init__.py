"""The server half: HTTP API, contract, domain, store, live delivery, workers.

Importing this package imports nothing heavy: `relay init-db` and the
agent-side commands reach `relay.server.settings` and `relay.server.db`
without loading Flask; `create_app` (app.py) and `serve` (serving.py) are
loaded when first asked for.
"""


def __getattr__(name):
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "serve":
        from .serving import serve
        return serve
    raise AttributeError(f"module 'relay.server' has no attribute {name!r}")
