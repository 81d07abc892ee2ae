"""The `relay` command: serve, init-db."""
import argparse
import os
import sys

from . import __version__, db
from .config import ENV, MEANING, ConfigError, Settings, parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description="A message bus for AI coding agents.")
    parser.add_argument("--version", action="version", version=f"relay {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the relay with waitress")
    init = commands.add_parser("init-db", help="create or migrate the database, then exit")
    defaults = Settings()
    for name, (_, variable, *_) in ENV.items():
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        shown = "unset" if default is None else default
        serve.add_argument(flag, dest=variable, metavar="VALUE",
                           help=f"{MEANING.get(name, name)} (env {variable}; default {shown})")
    init.add_argument("--db", dest="RELAY_DB", metavar="PATH", help="overrides RELAY_DB")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
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
        print(f"relay: database {os.path.abspath(settings.db)} at schema version {version}")
        return 0
    from .server import serve
    return serve(settings)
