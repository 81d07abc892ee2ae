"""The app factory: the Flask app, its blueprints and its runtime."""
import logging

from flask import Flask


class RelayFlask(Flask):
    """Flask, minus a check: Flask asks inspect.iscoroutinefunction() of the
    view and of every hook, six times a request, to run async ones; none of
    the relay's is (an async view would be called and its coroutine returned)."""

    def ensure_sync(self, func):
        return func


def create_app(config=None, clock=None) -> RelayFlask:
    """The app factory.

    `config` is a Settings, a mapping of environment-variable names (tests),
    or None to read the environment. `clock` replaces the system clock.
    """
    from . import auth, crosssite, dashboard, db, errors, http_policy
    from .api import blueprints, release_conn
    from .clock import system_clock
    from .settings import Settings, from_env, parse
    from .contract import CONVERTERS
    from .runtime import Relay

    if isinstance(config, Settings):
        settings = config
    else:
        settings = parse(config) if config is not None else from_env()
    db.init(settings.db)

    app = RelayFlask(__name__, static_folder=None)   # dashboard.py serves relay/server/static
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.url_map.converters.update(CONVERTERS)
    app.extensions["relay"] = Relay(settings, clock or system_clock)
    errors.register(app)
    http_policy.install(app)                     # no-store, nosniff, the DEBUG access log
    crosssite.install(app, settings)             # before the token: 421, 403, 415
    app.before_request(auth.require_token)
    app.teardown_appcontext(release_conn)
    for bp in blueprints():
        app.register_blueprint(bp)
    app.register_blueprint(dashboard.bp)
    logging.getLogger("relay").setLevel(settings.log_level.upper())
    return app
