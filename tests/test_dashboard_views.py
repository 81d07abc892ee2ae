"""The dashboard's views of tasks, channels, pools, orchestrators, spawn policies,
commands and recipes, before those routes exist on this branch.

The browser answers those routes itself (Playwright request routing) with
bodies shaped as API.md §4-9 says, and adds them to the OpenAPI document the
page reads; everything else, and the event stream, is the real relay. Events
for these resources are committed through the relay's own committer, so they
reach the page over the real /api/events. Once the routes are merged, the
same views run against them (test_dashboard_browser.py covers a real start).
"""
import json
import re
import time

import pytest

from relay.server.events import Event

from .browser import ARTIFACTS, Page, api, browser, expect  # noqa: F401 (browser: a fixture)

NOW = int(time.time() * 1000)


def task(id_, title, status="open", **fields):
    return {"id": id_, "title": title, "body": "", "severity": "medium", "status": status,
            "source": "ci", "dedupeKey": None, "target": None, "claimedBy": None,
            "claimExpiresAt": None, "callbackUrl": None, "payload": {}, "meta": {}, "result": {},
            "occurrences": 1, "createdAt": NOW, "updatedAt": NOW, "resolvedAt": None, **fields}


def command(id_, type_="agent.spawn", status="pending", **fields):
    return {"id": id_, "type": type_, "source": "dashboard", "target": "orchestrator-o1",
            "correlationId": None, "params": {}, "status": status, "result": {}, "error": None,
            "createdAt": NOW, "updatedAt": NOW, "expiresAt": NOW + 600_000, **fields}


POLICY = {"name": "reviewer", "orchestratorId": "o1", "provider": "claude", "cwd": "/srv/app",
          "tags": [], "capabilities": [], "permissionMode": "guarded", "providerArgs": [],
          "mode": "always", "enabled": True}
STATE = {"policyName": "reviewer", "status": "backoff", "agentId": None, "orchestratorId": "o1",
         "provider": "claude", "restartCount": 3, "consecutiveFailures": 2,
         "nextAttemptAt": NOW + 30_000, "lastError": "spawn timed out after 120 s",
         "updatedAt": NOW}
ORCHESTRATOR = {"id": "o1", "hostname": "build-box", "agentId": "orchestrator-o1",
                "providers": ["claude", "codex"], "baseDir": "/srv", "apiUrl": "http://127.0.0.1:9",
                "version": "1.0", "capabilities": [], "status": "online", "meta": {},
                "managedAgents": [{"sessionName": "rev-1", "provider": "claude", "status": "running",
                                   "agentId": "reviewer-1", "label": "reviewer",
                                   "policyName": "reviewer"}],
                "lastHeartbeat": NOW, "createdAt": NOW}
CHANNEL = {"id": "slack:ops", "messageCount": 12, "lastActivityAt": NOW,
           "bindings": [{"id": "b1", "channel": "slack:ops", "target": {"type": "tag", "id": "oncall"},
                         "mode": "exclusive", "direction": "both", "priority": 10},
                        {"id": "b2", "channel": "slack:ops", "target": {"type": "pool", "id": "builders"},
                         "mode": "exclusive", "direction": "inbound", "priority": 100}],
           "health": [{"bindingId": "b1", "healthy": True, "onlineAgents": 2},
                      {"bindingId": "b2", "healthy": False, "onlineAgents": 0}]}
POOL = {"name": "builders", "selector": {"tags": ["build"], "capabilities": [], "labels": [],
                                         "agentIds": []}, "strategy": "round-robin"}
RECIPE = {"name": "code-review", "description": "A reviewer and a fixer.",
          "roles": [{"role": "reviewer", "provider": "claude", "label": "rev", "tags": [],
                     "capabilities": [], "prompt": "review"},
                    {"role": "fixer", "provider": "codex", "label": "fix", "tags": [],
                     "capabilities": [], "prompt": "fix"}]}

# (method, path pattern) -> (status, answer); answers may be functions of the request body.
ROUTES = {
    ("GET", r"/api/tasks"): (200, [task(1, "Flaky login test", severity="high", occurrences=3,
                                        target="cap:build"),
                                   task(2, "Upgrade waitress", "in_progress", claimedBy="carol"),
                                   task(3, "Old alert", "resolved")]),
    ("GET", r"/api/tasks/\d+"): (200, task(1, "Flaky login test", severity="high")),
    ("POST", r"/api/tasks/1/claim"): (200, task(1, "Flaky login test", "claimed",
                                                claimedBy="dashboard")),
    ("POST", r"/api/tasks/1/events"): (201, {"id": 9, "type": "progress"}),
    ("POST", r"/api/tasks/2/status"): (200, task(2, "Upgrade waitress", "resolved")),
    ("GET", r"/api/spawn-policies"): (200, [{"policy": POLICY, "state": STATE}]),
    ("POST", r"/api/spawn-policy/reviewer/(start|stop|restart)"):
        (202, {"ok": True, "command": command("cmd_start")}),
    ("GET", r"/api/orchestrators"): (200, [ORCHESTRATOR]),
    ("GET", r"/api/orchestrators/o1/directories"):
        (200, {"path": "/srv", "parent": None, "directories": [{"name": "app", "path": "/srv/app"},
                                                               {"name": "web", "path": "/srv/web"}]}),
    ("POST", r"/api/orchestrators/o1/spawn"): (202, {"command": command("cmd_spawn")}),
    ("GET", r"/api/commands"): (200, [command("cmd_old", "agent.shutdown", "succeeded",
                                              createdAt=NOW - 5000),
                                      command("cmd_bad", "agent.restart", "failed",
                                              error="tmux session not found")]),
    ("GET", r"/api/channels"): (200, [CHANNEL]),
    ("GET", r"/api/pools"): (200, [POOL]),
    ("GET", r"/api/pools/builders"): (200, {**POOL, "online": 1, "members": []}),
    ("GET", r"/api/recipes"): (200, [RECIPE]),
    ("POST", r"/api/recipes/code-review/start"): (202, {"instance": {"id": "ri_1"}}),
    ("POST", r"/api/agents/[^/]+/actions"): (202, {"command": command("cmd_act", "agent.restart")}),
}
DOCUMENTED = ["GET /api/tasks", "GET /api/spawn-policies", "GET /api/orchestrators",
              "GET /api/commands", "GET /api/channels", "GET /api/pools", "GET /api/recipes",
              "POST /api/agents/{agent_id}/actions"]


class FakeRoutes:
    """Answers the routes above in the browser and remembers what was asked."""

    def __init__(self, tab):
        self.asked = []
        self.routes = dict(ROUTES)
        tab.route(re.compile(r".*/api/spec$"), self.spec)
        tab.route(lambda url: self.match("GET", url) is not None
                  or self.match("POST", url) is not None, self.answer)

    @staticmethod
    def path(url):
        return "/" + url.split("/", 3)[3].split("?")[0]

    def match(self, method, url):
        for (m, pattern), answer in self.routes.items():
            if m == method and re.fullmatch(pattern, self.path(url)):
                return answer
        return None

    def spec(self, route):
        document = route.fetch().json()
        for entry in DOCUMENTED:
            method, path = entry.split(" ")
            document["paths"].setdefault(path, {})[method.lower()] = {"summary": "faked"}
        route.fulfill(json=document)

    def answer(self, route):
        request = route.request
        found = self.match(request.method, request.url)
        if found is None:
            return route.continue_()
        body = json.loads(request.post_data) if request.post_data else None
        self.asked.append((request.method, request.url.split("/", 3)[3], body))
        status, answer = found
        route.fulfill(status=status, json=answer)

    def posted(self, path_end):
        return [body for method, url, body in self.asked
                if method == "POST" and ("/" + url).endswith(path_end)]


@pytest.fixture
def page(browser, live):
    tab = Page(browser, live)
    tab.fake = FakeRoutes(tab.tab)
    yield tab
    tab.close()


def publish(live, *events):
    """Events for resources this branch has no routes for, through the real committer."""
    live.relay.committer.commit(lambda conn: (None, list(events)))


def wait_for(page, check):
    # Waiting inside Playwright lets it run the route handlers meanwhile.
    for _ in range(100):
        if check():
            return
        page.tab.wait_for_timeout(50)
    raise AssertionError(f"the page never made that call; it made {page.fake.asked}")


def test_tasks_by_status_with_claim_progress_and_resolve(page):
    page.open()
    tasks = page.tab.locator("#tasks")
    expect(tasks.locator("h3")).to_have_text(["open (1)", "in progress (1)", "done (1)"])
    first = page.row("tasks", 1)
    expect(first).to_contain_text("Flaky login test")
    expect(first).to_contain_text("×3")
    expect(first).to_contain_text("for cap:build")
    expect(page.row("tasks", 2)).to_contain_text("held by carol")
    first.get_by_role("button", name="Claim").click()
    wait_for(page, lambda: page.fake.posted("/api/tasks/1/claim") == [{"agentId": "dashboard"}])
    first.get_by_role("button", name="Progress").click()
    dialog = page.tab.locator("#ask")
    dialog.get_by_label("Note").fill("half way")
    dialog.get_by_label("Progress (0-100, optional)").fill("50")
    dialog.get_by_role("button", name="Add note").click()
    wait_for(page, lambda: page.fake.posted("/api/tasks/1/events") == [
        {"note": "half way", "agentId": "dashboard", "progress": 50}])
    page.row("tasks", 2).get_by_role("button", name="Resolve").click()
    wait_for(page, lambda: page.fake.posted("/api/tasks/2/status") == [
        {"status": "resolved", "agentId": "dashboard"}])
    # Live: a task created and one moved, from the stream.
    publish(page.live, Event("task.created", "4", task(4, "New alert", severity="critical")),
            Event("task.updated", "1", task(1, "Flaky login test", "blocked")))
    expect(page.row("tasks", 4)).to_contain_text("New alert")
    expect(tasks.locator("h3")).to_have_text(["open (1)", "in progress (1)", "blocked (1)",
                                              "done (1)"])
    expect(tasks.locator("[data-count]")).to_have_text("3")


def test_spawn_policies_show_state_and_act(page):
    page.open()
    row = page.row("policies", "reviewer")
    expect(row).to_contain_text("backoff")
    expect(row).to_contain_text("restarts 3")
    expect(row).to_contain_text("next attempt")
    expect(row).to_contain_text("last error: spawn timed out after 120 s")
    for action in ("Start", "Stop", "Restart"):
        row.get_by_role("button", name=f"{action} policy reviewer", exact=True).click()
    wait_for(page, lambda: [u for m, u, _ in page.fake.asked if "spawn-policy" in u] == [
        "api/spawn-policy/reviewer/start", "api/spawn-policy/reviewer/stop",
        "api/spawn-policy/reviewer/restart"])
    expect(page.row("commands", "cmd_start")).to_contain_text("agent.spawn")
    publish(page.live, Event("policy.state.changed", "reviewer",
                             {**STATE, "status": "running", "agentId": "reviewer-1",
                              "lastError": None}))
    expect(row).to_contain_text("running")
    expect(row).to_contain_text("agent reviewer-1")
    expect(row).not_to_contain_text("last error")
    # The policy is an address in the To field's suggestions.
    expect(page.tab.locator("#addresses option[value='policy:reviewer']")).to_have_count(1)


def test_orchestrators_with_managed_agents_and_the_spawn_form(page):
    page.open()
    row = page.row("orchestrators", "o1")
    expect(row).to_contain_text("build-box")
    expect(row).to_contain_text("reviewer")
    expect(row).to_contain_text("policy reviewer")
    form = page.tab.locator("#spawn")
    expect(form).to_be_visible()
    form.get_by_label("Provider").select_option("codex")
    form.get_by_role("button", name="Browse").click()
    form.get_by_role("button", name="app").click()
    expect(form.get_by_label("Directory")).to_have_value("/srv/app")
    form.get_by_label("Label").fill("helper")
    form.get_by_label("Approval").select_option("read-only")
    form.get_by_label("Prompt").fill("tidy the tests")
    form.get_by_role("button", name="Spawn").click()
    wait_for(page, lambda: page.fake.posted("/api/orchestrators/o1/spawn") == [
        {"provider": "codex", "approvalMode": "read-only", "cwd": "/srv/app", "label": "helper",
         "prompt": "tidy the tests"}])
    expect(page.tab.locator("#notice")).to_contain_text("cmd_spawn")
    publish(page.live, Event("orchestrator.status", "o1", {**ORCHESTRATOR, "status": "stale"}))
    expect(row).to_contain_text("stale")
    publish(page.live, Event("orchestrator.removed", "o1", {"orchestratorId": "o1"}))
    expect(row).to_have_count(0)
    expect(form).to_be_hidden()


def test_commands_newest_first_and_live(page):
    page.open()
    rows = page.tab.locator("#commands [data-list] > li")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("tmux session not found")
    publish(page.live, Event("command.created", "cmd_new", command("cmd_new", "prompt.inject",
                                                                   createdAt=NOW + 1000)))
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("prompt.inject")
    publish(page.live, Event("command.updated", "cmd_new",
                             command("cmd_new", "prompt.inject", "succeeded", createdAt=NOW + 1000)))
    expect(rows.first).to_contain_text("succeeded")


def test_channels_pools_and_recipes(page):
    api(page.live, "POST", "/api/agents", {"id": "builder-1", "tags": ["build"]})
    page.fake.routes[("GET", r"/api/pools/builders")] = (200, {**POOL, "online": 1, "members": [
        api(page.live, "GET", "/api/agents/builder-1")]})
    page.open()
    channel = page.row("channels", "slack:ops")
    expect(channel).to_contain_text("12 messages")
    expect(channel).to_contain_text("tag:oncall")
    expect(channel).to_contain_text("2 online")
    expect(channel.locator(".badge.is-unhealthy")).to_have_count(1)
    pool = page.row("pools", "builders")
    expect(pool).to_contain_text("round-robin")
    expect(pool).to_contain_text("1 online of 1")
    expect(pool.locator(".chip.is-online")).to_have_text("builder-1")
    # A member going offline shows at once (the agent's own event).
    api(page.live, "PATCH", "/api/agents/builder-1", {"status": "offline"})
    expect(pool.locator(".chip.is-offline")).to_have_text("builder-1")
    # channel.activity carries no channel: the list is read again.
    before = len([u for m, u, _ in page.fake.asked if u == "api/channels"])
    publish(page.live, Event("channel.activity", "slack:ops", {"channel": "slack:ops"}))
    wait_for(page, lambda: len([u for m, u, _ in page.fake.asked if u == "api/channels"]) == before + 1)
    recipe = page.row("recipes", "code-review")
    expect(recipe).to_contain_text("reviewer (claude)")
    recipe.get_by_role("button", name="Start").click()
    dialog = page.tab.locator("#ask")
    expect(dialog.get_by_label("Orchestrator")).to_have_value("o1")
    dialog.get_by_label("Directory").fill("/srv/app")
    dialog.get_by_role("button", name="Start").click()
    wait_for(page, lambda: page.fake.posted("/api/recipes/code-review/start") == [
        {"orchestratorId": "o1", "cwd": "/srv/app"}])
    expect(page.tab.locator("#notice")).to_contain_text("instance ri_1")


def test_managed_agents_can_be_restarted_and_shut_down(page):
    api(page.live, "POST", "/api/agents", {"id": "reviewer-1", "meta": {"orchestratorId": "o1"}})
    api(page.live, "POST", "/api/agents", {"id": "free"})
    page.open()
    expect(page.row("agents", "free").get_by_role("button")).to_have_count(0)
    row = page.row("agents", "reviewer-1")
    expect(row).to_contain_text("managed by o1")
    row.get_by_role("button", name="Restart").click()
    row.get_by_role("button", name="Shut down").click()
    wait_for(page, lambda: page.fake.posted("/api/agents/reviewer-1/actions") == [
        {"action": "restart", "reason": "from the dashboard"},
        {"action": "shutdown", "reason": "from the dashboard"}])
    expect(page.tab.locator("#notice")).to_contain_text("cmd_act")


def test_a_failing_action_is_shown_in_words(page):
    page.fake.routes[("POST", r"/api/spawn-policy/reviewer/(start|stop|restart)")] = (
        409, {"error": "orchestrator o1 is offline"})
    page.open()
    start = page.row("policies", "reviewer").get_by_role("button", name="Start policy reviewer",
                                                         exact=True)
    start.click()
    notice = page.tab.locator("#notice")
    expect(notice).to_have_text("orchestrator o1 is offline×")
    expect(notice).to_have_class(re.compile("is-error"))
    assert page.errors == [] or all("409" in e for e in page.errors)


def test_screenshots_with_every_resource(page):
    """For people to look at: every panel filled, light and dark."""
    api(page.live, "POST", "/api/agents", {"id": "reviewer-1", "label": "reviewer",
                                           "meta": {"orchestratorId": "o1"}, "status": "busy"})
    api(page.live, "POST", "/api/messages", {"from": "ci", "to": "cap:build", "claimable": True,
                                             "subject": "Nightly build", "body": "build main"})
    page.open()
    expect(page.row("recipes", "code-review")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.tab.screenshot(path=str(ARTIFACTS / "dashboard-all-wide.png"), full_page=True)
    page.tab.emulate_media(color_scheme="dark")
    page.tab.screenshot(path=str(ARTIFACTS / "dashboard-all-wide-dark.png"), full_page=True)
    page.tab.emulate_media(color_scheme="light")
    page.tab.set_viewport_size({"width": 420, "height": 900})
    page.tab.screenshot(path=str(ARTIFACTS / "dashboard-all-narrow.png"), full_page=True)
    assert page.tab.evaluate("document.documentElement.scrollWidth") <= 420
    assert page.errors == []


def test_a_relay_whose_database_cannot_be_read_says_so(page):
    page.fake.routes[("GET", r"/api/health")] = (503, {
        "status": "degraded", "version": "0.1.0",
        "db": {"ok": False, "path": "/x/relay.db", "error": "disk I/O error"}})
    page.open()
    expect(page.tab.locator('#health [data-k="version"]')).to_have_text("0.1.0 (degraded)")
    db = page.tab.locator('#health [data-k="db"]')
    expect(db).to_have_text("unreadable")
    expect(db).to_have_attribute("title", "disk I/O error")
