"""`relay mcp install` and `relay hooks install`: write Claude Code's and
Codex's configuration, merging with what is there (other servers and hooks
are kept; our own entries are replaced), and say what was written."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from .hooks import EVENTS

# The Stop watcher waits for mail for up to an hour; re-armed at each Stop.
WATCH_TIMEOUT = 3600


def executable():
    """The `relay` to put in configurations: this one, by absolute path."""
    here = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if os.path.basename(here) == "relay" and os.access(here, os.X_OK):
        return here
    return shutil.which("relay") or "relay"


def settings_env(ctx):
    """What the MCP server needs beyond the environment: never the token (kept
    out of files that may be committed; it comes from AGENT_RELAY_TOKEN)."""
    env = {}
    if ctx.url or os.environ.get("RELAY_URL"):
        env["RELAY_URL"] = ctx.url or os.environ["RELAY_URL"]
    if ctx.as_id:
        env["RELAY_AGENT_ID"] = ctx.as_id
    return env


def read_json(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def write(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".relay-tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def home(*parts):
    return os.path.join(os.path.expanduser("~"), *parts)


# --- MCP -------------------------------------------------------------------------

def mcp_claude(scope, ctx):
    relay = executable()
    env = settings_env(ctx)
    if scope == "user":
        command = ["claude", "mcp", "add", "--scope", "user"]
        command += [f"--env={k}={v}" for k, v in env.items()]
        command += ["relay", "--", relay, "mcp"]
        if shutil.which("claude"):
            subprocess.run(command, check=False)
            return [f"ran: {shlex.join(command)}"]
        return ["claude is not on PATH; run:", shlex.join(command)]
    path = os.path.join(os.getcwd(), ".mcp.json")
    data = read_json(path)
    entry = {"command": relay, "args": ["mcp"]}
    if env:
        entry["env"] = env
    data.setdefault("mcpServers", {})["relay"] = entry
    write(path, json.dumps(data, indent=2) + "\n")
    return [f"wrote {path}: mcpServers.relay = {json.dumps(entry)}"]


def toml_string(value):
    return json.dumps(value)        # a JSON string is a valid TOML basic string


def mcp_codex(scope, ctx):
    path = home(".codex", "config.toml") if scope == "user" \
        else os.path.join(os.getcwd(), ".codex", "config.toml")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    block = ["[mcp_servers.relay]", f"command = {toml_string(executable())}", 'args = ["mcp"]',
             "startup_timeout_sec = 20", "tool_timeout_sec = 60"]
    env = settings_env(ctx)
    if env:
        block += ["", "[mcp_servers.relay.env]"] + [f"{k} = {toml_string(v)}" for k, v in env.items()]
    block = "\n".join(block) + "\n"
    # Drop our previous block (its table and sub-tables) up to the next table.
    kept, ours = [], False
    for line in text.splitlines(keepends=True):
        header = re.match(r"\s*\[\[?\s*([^\]]+?)\s*\]", line)
        if header:
            ours = header.group(1) == "mcp_servers.relay" or header.group(1).startswith("mcp_servers.relay.")
        if not ours:
            kept.append(line)
    text = "".join(kept).rstrip("\n")
    write(path, (text + "\n\n" if text else "") + block)
    return [f"wrote {path}:", block.rstrip("\n")]


# --- hooks -----------------------------------------------------------------------

OURS = re.compile(r"(^|[/\s'\"])relay['\"]? hook (claude|codex) ")


def hooks_entries(provider, relay):
    entries = {}
    for event in EVENTS[provider]:
        hook = {"type": "command", "command": f"{shlex.quote(relay)} hook {provider} {event}"}
        if provider == "claude" and event == "Stop":
            hook.update(asyncRewake=True, timeout=WATCH_TIMEOUT)
        else:
            hook["timeout"] = 10
        entries[event] = {"hooks": [hook]}
    return entries


def hooks_install(provider, scope):
    if provider == "claude":
        path = home(".claude", "settings.json") if scope == "user" \
            else os.path.join(os.getcwd(), ".claude", "settings.json")
    else:
        path = home(".codex", "hooks.json") if scope == "user" \
            else os.path.join(os.getcwd(), ".codex", "hooks.json")
    data = read_json(path)
    hooks = data.setdefault("hooks", {})
    lines = [f"wrote {path}:"]
    for event, entry in hooks_entries(provider, executable()).items():
        groups = []
        for group in hooks.get(event) or []:
            inner = [h for h in group.get("hooks", []) if not OURS.search(str(h.get("command", "")))]
            if inner:
                groups.append({**group, "hooks": inner})
        hooks[event] = groups + [entry]
        lines.append(f"  {event}: {json.dumps(entry['hooks'][0])}")
    write(path, json.dumps(data, indent=2) + "\n")
    if provider == "codex":
        lines.append("Codex runs hooks only with `codex_hooks = true` under [features] in config.toml.")
    return lines
