"""A fake orchestrator for the tests: it polls the relay's command bus over real
HTTP, reports results, and registers the agents it "spawns"."""
import http.client
import json


class FakeOrchestrator:
    def __init__(self, port: int, orchestrator_id: str = "h1", base_dir: str = "/srv/app",
                 api_url: str | None = None):
        self.port = port
        self.id = orchestrator_id
        self.agent_id = f"orchestrator-{orchestrator_id}"
        body = {"id": orchestrator_id, "hostname": "fake", "providers": ["claude", "codex"],
                "baseDir": base_dir}
        if api_url:
            body["apiUrl"] = api_url
        status, self.record = self.call("POST", "/api/orchestrators", body)
        assert status in (200, 201), self.record

    def call(self, method: str, path: str, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            data = json.dumps(body) if body is not None else None
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            response = conn.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def heartbeat(self):
        assert self.call("POST", f"/api/orchestrators/{self.id}/heartbeat")[0] == 200

    def poll(self) -> list[dict]:
        status, commands = self.call("GET", f"/api/commands?target={self.agent_id}&status=pending")
        assert status == 200, commands
        return commands

    def finish(self, command: dict, status: str = "succeeded", **fields) -> dict:
        """Accept, run and finish a command the way a real orchestrator reports it."""
        for step in ("accepted", "running"):
            assert self.call("PATCH", f"/api/commands/{command['id']}", {"status": step})[0] == 200
        code, done = self.call("PATCH", f"/api/commands/{command['id']}",
                               {"status": status, **fields})
        assert code == 200, done
        return done

    def register(self, command: dict, agent_id: str) -> dict:
        """The spawned agent registers, naming its policy and spawn request."""
        params = command["params"]
        status, agent = self.call("POST", "/api/agents", {
            "id": agent_id, "meta": {"policyName": params["policyName"],
                                     "spawnRequestId": params["spawnRequestId"],
                                     "orchestratorId": self.id}})
        assert status in (200, 201), agent
        return agent
