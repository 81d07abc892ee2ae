"""The orchestrator's parts on their own (README "Keeping an agent running"):
providers and their flags, the base-dir checks, tmux driven without a shell or
tmux command parsing (real tmux, on a server of the test's own), and its HTTP API
over real HTTP."""
import http.client
import json
import os
import subprocess
import sys
import threading
import types

import pytest

from relay.orchestrator import providers, workspace
from relay.orchestrator.api import Api, ApiServer, new_lines
from relay.orchestrator.sessions import Sessions
from relay.orchestrator.state import State
from relay.orchestrator.tmux import Tmux, session_name

from .orchestrator_harness import wait_for


@pytest.fixture
def tmux(tmp_path):
    server = Tmux(socket=f"relay-test-{os.getpid()}-{tmp_path.name}")
    yield server
    server.run("kill-server") if server.panes() else None


# --- providers -------------------------------------------------------------------------

def test_providers_default_and_from_the_environment(tmp_path):
    found = providers.configured({"RELAY_PROVIDER_MY_AGENT": f"{sys.executable} -u x.py",
                                  "RELAY_PROVIDER_CODEX": "", "PATH": ""})
    assert list(found) == ["claude", "my-agent"]            # codex removed by the empty value
    assert found["my-agent"].argv == [sys.executable, "-u", "x.py"]
    assert found["my-agent"].available
    assert providers.offered(found) == (["claude", "my-agent"] if found["claude"].available
                                        else ["my-agent"])
    with pytest.raises(ValueError, match="RELAY_PROVIDER_9X names no valid provider"):
        providers.configured({"RELAY_PROVIDER_9X": "x"})
    missing = providers.Provider("ghost", str(tmp_path / "not-there"))
    assert missing.describe() == {"name": "ghost", "command": str(tmp_path / "not-there"),
                                  "available": False, "version": None}
    script = tmp_path / "tool"
    script.write_text("#!/bin/sh\necho 'tool 4.2.0 (build 7)'\necho more\n")
    script.chmod(0o755)
    assert providers.Provider("tool", str(script)).version() == "tool 4.2.0 (build 7)"


def test_each_provider_gets_prompt_and_approval_mode_in_its_own_flags():
    spawn = {"approvalMode": "read-only", "providerArgs": ["--verbose"], "prompt": "-fix; it"}
    claude = providers.Provider("claude", "claude")
    assert claude.command_line(spawn) == (
        ["claude", "--permission-mode", "plan", "--verbose", "--", "-fix; it"], {})
    assert claude.command_line({"approvalMode": "open"})[0] == [
        "claude", "--permission-mode", "bypassPermissions"]
    codex = providers.Provider("codex", "codex --profile x")
    config = {"model": "gpt-5", "effort": "high", "args": ["--search"], "env": {"K": 1}}
    assert codex.command_line({**spawn, "approvalMode": "guarded"}, config) == (
        ["codex", "--profile", "x", "--sandbox", "workspace-write", "--ask-for-approval",
         "on-request", "--model", "gpt-5", "-c", "model_reasoning_effort=high", "--search",
         "--verbose", "--", "-fix; it"], {"K": "1"})
    custom = providers.Provider("fake", "python3 fake.py")
    assert custom.command_line(spawn) == (["python3", "fake.py", "--verbose"], {
        "RELAY_APPROVAL_MODE": "read-only", "RELAY_PROMPT": "-fix; it"})


# --- the base dir ------------------------------------------------------------------------

@pytest.fixture
def base(tmp_path):
    root = tmp_path / "src"
    for folder in ("app/lib", "app/.git", "web", "src-evil"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / "src-evil").mkdir()
    (root / "out").symlink_to(tmp_path)
    (root / "in").symlink_to(root / "web")
    (root / "file.txt").write_text("x")
    return root


@pytest.mark.parametrize("path", ["..", "app/../..", "out", "out/src-evil", "/etc", "/"])
def test_a_cwd_outside_the_base_dir_is_refused(base, path):
    with pytest.raises(workspace.Outside, match=r"is outside the base dir"):
        workspace.resolve(str(base), path)


def test_cwds_inside_resolve_and_directories_list(base):
    assert workspace.resolve(str(base), None) == str(base)
    assert workspace.resolve(str(base), "app/lib/..") == str(base / "app")
    assert workspace.resolve(str(base), str(base / "in")) == str(base / "web")
    with pytest.raises(NotADirectoryError):
        workspace.directory(str(base), "file.txt")
    listed = workspace.listing(str(base), None)
    assert listed == {"path": str(base), "parent": None, "directories": [
        {"name": n, "path": str(base / n)} for n in ("app", "in", "src-evil", "web")]}
    assert workspace.listing(str(base), "app")["parent"] == str(base)


# --- tmux ------------------------------------------------------------------------------

def test_session_names_are_made_safe():
    assert session_name("relay-", "code review; kill-server", "a1b2c3") == \
        "relay-code-review-kill-server-a1b2c3"
    assert session_name("relay-", "../..", "a1") == "relay-agent-a1"


def test_text_and_arguments_never_become_tmux_commands(tmux, tmp_path):
    with pytest.raises(ValueError, match="would end the tmux command"):
        tmux.new_session("relay-x-1", ["echo", "hi;"], {})
    with pytest.raises(ValueError, match="unsafe tmux session name"):
        tmux.new_session("a;b", ["true"], {})
    echo = "import sys\nfor l in sys.stdin: print('typed:', l.rstrip(), flush=True)"
    pid = tmux.new_session("relay-echo-1", [sys.executable, "-c", echo], {"MARK": "m"})
    assert pid > 0 and tmux.panes("relay-")["relay-echo-1"] == {"pid": pid, "dead": False}
    tmux.type_text("relay-echo-1", "kill-server ; $(touch pwned) \\; new-window")
    wait_for(lambda: "typed: kill-server ; $(touch pwned) \\; new-window" in
             tmux.capture("relay-echo-1"))
    assert list(tmux.panes()) == ["relay-echo-1"] and not (tmp_path / "pwned").exists()
    assert tmux.run("list-buffers") == ""                  # the paste buffer was deleted
    # A pane whose program ends stays, dead, with its output.
    tmux.new_session("relay-short-1", [sys.executable, "-c", "print('bye')"], {})
    wait_for(lambda: tmux.panes()["relay-short-1"]["dead"])
    assert tmux.capture("relay-short-1")[0] == "bye"
    assert tmux.kill("relay-short-1") is True and tmux.kill("relay-short-1") is False


# --- the HTTP API ------------------------------------------------------------------------

def test_new_lines_are_the_inserted_and_changed_ones():
    assert new_lines(["a", "b", "> "], ["a", "b", "> x"]) == ["> x"]
    assert new_lines(["a", "b"], ["b", "c", "d"]) == ["c", "d"]
    assert new_lines(["a"], ["a"]) == []


@pytest.fixture
def api(tmp_path, tmux, base):
    state = State(str(tmp_path / "state"), "h1")
    sessions = Sessions(tmux, {}, state, str(base), "relay-", "h1", "http://x", None)
    daemon = types.SimpleNamespace(
        base_dir=str(base), sessions=sessions, tmux=tmux, version="9.9", id="h1", hostname="hx",
        providers={"fake": providers.Provider("fake", f"{sys.executable} fake.py"),
                   "ghost": providers.Provider("ghost", "/nowhere/ghost")})
    server = ApiServer(Api(daemon), "127.0.0.1", 0, "s3cret")
    server.start()
    yield types.SimpleNamespace(port=server.port, sessions=sessions, tmux=tmux, base=base)
    server.stop()


def get(api, path, token="s3cret"):
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, json.loads(body)


def test_the_api_needs_its_token_and_answers_in_the_relays_shape(api):
    refused = (401, {"error": "missing or wrong token: send the orchestrator's apiToken as "
                              "Authorization: Bearer <token>"})
    assert get(api, "/api/version", token=None) == refused
    assert get(api, "/api/version", token="wrong") == refused
    status, version = get(api, "/api/version")
    assert status == 200 and (version["version"], version["orchestratorId"]) == ("9.9", "h1")
    assert version["tmux"].startswith("tmux ")
    assert get(api, "/api/providers") == (200, [
        {"name": "fake", "command": f"{sys.executable} fake.py", "available": True,
         "version": None},
        {"name": "ghost", "command": "/nowhere/ghost", "available": False, "version": None}])
    assert get(api, "/api/directories?path=app")[1]["directories"] == [
        {"name": "lib", "path": str(api.base / "app" / "lib")}]
    status, body = get(api, "/api/directories?path=../src-evil")
    assert status == 400 and body["error"].startswith("path must be inside the base dir: cwd "
                                                      "../src-evil is outside the base dir")
    assert get(api, "/api/directories?path=file.txt") == (
        404, {"error": "path file.txt is not a directory"})
    assert get(api, "/api/nothing") == (404, {"error": "no route GET /api/nothing"})
    assert get(api, "/api/sessions") == (200, [])
    assert get(api, "/api/logs/relay-nope-1") == (
        404, {"error": "session relay-nope-1 is not one of this orchestrator's"})
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.request("POST", "/api/version", body="{}", headers={"Authorization": "Bearer s3cret"})
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())) == (405, {
        "error": "method POST is not allowed: the orchestrator's API is read-only (GET)"})


def test_logs_stream_the_last_lines_then_new_output_then_the_end(api):
    script = ("import sys\nfor i in range(3): print('line', i, flush=True)\n"
              "for l in sys.stdin: print('got', l.rstrip(), flush=True)")
    pid = api.tmux.new_session("relay-log-1", [sys.executable, "-c", script], {})
    api.sessions.records["relay-log-1"] = {"agentId": "a", "provider": "fake", "status": "running",
                                           "pid": pid, "startedAt": 1, "exitedAt": None,
                                           "cwd": str(api.base)}
    wait_for(lambda: "line 2" in api.tmux.capture("relay-log-1"))
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.request("GET", "/api/logs/relay-log-1", headers={"Authorization": "Bearer s3cret"})
    response = conn.getresponse()
    assert (response.status, response.getheader("Content-Type")) == (200, "text/event-stream")
    frames = []

    def read_frames():
        event = {}
        for raw in response:
            line = raw.decode().rstrip("\n")
            if not line:
                if event:
                    frames.append(event)
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = json.loads(value) if key == "data" else value
    reader = threading.Thread(target=read_frames, daemon=True)
    reader.start()
    wait_for(lambda: frames)
    assert frames[0] == {"id": "1", "event": "log", "data": {
        "session": "relay-log-1", "lines": ["line 0", "line 1", "line 2"]}}
    api.tmux.type_text("relay-log-1", "hello")
    wait_for(lambda: any("got hello" in f["data"].get("lines", []) for f in frames[1:]))
    api.tmux.kill("relay-log-1")
    reader.join(10)
    assert frames[-1]["event"] == "end" and frames[-1]["data"] == {
        "session": "relay-log-1", "reason": "the tmux session is gone"}
    assert [int(f["id"]) for f in frames] == list(range(1, len(frames) + 1))


def test_a_log_stream_ends_when_the_agent_exits(api):
    script = "import sys\nprint('working', flush=True)\nsys.stdin.readline()\nprint('done')"
    pid = api.tmux.new_session("relay-exit-1", [sys.executable, "-c", script], {})
    api.sessions.records["relay-exit-1"] = {"agentId": "b", "provider": "fake",
                                            "status": "running", "pid": pid, "startedAt": 1,
                                            "exitedAt": None, "cwd": str(api.base)}
    wait_for(lambda: "working" in api.tmux.capture("relay-exit-1"))
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.request("GET", "/api/logs/relay-exit-1", headers={"Authorization": "Bearer s3cret"})
    response = conn.getresponse()
    api.tmux.type_text("relay-exit-1", "go")
    text = response.read().decode()          # the stream ends: the whole of it
    frames = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert frames[0] == {"session": "relay-exit-1", "lines": ["working"]}
    assert "done" in [line for f in frames[1:-1] for line in f["lines"]]
    assert frames[-1] == {"session": "relay-exit-1", "reason": "the agent exited"}
    assert text.rstrip("\n").splitlines()[-2] == "event: end"


def test_the_orchestrator_imports_nothing_of_the_server():
    code = ("import sys, relay.orchestrator.cli, relay.orchestrator.daemon, "
            "relay.orchestrator.launch\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'pydantic', "
            "'waitress') or (m.startswith('relay.') and m.split('.')[1] not in ('client', "
            "'orchestrator'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
