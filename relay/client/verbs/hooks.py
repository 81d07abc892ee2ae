"""relay hook claude|codex EVENT, relay hooks install."""
import sys

from ..context import UsageError
from . import arg, verb


@verb("hook", "run as a Claude Code or Codex hook (reads the hook JSON on stdin)",
      arg("provider", choices=["claude", "codex"]),
      arg("event", help="SessionStart, UserPromptSubmit, PostToolUse, Stop, SessionEnd"))
def hook(ctx, args):
    from .. import hooks
    return hooks.run(args.provider, args.event, sys.stdin, ctx.url, ctx.token, ctx.as_id)


@verb("hooks install", "write the relay's hooks into Claude Code's or Codex's settings",
      arg("--claude", action="store_true"), arg("--codex", action="store_true"),
      arg("--scope", choices=["project", "user"], default="project"))
def hooks_install(ctx, args):
    if args.claude == args.codex:
        raise UsageError("give exactly one of --claude or --codex")
    from .. import install
    for line in install.hooks_install("claude" if args.claude else "codex", args.scope):
        print(line)
