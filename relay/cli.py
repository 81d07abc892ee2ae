"""The `relay` command: the one entry point for both halves.

`serve` and `init-db` run the server; every other verb is the agent side
(relay/client/verbs), which must start fast and import neither Flask nor
pydantic, so the server's modules are imported only for `serve`/`init-db`.
"""
import argparse
import os
import sys

from . import __version__

SERVER_COMMANDS = ("serve", "init-db", "copy-db")


def add_server_commands(commands, flags=True) -> None:
    serve = commands.add_parser("serve", help="serve the relay with waitress")
    init = commands.add_parser("init-db", help="create or migrate the database, then exit")
    commands.add_parser("orchestrator", help="run agents for the relay in tmux "
                        "(relay orchestrator --help)")
    init.add_argument("--db", dest="RELAY_DB", metavar="PATH", help="overrides RELAY_DB")
    copy = commands.add_parser("copy-db", help="copy a SQLite relay's data into an empty database")
    copy.add_argument("--from", dest="copy_from", metavar="PATH", required=True)
    copy.add_argument("--to", dest="copy_to", metavar="URL", required=True)
    if not flags:
        return
    from .server.settings import ENV, MEANING, Settings
    defaults = Settings()
    for name, (_, variable, *_) in ENV.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        shown = "unset" if default is None else default
        serve.add_argument(flag, dest=variable, metavar="VALUE",
                           help=f"{MEANING.get(name, name)} (env {variable}; default {shown})")


def build_parser(server_flags=True) -> argparse.ArgumentParser:
    from .client.verbs import add_verbs
    parser = argparse.ArgumentParser(prog="relay", description="A message bus for AI coding agents.")
    parser.add_argument("--version", action="version", version=f"relay {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_server_commands(commands, server_flags)
    add_verbs(commands)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["orchestrator"]:
        from .orchestrator.cli import main as orchestrator
        return orchestrator(argv[1:])
    first = next((a for a in argv if not a.startswith("-")), None)
    if first not in SERVER_COMMANDS:
        from .client.verbs import dispatch
        return dispatch(build_parser(server_flags=False), argv)
    return server_main(build_parser().parse_args(argv))


def server_main(args) -> int:
    from .server import db
    from .server.settings import ConfigError, parse
    if args.command == "copy-db":
        from .server.copy_db import main as copy_db
        return copy_db(args.copy_from, args.copy_to)
    flags = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        settings = parse({**os.environ, **flags})
    except ConfigError as error:
        print(f"relay: {error}", file=sys.stderr)
        return 2
    if args.command == "init-db":
        try:
            version = db.init(settings.db)
        except db.SchemaError as error:
            print(f"relay: {error}", file=sys.stderr)
            return 2
        print(f"relay: database {db.url_shown(settings.db)} at schema version {version}")
        return 0
    from .server import serve
    return serve(settings)
