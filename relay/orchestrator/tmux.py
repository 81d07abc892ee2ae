"""tmux, driven so that no text from a command can become a tmux command or reach a shell.

Every call is an argument vector run without a shell. Targets are exact (`=name`),
session names are made of [A-Za-z0-9_-] only, and no argument built from a command
is ever given to tmux: an argument ending in `;` would end the tmux command there
(a command separator), so a spawn's details travel in a file (launch.py), typed text
through `load-buffer` from stdin, and the only variable passed with `-e` is that
file's path, which the orchestrator builds itself.
"""
import re
import secrets
import shutil
import subprocess

SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
TIMEOUT = 10.0
# What tmux says when it has no sessions at all (no server, or one exiting).
NO_SERVER = ("no server running", "error connecting to", "No such file or directory",
             "no current target")


class TmuxError(Exception):
    """tmux failed; the message is tmux's own."""


def session_name(prefix: str, base: str, short: str) -> str:
    """`<prefix><base>-<short>` with every unsafe run of characters in base made a `-`."""
    part = UNSAFE.sub("-", base).strip("-")[:40] or "agent"
    return f"{prefix}{part}-{short}"


def _checked(name: str) -> str:
    if not SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe tmux session name {name!r}")
    return name


def _plain(arg: str) -> str:
    # Only the orchestrator's own strings reach here; this keeps it that way.
    if arg.endswith(";"):
        raise ValueError(f"tmux argument {arg!r} would end the tmux command")
    return arg


class Tmux:
    def __init__(self, socket: str | None = None, binary: str = "tmux"):
        self.socket = socket
        self.binary = binary

    def available(self) -> bool:
        return shutil.which(self.binary) is not None

    def run(self, *args: str, input: str | None = None) -> str:
        argv = [self.binary] + (["-L", self.socket] if self.socket else []) + list(args)
        try:
            done = subprocess.run(argv, input=input, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TmuxError(f"tmux could not run: {error}") from None
        if done.returncode != 0:
            raise TmuxError(done.stderr.strip() or f"tmux exited with {done.returncode}")
        return done.stdout

    def version(self) -> str | None:
        try:
            return self.run("-V").strip()
        except TmuxError:
            return None

    def new_session(self, name: str, argv: list[str], env: dict[str, str],
                    width: int = 200, height: int = 50) -> int:
        """Start `argv` (run directly, no shell) detached in session `name`; answers the pane's
        pid. The pane stays after its process exits (remain-on-exit), so the watch sees it
        dead and its last output can still be read."""
        target = f"={_checked(name)}:"
        pairs = [a for k, v in env.items() for a in ("-e", _plain(f"{k}={v}"))]
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), *pairs,
                 "--", *map(_plain, argv), ";", "set-option", "-w", "-t", target,
                 "remain-on-exit", "on")
        return self.pane_pid(name)

    def pane_pid(self, name: str) -> int:
        return int(self.run("display-message", "-p", "-t", f"={_checked(name)}:",
                            "#{pane_pid}").strip())

    def panes(self, prefix: str = "") -> dict[str, dict]:
        """{session: {pid, dead}} for the sessions whose name starts with prefix."""
        try:
            out = self.run("list-panes", "-a", "-F", "#{session_name}\t#{pane_pid}\t#{pane_dead}")
        except TmuxError as error:
            if any(text in str(error) for text in NO_SERVER):
                return {}
            raise
        found = {}
        for line in out.splitlines():
            name, pid, dead = (line.split("\t") + ["", ""])[:3]
            if name.startswith(prefix) and name not in found:
                found[name] = {"pid": int(pid) if pid.isdigit() else None, "dead": dead == "1"}
        return found

    def kill(self, name: str) -> bool:
        """Kill the session; False when there was none."""
        try:
            self.run("kill-session", "-t", f"={_checked(name)}")
            return True
        except TmuxError as error:
            if "can't find session" in str(error) or any(t in str(error) for t in NO_SERVER):
                return False
            raise

    def type_text(self, name: str, text: str) -> None:
        """Type text into the session's pane as a paste (bracketed when the program asked
        for it), then Enter."""
        target = f"={_checked(name)}:"
        buffer = "relay-" + secrets.token_hex(4)
        self.run("load-buffer", "-b", buffer, "-", input=text)
        self.run("paste-buffer", "-p", "-d", "-b", buffer, "-t", target)
        self.run("send-keys", "-t", target, "Enter")

    def capture(self, name: str, lines: int = 200) -> list[str]:
        """The pane's last `lines` lines (history included), trailing blank lines left out."""
        out = self.run("capture-pane", "-p", "-J", "-t", f"={_checked(name)}:", "-S",
                       str(-lines))
        rows = out.split("\n")
        while rows and not rows[-1].strip():
            rows.pop()
        return rows[-lines:]
