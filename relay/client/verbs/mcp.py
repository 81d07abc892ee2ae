"""relay mcp (the stdio MCP server), relay mcp install."""
import sys

from . import INSTALL_ARGS, chosen_provider, verb


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
      *INSTALL_ARGS)
def mcp_install(ctx, args):
    from .. import install
    write = install.mcp_claude if chosen_provider(args) == "claude" else install.mcp_codex
    for line in write(args.scope, ctx):
        print(line)
