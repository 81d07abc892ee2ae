"""relay mcp (the stdio MCP server), relay mcp install."""
import sys

from . import arg, verb


@verb("mcp", "serve the relay's tools over MCP on stdio (needs relay[mcp])")
def mcp(ctx, args):
    try:
        from ..mcp_server import serve
    except ImportError as error:
        print(f"relay: relay mcp needs the MCP SDK ({error.name}): pip install 'relay[mcp]'",
              file=sys.stderr)
        return 1
    return serve(ctx.client, ctx.as_id)


@verb("mcp install", "add `relay mcp` to Claude Code's or Codex's MCP servers",
      arg("--claude", action="store_true"), arg("--codex", action="store_true"),
      arg("--scope", choices=["project", "user"], default="project"))
def mcp_install(ctx, args):
    if args.claude == args.codex:
        from ..context import UsageError
        raise UsageError("give exactly one of --claude or --codex")
    from .. import install
    if args.claude:
        lines = install.mcp_claude(args.scope, ctx)
    else:
        lines = install.mcp_codex(args.scope, ctx)
    for line in lines:
        print(line)
