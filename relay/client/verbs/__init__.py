"""The client verbs' registry and dispatcher (README "The command line").

A verb is a function `run(ctx, args) -> exit code` registered with `@verb`;
a name with a space ("task create") is a sub-verb of a group. To add verbs,
write them in a module and list it in MODULES: that is the one place.

Exit codes: 0 success, 1 the relay answered an error (its sentence on
stderr), 2 a usage error, 3 the relay cannot be reached. Never a traceback.
"""
import argparse
import importlib
import sys

from ..context import Context, UsageError
from ..transport import RelayError, Unreachable

MODULES = ("messages", "acks", "agents", "tasks", "run", "mcp", "hooks")

REGISTRY = {}       # name -> (help, arguments, run)


def arg(*flags, **options):
    """One argparse argument of a verb."""
    return flags, options


def verb(name, help, *arguments):
    def register(run):
        REGISTRY[name] = (help, arguments, run)
        return run
    return register


# The install verbs' flags: which agent, which scope.
INSTALL_ARGS = (arg("--claude", action="store_true"), arg("--codex", action="store_true"),
                arg("--scope", choices=["project", "user"], default="project"))


def chosen_provider(args) -> str:
    if args.claude == args.codex:
        raise UsageError("give exactly one of --claude or --codex")
    return "claude" if args.claude else "codex"


def common_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("relay")
    group.add_argument("--url", help="the relay (env RELAY_URL; default http://127.0.0.1:4850)")
    group.add_argument("--token", help="the relay token (env AGENT_RELAY_TOKEN)")
    group.add_argument("--as", dest="as_id", metavar="ID", help="act as this agent (env RELAY_AGENT_ID)")
    group.add_argument("--json", action="store_true", help="print the API's JSON unchanged")
    return parent


def add_verbs(commands) -> None:
    for module in MODULES:
        importlib.import_module(f"{__name__}.{module}")
    parent = common_options()
    groups = {}
    for name in sorted(REGISTRY, key=lambda n: (n.split()[0], len(n.split()))):
        help, arguments, run = REGISTRY[name]
        head, _, tail = name.partition(" ")
        if tail:
            if head not in groups:
                group = commands.add_parser(head, help=f"{head} commands", parents=[parent])
                groups[head] = group.add_subparsers(dest=f"{head}_verb", metavar="VERB",
                                                    required=True)
            parser = groups[head].add_parser(tail, help=help, parents=[parent])
        else:
            parser = commands.add_parser(name, help=help, parents=[parent])
            # A verb that is also a group ("mcp" and "mcp install") runs itself
            # when no sub-verb is given.
            groups[name] = parser.add_subparsers(dest=f"{name}_verb", metavar="VERB") \
                if any(n.startswith(name + " ") for n in REGISTRY) else None
        for flags, options in arguments:
            parser.add_argument(*flags, **options)
        parser.set_defaults(run=run, parser=parser)


def dispatch(parser, argv) -> int:
    args = parser.parse_args(argv)
    ctx = Context(args)
    try:
        return args.run(ctx, args) or 0
    except UsageError as error:
        args.parser.error(str(error))
    except RelayError as error:
        print(f"relay: {error.message}", file=sys.stderr)
        return 1
    except Unreachable as error:
        print(f"relay: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as error:
        # stdout that cannot take the output: fail before the cursor moves
        print(f"relay: cannot write the output: {error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        ctx.close()
