"""Odd input that was a 500 or silent damage (issue 20, point 8): each a 400
naming the field, or the stored value kept."""
import pytest

NUL_PATH = "cwd must be text without a NUL byte"


@pytest.fixture
def orchestrator(client):
    r = client.post("/api/orchestrators", json={"id": "h1", "providers": ["claude"],
                                                "baseDir": "/srv/app"})
    assert r.status_code == 201


def test_a_nul_in_a_spawn_cwd_is_400(client, orchestrator):
    r = client.post("/api/orchestrators/h1/spawn", json={"provider": "claude", "cwd": "a\u0000b"})
    assert (r.status_code, r.get_json()) == (400, {"error": NUL_PATH})


def test_a_nul_in_a_base_dir_is_400(client):
    r = client.post("/api/orchestrators", json={"id": "h2", "baseDir": "/srv\u0000"})
    assert (r.status_code, r.get_json()) == (400, {"error": "baseDir must be text without a NUL byte"})


def test_a_nul_in_a_policy_cwd_is_400(client, orchestrator):
    r = client.put("/api/spawn-policy/p1", json={"orchestratorId": "h1", "provider": "claude",
                                                  "cwd": "/srv/app/\u0000"})
    assert (r.status_code, r.get_json()) == (400, {"error": NUL_PATH})


def test_a_nul_in_a_recipe_start_cwd_is_400(client, orchestrator):
    r = client.post("/api/recipes/code-review/start", json={"orchestratorId": "h1",
                                                             "cwd": "x\u0000"})
    assert (r.status_code, r.get_json()) == (400, {"error": NUL_PATH})


def test_a_stored_base_dir_with_a_nul_refuses_the_cwd_instead_of_failing(client, relay_,
                                                                         orchestrator):
    relay_.committer.commit(lambda c: (c.execute(
        "UPDATE orchestrators SET base_dir = '/srv' || char(0)"), []))
    r = client.post("/api/orchestrators/h1/spawn", json={"provider": "claude", "cwd": "x"})
    assert r.status_code == 400


@pytest.mark.parametrize("value", ["9" * 10000, "9" * 21, "18446744073709551616"])
def test_a_huge_last_event_id_is_400(client, value):
    r = client.get("/api/events", headers={"Last-Event-ID": value})
    assert (r.status_code, r.get_json()) == (400, {
        "error": "Last-Event-ID or since must be a non-negative integer id"})


def test_writing_back_a_masked_provider_config_keeps_the_secrets(client):
    body = {"model": "opus", "env": {"ANTHROPIC_API_KEY": "sk-secret", "HTTP_PROXY": "http://p"}}
    assert client.put("/api/providers/claude/config", json=body).status_code == 201
    masked = client.get("/api/providers/claude/config").get_json()
    assert masked["env"] == {"ANTHROPIC_API_KEY": "***", "HTTP_PROXY": "***"}
    # The dashboard saves what it read, with one variable changed and one added.
    masked["env"]["HTTP_PROXY"] = "http://q"
    masked["env"]["NEW"] = "n"
    r = client.put("/api/providers/claude/config", json={
        k: masked[k] for k in ("model", "env", "args")})
    assert r.status_code == 200
    assert client.get("/api/providers/claude/config?reveal=1").get_json()["env"] == {
        "ANTHROPIC_API_KEY": "sk-secret", "HTTP_PROXY": "http://q", "NEW": "n"}
    # The same through the generic config route.
    entry = client.get("/api/config/provider-config/claude").get_json()
    assert client.put("/api/config/provider-config/claude",
                      json={"value": entry["value"]}).status_code == 200
    assert client.get("/api/providers/claude/config?reveal=1").get_json()["env"][
        "ANTHROPIC_API_KEY"] == "sk-secret"


def test_a_mask_with_nothing_stored_behind_it_is_400(client):
    r = client.put("/api/providers/claude/config", json={"env": {"TOKEN": "***"}})
    assert (r.status_code, r.get_json()) == (400, {
        "error": "value.env.TOKEN is '***' (keep the stored value) but no value is stored "
                 "for it"})
