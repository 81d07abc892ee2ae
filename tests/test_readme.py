"""The README's walkthroughs, run as written against a live relay.

The convention (for whoever writes a README section):

- Every fenced ```sh block of a section listed in SECTIONS runs, in README order, in one
  `bash -euo pipefail` session: a variable set in one block is there in the next, so a
  section may use what an earlier listed section set up (`$R`, agents, ids it captured).
- Every `curl` in it fails the run on an HTTP error (the session wraps curl with
  `--fail-with-body --show-error`), and so does any other command that exits non-zero:
  an example that means to show an error answer or an exit code ends in
  `|| echo "exit $?"` (or `|| true`). An example checks its own outcome where the answer
  matters (`jq -e`, `test`, `grep -q`), and captures the ids it uses next into variables
  (an earlier section may have made message 1, task 1, ...).
- Nothing is written into the checkout (it is the session's working directory): files
  the tools write go under `mktemp -d` (or `cd` there first).
- A block that only shows starting the server, or that never ends (a live stream, a
  loop until Ctrl-C), is skipped by writing `<!-- not run: <why> -->` on the line right
  before its opening fence (a rendered page does not show the comment; whoever edits
  the README reads why). Keep these few: a section needs at least one block that runs.
- Blocks are the ```sh fences that start a line; other languages (```python, a bare
  ```) are shown, never run.
- The relay runs as `relay serve` from this checkout (`relay` is on PATH) with no token,
  a fresh database and the settings in RELAY_ENV; the session runs in the repository's
  root with TMPDIR, TMUX_TMPDIR and HOME set to fresh directories (so `~/...`, the
  client's state files and the sockets of the tmux servers a block starts begin empty and
  are thrown away).
  `http://127.0.0.1:4850` in a block stands for that relay, and each address in
  LOCAL_PORTS for a free port (a receiver the walkthrough starts), so the README shows the
  default addresses a reader uses. RELAY_URL is set to the relay for the client verbs.
- Background processes a block starts are killed with the session when the test ends,
  and so is every tmux server a block started (`tmux -L NAME`, its socket under
  TMUX_TMPDIR); still, a section stops what it starts, as a reader would want to.

A new section is added to the run by one line in SECTIONS (in any order: they run in
README order).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

SECTIONS = [
    "The two commands",
    "Configuration",
    "Using it with curl",
    "The command line",
    "Using the relay from Claude Code and Codex",
    "Closed-loop tasks",
    "Bridging a Slack channel to a capability, with a fallback agent",
    "A pool of three reviewers taking turns",
    "Keeping an agent running",
    "Recipes and automations",
]

# The relay of the walkthroughs: the outbound allowance "The two commands" starts it with,
# and the 1-second lifecycle tick "Keeping an agent running" restarts it with "for the
# walkthrough" (the other sections pass with the default period too).
RELAY_ENV = {"RELAY_OUTBOUND_ALLOW": "127.0.0.1", "RELAY_LIFECYCLE_TICK": "1"}
DEFAULT_URL = "http://127.0.0.1:4850"
LOCAL_PORTS = ["127.0.0.1:4899",            # the task callback receiver
               "127.0.0.1:4851"]            # the orchestrator's API
TIMEOUT = 240                               # seconds for the whole walkthrough

SKIP = re.compile(r"<!--\s*not run:\s*(?P<why>.+?)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<lang>\S*)\s*$")

# Every curl of the session fails on an HTTP error, says so on stderr (even with -s) and
# still prints the answer's body.
PRELUDE = 'curl() { command curl --fail-with-body --show-error "$@"; }\n'


@dataclass
class Block:
    section: str
    line: int               # of the opening fence, 1-based
    text: str
    skip: str | None        # the reason of its `not run:` marker

    def __repr__(self):
        return f"README.md:{self.line} ({self.section})"


def sections(text: str) -> dict[str, list[Block]]:
    """Each `## ` section's fenced sh blocks, with the skip marker before each if any."""
    found: dict[str, list[Block]] = {}
    lines = text.splitlines()
    section, i = None, 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if line.startswith("## "):
            section = line[3:].strip()
            found[section] = []
        elif fence:
            start, i = i, i + 1
            while i < len(lines) and not lines[i].startswith("```"):
                i += 1
            if fence["lang"] == "sh" and section is not None:
                marker = SKIP.match(lines[start - 1]) if start else None
                found[section].append(Block(section, start + 1, "\n".join(lines[start + 1:i]),
                                            marker and marker["why"]))
        i += 1
    return found


def walkthrough() -> list[Block]:
    found = sections(README.read_text())
    missing = [name for name in SECTIONS if name not in found]
    assert not missing, f"README sections not found: {missing}; headings: {list(found)}"
    ordered = [name for name in found if name in SECTIONS]
    return [block for name in ordered for block in found[name]]


def checkout_state() -> str | None:
    """What `git status` says of the checkout (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return out.stdout if out.returncode == 0 else None


def kill_tmux_servers(tmux_tmpdir: Path, env: dict) -> None:
    """End the tmux servers a block left running: they detach from the session's process
    group, so killing the group does not reach them."""
    for socket_path in tmux_tmpdir.glob("tmux-*/*"):
        if shutil.which("tmux"):
            subprocess.run(["tmux", "-S", str(socket_path), "kill-server"], env=env,
                           capture_output=True, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_skip_markers_are_few_and_say_why():
    skipped = [b for b in walkthrough() if b.skip]
    assert all(len(b.skip) >= 10 for b in skipped), skipped
    runnable = [b for b in walkthrough() if not b.skip]
    for name in SECTIONS:
        blocks = sections(README.read_text())[name]
        # A section whose every block is skipped proves nothing: list it or not at all.
        assert not blocks or any(not b.skip for b in blocks), name
    assert len(skipped) <= len(runnable) // 3, skipped


def test_parser_reads_markers_and_sections():
    text = ("## A\n\n<!-- not run: starts the server -->\n```sh\nmake run\n```\n"
            "```python\nx = 1\n```\n## B\n```sh\necho b\n```\n")
    found = sections(text)
    assert [(b.text, b.skip) for b in found["A"]] == [("make run", "starts the server")]
    assert [(b.text, b.skip, b.line) for b in found["B"]] == [("echo b", None, 11)]


@pytest.fixture
def relay_url(tmp_path):
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, **RELAY_ENV, "RELAY_DB": str(tmp_path / "relay.db")}
    env.pop("AGENT_RELAY_TOKEN", None)
    log = open(tmp_path / "relay.log", "w")
    proc = subprocess.Popen([str(bin_dir / "relay"), "serve", "--port", str(free_port())], env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True, cwd=tmp_path)
    line = proc.stdout.readline()
    match = re.match(r"relay (http://127\.0\.0\.1:\d+) ", line)
    try:
        assert match, f"relay did not start: {line!r} {(tmp_path / 'relay.log').read_text()}"
        yield match[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        finally:
            proc.kill()
            log.close()


def test_readme_walkthroughs_run_in_order(relay_url, tmp_path):
    missing = [tool for tool in ("bash", "curl", "jq") if not shutil.which(tool)]
    assert not missing, f"the README's examples need {' and '.join(missing)} (apt-get install)"
    blocks = [b for b in walkthrough() if not b.skip]
    checkout_before = checkout_state()
    ports = {address: f"127.0.0.1:{free_port()}" for address in LOCAL_PORTS}
    script = [PRELUDE]
    for n, block in enumerate(blocks):
        text = block.text.replace(DEFAULT_URL, relay_url)
        for address, port in ports.items():
            text = text.replace(address, port)
        script += [f"echo '>>> block {n}: {block!r}' >&2", text, f"echo '<<< block {n} ok' >&2"]
    scratch, home = tmp_path / "scratch", tmp_path / "home"
    scratch.mkdir()
    home.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"],
           "RELAY_URL": relay_url, "TMPDIR": str(scratch), "TMUX_TMPDIR": str(scratch),
           "HOME": str(home)}
    env.pop("TMUX", None)                           # a tmux the test itself runs in
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env.pop(name, None)                         # under the fresh HOME, like the rest
    env.pop("AGENT_RELAY_TOKEN", None)
    # Output to a file, not a pipe: a receiver left running in the background keeps its
    # copy of the descriptor open, which would hold a pipe reader until it is killed.
    with open(tmp_path / "session.log", "w") as out:
        session = subprocess.Popen(["bash", "-euo", "pipefail", "-c", "\n".join(script)],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        timed_out = False
        try:
            session.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            timed_out = True                            # reported below, with the output
        finally:
            try:
                os.killpg(session.pid, signal.SIGKILL)     # what a block left running
            except ProcessLookupError:
                pass
            session.wait()
            kill_tmux_servers(scratch, env)
    output = (tmp_path / "session.log").read_text()
    done = re.findall(r"<<< block (\d+) ok", output)
    if timed_out or session.returncode != 0 or len(done) != len(blocks):
        failed = blocks[len(done)] if len(done) < len(blocks) else None
        ended = f"timed out after {TIMEOUT} s" if timed_out else f"exit {session.returncode}"
        start = output.rfind(f">>> block {len(done)}:")         # the failed block's output
        own = output[max(start, 0):]
        pytest.fail(f"{ended}; failed in {failed!r}:\n"
                    f"{failed.text if failed else ''}\n--- its output ---\n{own[-6000:]}\n"
                    f"--- relay log ---\n{(tmp_path / 'relay.log').read_text()[-3000:]}",
                    pytrace=False)
    assert checkout_state() == checkout_before, "a README example wrote into the checkout"
