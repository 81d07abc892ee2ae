"""`relay hook` fed the JSON Claude Code (and Codex) send, and the install verbs."""
import json
import socket
import subprocess
import time

from relay.client.state import State
from tests.agent_side import RELAY, environment, free_port, relay

SESSION = {"session_id": "2f1c9d1e-7a43-4a57-9f0e-3b1a2c9d0e11",
           "transcript_path": "/home/u/.claude/projects/p/2f1c9d1e.jsonl",
           "cwd": "/home/u/proj", "permission_mode": "default"}


def payload(event, **fields):
    return json.dumps({**SESSION, "hook_event_name": event, **fields})


INPUTS = {
    "SessionStart": payload("SessionStart", source="startup", model="claude-sonnet-4-5"),
    "UserPromptSubmit": payload("UserPromptSubmit", prompt="fix the failing test"),
    "PostToolUse": payload("PostToolUse", tool_name="Bash", tool_use_id="toolu_01ABC",
                           tool_input={"command": "make test", "description": "run tests"},
                           tool_response={"stdout": "ok", "stderr": "", "interrupted": False}),
    "Stop": payload("Stop", stop_hook_active=False, last_assistant_message="Done."),
    "SessionEnd": payload("SessionEnd", reason="prompt_input_exit"),
}


def hook(env, provider, event, timeout=30):
    return relay(env, "hook", provider, event, input=INPUTS[event], timeout=timeout)


def start_watcher(env, tmp_path):
    """`relay hook claude Stop` in the background, fed the Stop JSON."""
    source = tmp_path / "stop.json"
    source.write_text(INPUTS["Stop"])
    with open(source) as stdin:
        return subprocess.Popen([RELAY, "hook", "claude", "Stop"], env=env, stdin=stdin,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def context_of(done, event):
    assert done.returncode == 0 and done.stderr == "", done.stderr
    answer = json.loads(done.stdout)
    assert answer["hookSpecificOutput"]["hookEventName"] == event
    return answer["hookSpecificOutput"]["additionalContext"]


def send(live, to="claude-1", body="please review PR 7", **fields):
    status, message = live.request("POST", "/api/messages", {"from": "alice", "to": to, "body": body, **fields})
    assert status == 201
    return message


def state(env, agent="claude-1"):
    return State(env["RELAY_URL"], agent, env["XDG_STATE_HOME"])


def test_session_start_registers_and_summarises_unread(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-1")
    done = hook(env, "claude", "SessionStart")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert live.request("GET", "/api/agents/claude-1")[1]["status"] == "online"
    m1 = send(live, subject="PR 7", claimable=True)
    m2 = send(live, body="lunch?\nat noon")
    text = context_of(hook(env, "claude", "SessionStart"), "SessionStart")
    assert text.splitlines() == [
        "relay: 2 unread messages for you; call relay_inbox (or run `relay inbox`) to read them.",
        f"- #{m1['id']} from alice: PR 7 (claimable: claim before working on it)",
        f"- #{m2['id']} from alice: lunch?"]
    # UserPromptSubmit shows what is still unread; nothing once read
    assert "unread messages" in context_of(hook(env, "claude", "UserPromptSubmit"), "UserPromptSubmit")
    assert relay(env, "inbox").returncode == 0
    done = hook(env, "claude", "UserPromptSubmit")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_agent_id_defaults_to_the_project_directory(live, tmp_path):
    env = environment(live, tmp_path)
    assert hook(env, "claude", "SessionStart").returncode == 0
    ids = [a["id"] for a in live.request("GET", "/api/agents")[1]]
    assert len(ids) == 1 and ids[0].startswith("proj@")


def test_post_tool_use_tells_only_what_is_new_at_most_once_a_minute(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-1")
    hook(env, "claude", "SessionStart")
    first = send(live)
    text = context_of(hook(env, "claude", "PostToolUse"), "PostToolUse")
    assert text == f"relay: 1 new message for you (ids #{first['id']}) — call relay_inbox"
    second = send(live, body="another")
    assert hook(env, "claude", "PostToolUse").stdout == ""        # within the minute
    s = state(env)
    data = s.load()
    data["noticedAt"] -= 61                                       # a minute later
    with open(s.path, "w") as f:
        json.dump(data, f)
    text = context_of(hook(env, "claude", "PostToolUse"), "PostToolUse")
    assert text == f"relay: 1 new message for you (ids #{second['id']}) — call relay_inbox"
    data = s.load()
    data["noticedAt"] -= 61
    with open(s.path, "w") as f:
        json.dump(data, f)
    assert hook(env, "claude", "PostToolUse").stdout == ""        # nothing new: nothing said


def test_stop_watcher_wakes_on_a_message_and_is_alone(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-1")
    hook(env, "claude", "SessionStart")
    old = send(live, body="already announced")
    hook(env, "claude", "UserPromptSubmit")                       # announces #old
    watcher = start_watcher(env, tmp_path)
    time.sleep(1.5)
    assert watcher.poll() is None                                 # waiting, not woken by #old
    started = time.monotonic()
    second = hook(env, "claude", "Stop")
    assert (second.returncode, second.stdout, second.stderr) == (0, "", "")
    assert time.monotonic() - started < 5
    fresh = send(live, body="wake up")
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 2
    assert (out, err) == ("", f"relay: 1 new message for you (ids #{fresh['id']}) — call relay_inbox\n")
    assert old["id"] < fresh["id"]


def test_session_end_marks_the_agent_offline(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="claude-1")
    hook(env, "claude", "SessionStart")
    done = hook(env, "claude", "SessionEnd")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert live.request("GET", "/api/agents/claude-1")[1]["status"] == "offline"


def test_codex_hooks(live, tmp_path):
    env = environment(live, tmp_path, RELAY_AGENT_ID="codex-1")
    hook(env, "codex", "SessionStart")
    done = hook(env, "codex", "Stop")
    assert (done.returncode, done.stdout) == (0, "")
    m = send(live, to="codex-1", subject="PR 7")
    answer = json.loads(hook(env, "codex", "Stop").stdout)
    assert answer["decision"] == "block"
    assert answer["reason"].splitlines()[1] == f"- #{m['id']} from alice: PR 7"
    assert hook(env, "codex", "Stop").stdout == ""               # told once
    m2 = send(live, to="codex-1", body="hello")
    assert f"#{m2['id']} from alice: hello" in context_of(hook(env, "codex", "UserPromptSubmit"), "UserPromptSubmit")


def test_hooks_are_silent_and_fast_with_the_relay_down(tmp_path):
    port = free_port()
    silent = socket.socket()                   # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        for url in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{silent.getsockname()[1]}"):
            env = environment(None, tmp_path, RELAY_URL=url, RELAY_AGENT_ID="claude-1")
            for provider, event in [("claude", e) for e in ("SessionStart", "UserPromptSubmit",
                                                            "PostToolUse", "SessionEnd")] + \
                                   [("codex", "Stop"), ("codex", "SessionStart")]:
                started = time.monotonic()
                done = hook(env, provider, event)
                elapsed = time.monotonic() - started
                assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), (url, event)
                assert elapsed < 5, (url, event, elapsed)
            # garbage on stdin: still silent
            done = relay(env, "hook", "claude", "SessionStart", input="{not json")
            assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
            # the Stop watcher keeps trying instead (it never blocks the session)
            watcher = start_watcher(env, tmp_path)
            time.sleep(2)
            assert watcher.poll() is None
            watcher.kill()
            watcher.communicate()
    finally:
        silent.close()


def test_hooks_install_merges(tmp_path):
    env = environment(None, tmp_path)
    project = tmp_path / "p"
    (project / ".claude").mkdir(parents=True)
    theirs = {"command": "prettier --write", "type": "command"}
    (project / ".claude" / "settings.json").write_text(json.dumps(
        {"model": "opus", "hooks": {"PostToolUse": [{"matcher": "Edit", "hooks": [theirs]}]}}))
    for _ in range(2):                          # installing twice changes nothing
        done = relay(env, "hooks", "install", "--claude", cwd=project)
        assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {project}/.claude/settings.json:")
    settings = json.loads((project / ".claude" / "settings.json").read_text())
    assert settings["model"] == "opus"
    hooks = settings["hooks"]
    assert set(hooks) == {"SessionStart", "UserPromptSubmit", "PostToolUse", "Stop", "SessionEnd"}
    assert hooks["PostToolUse"][0] == {"matcher": "Edit", "hooks": [theirs]}
    assert len(hooks["PostToolUse"]) == 2 and len(hooks["Stop"]) == 1
    stop = hooks["Stop"][0]["hooks"][0]
    assert stop == {"type": "command", "command": f"{RELAY} hook claude Stop", "asyncRewake": True,
                    "timeout": 3600}
    done = relay(env, "hooks", "install", "--codex", "--scope", "user", cwd=project)
    assert done.returncode == 0 and "codex_hooks = true" in done.stdout
    codex = json.loads((tmp_path / "home" / ".codex" / "hooks.json").read_text())["hooks"]
    assert set(codex) == {"SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"}
    assert codex["Stop"][0]["hooks"][0]["command"] == f"{RELAY} hook codex Stop"
    done = relay(env, "hooks", "install", cwd=project)
    assert done.returncode == 2 and "exactly one of --claude or --codex" in done.stderr


def test_mcp_install_merges(tmp_path):
    env = environment(None, tmp_path, RELAY_URL="http://relay.local:4850")
    project = tmp_path / "p"
    project.mkdir()
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    done = relay(env, "mcp", "install", "--claude", "--as", "claude-1", cwd=project)
    assert done.returncode == 0, done.stderr
    servers = json.loads((project / ".mcp.json").read_text())["mcpServers"]
    assert servers == {"other": {"command": "x"}, "relay": {
        "command": RELAY, "args": ["mcp"],
        "env": {"RELAY_URL": "http://relay.local:4850", "RELAY_AGENT_ID": "claude-1"}}}
    config = project / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text('model = "o4"\n\n[mcp_servers.other]\ncommand = "y"\n')
    for _ in range(2):
        done = relay(env, "mcp", "install", "--codex", cwd=project)
        assert done.returncode == 0, done.stderr
    text = config.read_text()
    assert text == ('model = "o4"\n\n[mcp_servers.other]\ncommand = "y"\n\n'
                    f'[mcp_servers.relay]\ncommand = "{RELAY}"\nargs = ["mcp"]\n'
                    'startup_timeout_sec = 20\ntool_timeout_sec = 60\n\n'
                    '[mcp_servers.relay.env]\nRELAY_URL = "http://relay.local:4850"\n')
    import tomllib
    assert tomllib.loads(text)["mcp_servers"]["relay"]["args"] == ["mcp"]
    done = relay({**env, "PATH": "/nonexistent"}, "mcp", "install", "--claude", "--scope", "user", cwd=project)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "claude is not on PATH; run:",
        f"claude mcp add --scope user --env=RELAY_URL=http://relay.local:4850 relay -- {RELAY} mcp"]
