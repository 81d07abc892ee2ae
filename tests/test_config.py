"""Every setting from the environment, flags override."""
import pytest

from relay import cli
from relay.server import db
from relay.server.settings import ConfigError, Settings, parse


def test_defaults():
    s = parse({})
    assert (s.db, s.host, s.port, s.token, s.threads) == ("./relay.db", "127.0.0.1", 4850, None, 96)
    # 50 SSE + 20 WebSocket subscribers fit; one client may hold half of them.
    assert (s.stream_limit, s.streams_per_client) == (88, 44)
    assert (s.max_connections_per_client, s.read_timeout, s.idle_timeout) == (200, 15, 60)
    assert s.callback_retry_for == 86400
    assert (s.stale_after, s.offline_after, s.prune_after) == (90, 300, 604800)
    assert (s.reap_interval, s.lifecycle_tick, s.keepalive) == (15, 10, 15)
    assert (s.max_body_bytes, s.event_retention, s.integration_rate_limit) == (1048576, 100000, 60)
    assert (s.log_level, s.synchronous) == ("INFO", "FULL")
    assert (s.write_timeout, s.stream_queue_bytes) == (10, 8388608)


def test_every_variable_is_read():
    s = parse({"RELAY_DB": "/tmp/x.db", "RELAY_HOST": "0.0.0.0", "RELAY_PORT": "9000",
               "AGENT_RELAY_TOKEN": "t", "RELAY_ALLOW_NO_TOKEN": "1", "RELAY_THREADS": "16",
               "RELAY_MAX_STREAMS": "4", "RELAY_MAX_BODY_BYTES": "2048",
               "RELAY_STALE_AFTER": "1.5", "RELAY_OFFLINE_AFTER": "3", "RELAY_PRUNE_AFTER": "9",
               "RELAY_REAP_INTERVAL": "0.25", "RELAY_LIFECYCLE_TICK": "0.5",
               "RELAY_EVENT_RETENTION": "10", "RELAY_KEEPALIVE": "0.1",
               "RELAY_WRITE_TIMEOUT": "2.5", "RELAY_STREAM_QUEUE_BYTES": "100000",
               "RELAY_INTEGRATION_TOKENS": "ci=abc", "RELAY_INTEGRATION_RATE_LIMIT": "5",
               "RELAY_RECIPES_DIR": "/r", "RELAY_LOG_LEVEL": "DEBUG", "RELAY_SYNCHRONOUS": "NORMAL"})
    assert s == Settings(db="/tmp/x.db", host="0.0.0.0", port=9000, token="t", allow_no_token=True,
                         threads=16, max_streams=4, max_body_bytes=2048, stale_after=1.5,
                         offline_after=3, prune_after=9, reap_interval=0.25, lifecycle_tick=0.5,
                         event_retention=10, keepalive=0.1, write_timeout=2.5,
                         stream_queue_bytes=100000, integration_tokens="ci=abc",
                         integration_rate_limit=5, recipes_dir="/r", log_level="DEBUG",
                         synchronous="NORMAL")
    assert s.stream_limit == 4


def test_host_and_port_fallbacks():
    s = parse({"HOST": "127.0.0.2", "PORT": "5000"})
    assert (s.host, s.port) == ("127.0.0.2", 5000)
    s = parse({"HOST": "127.0.0.2", "RELAY_HOST": "127.0.0.3", "PORT": "5000", "RELAY_PORT": "5001"})
    assert (s.host, s.port) == ("127.0.0.3", 5001)


@pytest.mark.parametrize("env,message", [
    ({"RELAY_PORT": "abc"}, "RELAY_PORT must be a number"),
    ({"RELAY_PORT": "70000"}, "RELAY_PORT must be between 1 and 65535"),
    ({"RELAY_SYNCHRONOUS": "OFF"}, "RELAY_SYNCHRONOUS must be FULL or NORMAL"),
    ({"RELAY_REAP_INTERVAL": "0"}, "RELAY_REAP_INTERVAL must be greater than 0"),
    ({"RELAY_WRITE_TIMEOUT": "0"}, "RELAY_WRITE_TIMEOUT must be greater than 0"),
    ({"RELAY_STREAM_QUEUE_BYTES": "100"}, "RELAY_STREAM_QUEUE_BYTES must be at least 65536"),
    ({"RELAY_ALLOW_NO_TOKEN": "perhaps"}, "RELAY_ALLOW_NO_TOKEN must be 1 or 0"),
])
def test_bad_settings_are_named(env, message):
    with pytest.raises(ConfigError, match=message):
        parse(env)


def test_flags_override_environment(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("RELAY_DB", "/nonexistent/dir/x.db")
    path = tmp_path / "flag.db"
    assert cli.main(["init-db", "--db", str(path)]) == 0
    assert path.exists()
    assert f"schema version {db.SCHEMA_VERSION}" in capsys.readouterr().out


def test_serve_flags_exist_for_every_setting():
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--port", "1234", "--reap-interval", "0.5",
                              "--synchronous", "NORMAL"])
    assert (args.RELAY_PORT, args.RELAY_REAP_INTERVAL, args.RELAY_SYNCHRONOUS) == ("1234", "0.5", "NORMAL")


def test_max_streams_must_leave_threads_for_requests():
    with pytest.raises(ConfigError) as refused:
        parse({"RELAY_THREADS": "4", "RELAY_MAX_STREAMS": "50"})
    assert str(refused.value) == ("RELAY_MAX_STREAMS (50) must leave at least 8 of the "
                                  "RELAY_THREADS (4) for requests: at most 0")
    assert parse({"RELAY_THREADS": "20", "RELAY_MAX_STREAMS": "12"}).stream_limit == 12
    assert parse({"RELAY_MAX_STREAMS_PER_CLIENT": "0"}).streams_per_client == 0


def test_serve_refuses_threads_without_room_in_one_line(tmp_path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "relay", "serve", "--threads", "4",
                           "--max-streams", "50", "--db", str(tmp_path / "x.db")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "RELAY_MAX_STREAMS (50) must leave at least 8" in proc.stderr
