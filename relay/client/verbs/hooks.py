"""relay hook claude|codex EVENT, relay hooks install."""
import sys

from . import INSTALL_ARGS, arg, chosen_provider, verb


@verb("hook", "run as a Claude Code or Codex hook (reads the hook JSON on stdin)",
      arg("provider", choices=["claude", "codex"]),
      arg("event", help="SessionStart, UserPromptSubmit, PostToolUse, Stop, SessionEnd"))
def hook(ctx, args):
    from .. import hooks
    return hooks.run(args.provider, args.event, sys.stdin, ctx.url, ctx.token, ctx.as_id)


@verb("hooks install", "write the relay's hooks into Claude Code's or Codex's settings",
      *INSTALL_ARGS)
def hooks_install(ctx, args):
    from .. import install
    for line in install.hooks_install(chosen_provider(args), args.scope):
        print(line)
