"""relay run -- COMMAND."""
import argparse

from ..context import UsageError
from . import arg, verb


@verb("run", "run COMMAND as an agent: registered, present while it runs, offline after",
      arg("--id", help="the agent id (default: --as, RELAY_AGENT_ID, else <dir>@<host>)"),
      arg("--label"), arg("--tag", action="append", dest="tags", metavar="T"),
      arg("--cap", action="append", dest="caps", metavar="C"),
      arg("child", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]"))
def run(ctx, args):
    command = args.child[1:] if args.child[:1] == ["--"] else args.child
    if not command:
        raise UsageError("a command to run is required: relay run [options] -- COMMAND [ARGS...]")
    from .. import runner          # subprocess and signals: only for this verb
    return runner.run(ctx.client, args.id or ctx.me, command, args.label, args.tags, args.caps)
