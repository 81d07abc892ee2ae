"""Provider config (claude, codex) in the config store, env masked."""
import pytest

DEFAULTS = {"model": None, "effort": None, "args": [], "env": {}, "version": 0,
            "updatedBy": None, "updatedAt": None}


def test_defaults_before_anything_is_set(client):
    assert client.get("/api/providers/config").get_json() == [
        {"provider": "claude", **DEFAULTS}, {"provider": "codex", **DEFAULTS}]
    assert client.get("/api/providers/codex/config").get_json() == {"provider": "codex", **DEFAULTS}


def test_put_masks_env_unless_revealed(client, clock):
    body = {"model": "opus", "effort": "high", "args": ["--verbose"],
            "env": {"ANTHROPIC_API_KEY": "sk-secret", "HTTP_PROXY": "http://p"}, "updatedBy": "ann"}
    r = client.put("/api/providers/claude/config", json=body)
    assert r.status_code == 201
    masked = {"provider": "claude", "model": "opus", "effort": "high", "args": ["--verbose"],
              "env": {"ANTHROPIC_API_KEY": "***", "HTTP_PROXY": "***"}, "version": 1,
              "updatedBy": "ann", "updatedAt": clock()}
    assert r.get_json() == masked
    assert client.get("/api/providers/claude/config").get_json() == masked
    assert client.get("/api/providers/claude/config?reveal=0").get_json() == masked
    revealed = client.get("/api/providers/claude/config?reveal=1").get_json()
    assert revealed["env"] == {"ANTHROPIC_API_KEY": "sk-secret", "HTTP_PROXY": "http://p"}
    listed = client.get("/api/providers/config").get_json()
    assert listed[0] == masked and listed[1]["version"] == 0
    assert client.get("/api/providers/config?reveal=true").get_json()[0] == revealed
    # The config store answers never show the secret either.
    assert client.get("/api/config/provider-config/claude").get_json()["value"]["env"] == {
        "ANTHROPIC_API_KEY": "***", "HTTP_PROXY": "***"}
    assert client.get("/api/config/provider-config").get_json()[0]["value"]["env"][
        "ANTHROPIC_API_KEY"] == "***"
    history = client.get("/api/config/provider-config/claude/history").get_json()
    assert [h["value"]["env"]["ANTHROPIC_API_KEY"] for h in history] == ["***"]
    r = client.put("/api/config/provider-config/claude", json={"value": {"env": {"K": "v"}}})
    assert r.get_json()["value"] == {"args": [], "env": {"K": "***"}}


def test_put_replaces_keeps_history_and_versions(client, clock):
    assert client.put("/api/providers/codex/config", json={"model": "o4"}).status_code == 201
    clock.advance(1)
    r = client.put("/api/providers/codex/config?reveal=1", json={"env": {"K": "v"}, "updatedBy": "bo"})
    assert r.status_code == 200
    assert r.get_json() == {"provider": "codex", "model": None, "effort": None, "args": [],
                            "env": {"K": "v"}, "version": 2, "updatedBy": "bo",
                            "updatedAt": clock()}
    history = client.get("/api/config/provider-config/codex/history").get_json()
    assert [(h["version"], h["value"]) for h in history] == [
        (2, {"args": [], "env": {"K": "***"}}), (1, {"model": "o4", "args": [], "env": {}})]
    r = client.put("/api/providers/codex/config", json={"model": "x", "expectedVersion": 1})
    assert r.status_code == 409
    assert r.get_json() == {"error": "expectedVersion 1 is not the current version (2) of "
                                     "provider-config/codex"}
    assert client.put("/api/providers/codex/config",
                      json={"model": "x", "expectedVersion": 2}).status_code == 200
    changed = [e["data"] for e in client.get("/api/events/recent").get_json()
               if e["type"] == "config.changed"]
    assert changed == [{"namespace": "provider-config", "key": "codex", "version": v,
                        "action": "set"} for v in (1, 2, 3)]
    assert "K" not in str(changed)


def test_unknown_provider_is_404(client):
    for r in (client.get("/api/providers/gemini/config"),
              client.put("/api/providers/gemini/config", json={})):
        assert r.status_code == 404
        assert r.get_json() == {"error": "provider gemini not found: it must be one of claude, codex"}


@pytest.mark.parametrize("body,error", [
    ({"model": 3}, "model must be a string"),
    ({"model": "m" * 121}, "model must be at most 120 characters"),
    ({"effort": "e" * 41}, "effort must be at most 40 characters"),
    ({"args": "--x"}, "args must be a list of at most 100 strings of at most 500 characters"),
    ({"args": [1]}, "args must be a list of at most 100 strings of at most 500 characters"),
    ({"env": []}, "env must be an object of at most 100 string values (at most 4000 "
                  "characters each)"),
    ({"env": {"K": 1}}, "env must be an object of at most 100 string values (at most 4000 "
                        "characters each)"),
    ({"env": {f"K{i}": "v" for i in range(101)}}, "env must be an object of at most 100 string "
                                                   "values (at most 4000 characters each)"),
    ({"updatedBy": 5}, "updatedBy must be a string"),
    ({"expectedVersion": -1}, "expectedVersion must be an integer between 0 and 9007199254740992"),
])
def test_bad_input_names_the_field(client, body, error):
    r = client.put("/api/providers/claude/config", json=body)
    assert (r.status_code, r.get_json()) == (400, {"error": error})
    assert client.get("/api/providers/claude/config").get_json()["version"] == 0


def test_bad_reveal(client):
    r = client.get("/api/providers/claude/config?reveal=maybe")
    assert (r.status_code, r.get_json()) == (400, {"error": "reveal must be 1, 0, true or false"})
