"""Operator friction (issue 20, point 11): one clear line instead of a
traceback, the right URL, the DEBUG access log, help that says what each
setting means, and API answers that are neither cached nor sniffed."""
import logging
import subprocess
import sys

import pytest

from relay import cli
from relay.server import create_app
from relay.server.settings import Settings

from .test_process import free_port, start


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "relay", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr.strip()


@pytest.mark.parametrize("command", ["serve", "init-db"])
def test_a_database_in_a_missing_folder_is_one_line(tmp_path, command):
    path = tmp_path / "nope" / "relay.db"
    line = one_line(run(command, "--db", str(path)))
    assert line.startswith(f"relay: cannot use the database {path}: unable to open database "
                           "file (its folder does not exist)")


def test_a_file_that_is_not_sqlite_is_one_line(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some notes\n" * 100)
    line = one_line(run("serve", "--db", str(path), "--port", str(free_port())))
    assert line == (f"relay: cannot use the database {path}: file is not a database "
                    "(is it an SQLite database?)")


def test_a_host_that_does_not_resolve_is_one_line_about_the_name(tmp_path):
    line = one_line(run("serve", "--host", "nonexistent.invalid", "--db",
                        str(tmp_path / "r.db")))
    assert line.startswith("relay: cannot listen on nonexistent.invalid: the name does not "
                           "resolve")


def test_an_ipv6_host_prints_a_bracketed_url(tmp_path):
    port = free_port()
    proc, _, line = start(tmp_path, RELAY_HOST="::1", RELAY_PORT=str(port))
    try:
        assert line.startswith(f"relay http://[::1]:{port} (dashboard http://[::1]:{port}/")
    finally:
        proc.terminate()
        proc.wait(10)


def test_debug_logs_one_line_per_request(db_path, clock, caplog):
    app = create_app(Settings(db=db_path, log_level="DEBUG"), clock)
    try:
        client = app.test_client()
        with caplog.at_level(logging.DEBUG, logger="relay.access"):
            client.get("/api/agents?limit=5")
            client.post("/api/agents", json={"id": "a"})
            client.get("/api/nothing-here")
        lines = [r.getMessage() for r in caplog.records if r.name == "relay.access"]
        assert [line.rsplit(" ", 2)[0] for line in lines] == [
            "GET /api/agents?limit=5 200", "POST /api/agents 201", "GET /api/nothing-here 404"]
    finally:
        app.extensions["relay"].stop()


def test_help_says_what_each_setting_means(capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--write-timeout VALUE seconds a stream write may make no progress" in text
    assert "--stream-queue-bytes VALUE bytes pending for one stream subscriber" in text
    for flag in ("--outbound-allow", "--allowed-origins", "--allowed-hosts",
                 "--max-streams-per-client", "--callback-retry-for", "--message-retention",
                 "--read-timeout", "--max-connections-per-client", "--config-history"):
        assert flag in text


@pytest.mark.parametrize("path", ["/api/agents", "/api/health", "/api/nothing-here"])
def test_api_answers_are_not_cached_or_sniffed(client, path):
    r = client.get(path)
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
