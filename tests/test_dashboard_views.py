"""The dashboard's secondary panels (tasks, spawn policies, orchestrators and spawn,
commands, channels, pools, recipes) in a real browser against the real relay's
routes, and the page as a whole with hostile input and at three window sizes."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .browser import ARTIFACTS, Page, api, browser, expect, many  # noqa: F401 (browser: a fixture)


@pytest.fixture
def page(browser, live):
    api(live, "POST", "/api/agents", {"id": "dashboard", "kind": "user"})
    tab = Page(browser, live, me="dashboard")
    yield tab
    tab.close()


class Directories(BaseHTTPRequestHandler):
    """An orchestrator's own API, as far as the directory listing goes."""

    def do_GET(self):
        body = json.dumps({"path": "/srv", "parent": None, "directories": [
            {"name": "app", "path": "/srv/app"}, {"name": "web", "path": "/srv/web"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def orchestrator_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Directories)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def orchestrator(live, api_url=None, id_="o1"):
    body = {"id": id_, "hostname": "build-box", "providers": ["claude", "codex"], "baseDir": "/srv"}
    if api_url:
        body["apiUrl"] = api_url
    return api(live, "POST", "/api/orchestrators", body)


# --- tasks -----------------------------------------------------------------------

def test_tasks_by_status_with_claim_progress_and_resolve(page):
    live = page.live
    flaky = api(live, "POST", "/api/tasks", {"title": "Flaky login test", "severity": "high",
                                             "dedupeKey": "flaky", "target": "cap:build"})
    api(live, "POST", "/api/tasks", {"title": "Flaky login test", "dedupeKey": "flaky"})
    api(live, "POST", "/api/tasks", {"title": "Flaky login test", "dedupeKey": "flaky"})
    upgrade = api(live, "POST", "/api/tasks", {"title": "Upgrade waitress"})
    api(live, "POST", "/api/agents", {"id": "carol"})
    api(live, "POST", f"/api/tasks/{upgrade['id']}/claim", {"agentId": "carol"})
    api(live, "POST", f"/api/tasks/{upgrade['id']}/status", {"status": "in_progress",
                                                             "agentId": "carol"})
    old = api(live, "POST", "/api/tasks", {"title": "Old alert"})
    api(live, "POST", f"/api/tasks/{old['id']}/status", {"status": "resolved"})
    page.open()
    page.show("tasks")
    tasks = page.tab.locator("#tasks")
    expect(tasks.locator("h3")).to_have_text(["open (1)", "in progress (1)", "done (1)"])
    first = page.row("tasks", flaky["id"])
    expect(first).to_contain_text("Flaky login test")
    expect(first).to_contain_text("×3")
    expect(first).to_contain_text("for cap:build")
    expect(page.row("tasks", upgrade["id"])).to_contain_text("held by carol")
    first.get_by_role("button", name="Claim").click()
    expect(first).to_contain_text("held by dashboard")
    expect(tasks.locator("h3")).to_have_text(["claimed (1)", "in progress (1)", "done (1)"])
    first.get_by_role("button", name="Progress").click()
    dialog = page.tab.locator("#ask")
    dialog.get_by_label("Note").fill("half way")
    dialog.get_by_label("Progress (0-100, optional)").fill("50")
    dialog.get_by_role("button", name="Add note").click()
    expect(page.tab.locator("#notice")).to_contain_text(f"note added to task #{flaky['id']}")
    notes = [(e["note"], e["agentId"]) for e in api(live, "GET", f"/api/tasks/{flaky['id']}")["events"]
             if e["note"] == "half way"]
    assert notes == [("half way", "dashboard")]
    # Only the holder may resolve: carol's task offers no Resolve here.
    expect(page.row("tasks", upgrade["id"]).get_by_role("button", name="Resolve")).to_have_count(0)
    first.get_by_role("button", name="Resolve").click()
    expect(tasks.locator("h3")).to_have_text(["in progress (1)", "done (2)"])
    assert api(live, "GET", f"/api/tasks/{flaky['id']}")["status"] == "resolved"
    # Live: a task created elsewhere, and the count on the tab.
    new = api(live, "POST", "/api/tasks", {"title": "New alert", "severity": "critical"})
    expect(page.row("tasks", new["id"])).to_contain_text("New alert")
    expect(tasks.locator("h3")).to_have_text(["open (1)", "in progress (1)", "done (2)"])
    expect(page.tab.locator("[data-count-for=tasks]")).to_have_text("2")


def test_an_open_task_older_than_the_newest_200_is_shown_and_counted(page):
    """The panel once read the newest 200 tasks of any status: an older open task
    vanished and the counts were of what was loaded, not of the relay."""
    live = page.live
    old = api(live, "POST", "/api/tasks", {"title": "The old open one"})
    done = many(live, "POST", "/api/tasks", [{"title": f"done {i}"} for i in range(230)])
    many(live, "POST", lambda b: f"/api/tasks/{b['id']}/status",
         [{"id": t["id"], "status": "resolved"} for t in done])
    page.open()
    page.show("tasks")
    tasks = page.tab.locator("#tasks")
    expect(tasks.locator("h3")).to_have_text(["open (1)", "done (230)"])
    expect(page.row("tasks", old["id"])).to_contain_text("The old open one")
    expect(page.tab.locator("[data-count-for=tasks]")).to_have_text("1")
    done_rows = tasks.locator("[data-group=done] li.task")
    expect(done_rows).to_have_count(20)
    expect(tasks.locator("[data-group=done] .more")).to_contain_text("showing 20 of 230")
    tasks.get_by_role("button", name="Show older done tasks").click()
    expect(done_rows).to_have_count(120)


# --- commands --------------------------------------------------------------------

def test_the_commands_panel_shows_the_newest_of_more_than_500(page):
    """It once asked for 500 commands oldest first: past 500 the newest never showed."""
    live = page.live
    made = many(live, "POST", "/api/commands",
                [{"type": "x.probe", "target": "orchestrator-o1", "params": {"n": i}}
                 for i in range(510)])
    page.open()
    page.show("commands")
    rows = page.tab.locator("#commands [data-list] > li")
    expect(rows).to_have_count(100)
    expect(rows.first).to_have_attribute("data-key", made[-1]["id"])
    expect(rows.last).to_have_attribute("data-key", made[-100]["id"])
    # Live: one created, one moved.
    new = api(live, "POST", "/api/commands", {"type": "prompt.inject", "target": "orchestrator-o1"})
    expect(rows.first).to_have_attribute("data-key", new["id"])
    expect(rows.first).to_contain_text("prompt.inject")
    api(live, "PATCH", f"/api/commands/{new['id']}", {"status": "failed",
                                                      "error": "tmux session not found"})
    expect(rows.first).to_contain_text("failed")
    expect(rows.first).to_contain_text("tmux session not found")
    expect(rows).to_have_count(100)


# --- spawn policies, orchestrators, agents they manage ------------------------------

def test_spawn_policies_show_state_and_act(page):
    live = page.live
    orchestrator(live)
    api(live, "PUT", "/api/spawn-policy/reviewer", {
        "orchestratorId": "o1", "provider": "claude", "cwd": "/srv", "mode": "manual"})
    page.open()
    page.show("policies")
    row = page.row("policies", "reviewer")
    expect(row).to_contain_text("stopped")
    expect(row).to_contain_text("claude on o1")
    row.get_by_role("button", name="Start policy reviewer", exact=True).click()
    expect(row).to_contain_text("starting")
    expect(page.tab.locator("#notice")).to_contain_text("start of policy reviewer")
    page.show("commands")
    expect(page.tab.locator("#commands [data-list] > li").first).to_contain_text("agent.spawn")
    page.show("policies")
    row.get_by_role("button", name="Stop policy reviewer", exact=True).click()
    expect(row).to_contain_text("stopping")
    expect(page.tab.locator("#addresses option[value='policy:reviewer']")).to_have_count(1)


def test_a_failing_action_is_shown_in_words(page):
    live = page.live
    orchestrator(live)
    api(live, "PUT", "/api/spawn-policy/reviewer", {
        "orchestratorId": "o1", "provider": "claude", "cwd": "/srv", "mode": "manual"})
    api(live, "DELETE", "/api/orchestrators/o1")
    page.open()
    page.show("policies")
    page.row("policies", "reviewer").get_by_role("button", name="Start policy reviewer",
                                                  exact=True).click()
    status, answer = live.request("POST", "/api/spawn-policy/reviewer/start", {})
    assert status >= 400
    notice = page.tab.locator("#notice")
    expect(notice).to_have_class("notice is-error")
    expect(notice.locator("span")).to_have_text(answer["error"])


def test_orchestrators_with_managed_agents_and_the_spawn_form(page, orchestrator_api):
    live = page.live
    orchestrator(live, orchestrator_api)
    api(live, "PATCH", "/api/orchestrators/o1/agents", {"agents": [
        {"sessionName": "rev-1", "provider": "claude", "status": "running", "agentId": "reviewer-1",
         "label": "reviewer"}]})
    page.open()
    page.show("orchestrators")
    row = page.row("orchestrators", "o1")
    expect(row).to_contain_text("build-box")
    expect(row).to_contain_text("reviewer")
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
    expect(page.tab.locator("#notice")).to_contain_text("spawn asked of o1")
    spawned = api(live, "GET", "/api/commands?type=agent.spawn")
    assert len(spawned) == 1
    params = spawned[0]["params"]
    assert (params["provider"], params["label"], params["prompt"]) == ("codex", "helper",
                                                                       "tidy the tests")
    api(live, "DELETE", "/api/orchestrators/o1")
    expect(row).to_have_count(0)
    expect(form).to_be_hidden()


def test_restart_and_shut_down_only_for_agents_an_orchestrator_manages(page):
    live = page.live
    orchestrator(live)
    api(live, "POST", "/api/agents", {"id": "reviewer-1", "meta": {"orchestratorId": "o1"}})
    api(live, "POST", "/api/agents", {"id": "lost", "meta": {"orchestratorId": "gone"}})
    api(live, "POST", "/api/agents", {"id": "free"})
    page.open()
    expect(page.row("agents", "free").get_by_role("button")).to_have_count(0)
    expect(page.row("agents", "lost").get_by_role("button")).to_have_count(0)
    row = page.row("agents", "reviewer-1")
    expect(row).to_contain_text("managed by o1")
    row.get_by_role("button", name="Restart").click()
    expect(page.tab.locator("#notice")).to_contain_text("restart of reviewer-1 queued")
    row.get_by_role("button", name="Shut down").click()
    expect(page.tab.locator("#notice")).to_contain_text("shutdown of reviewer-1 queued")
    types = [c["type"] for c in api(live, "GET", "/api/commands?target=orchestrator-o1")]
    assert types == ["agent.restart", "agent.shutdown"]
    # Its orchestrator gone, the buttons go too.
    api(live, "DELETE", "/api/orchestrators/o1")
    expect(row.get_by_role("button")).to_have_count(0)


# --- channels, pools, recipes -----------------------------------------------------

def test_channels_and_pools(page):
    live = page.live
    api(live, "POST", "/api/agents", {"id": "builder-1", "tags": ["build", "oncall"]})
    api(live, "PUT", "/api/pools/builders", {"selector": {"tags": ["build"]},
                                             "strategy": "round-robin"})
    api(live, "PUT", "/api/channels/slack:ops/bindings", {"bindings": [
        {"target": {"type": "tag", "id": "oncall"}, "direction": "both", "priority": 10},
        {"target": {"type": "pool", "id": "nobody-here"}, "direction": "inbound"}]})
    api(live, "POST", "/api/channels/slack:ops/events", {"body": "hello"})
    page.open()
    page.show("channels")
    channel = page.row("channels", "slack:ops")
    expect(channel).to_contain_text("1 message")
    expect(channel).not_to_contain_text("1 messages")
    expect(channel).to_contain_text("tag:oncall")
    expect(channel).to_contain_text("1 online")
    expect(channel.locator(".badge.is-unhealthy")).to_have_count(1)
    api(live, "POST", "/api/channels/slack:ops/events", {"body": "again"})
    expect(channel).to_contain_text("2 messages")
    page.show("pools")
    pool = page.row("pools", "builders")
    expect(pool).to_contain_text("round-robin")
    expect(pool).to_contain_text("1 online of 1")
    expect(pool.locator(".chip.is-online")).to_have_text("builder-1")
    api(live, "PATCH", "/api/agents/builder-1", {"status": "offline"})
    expect(pool.locator(".chip.is-offline")).to_have_text("builder-1")


def test_a_recipe_starts_with_its_vars(page):
    live = page.live
    orchestrator(live)
    page.open()
    page.show("recipes")
    recipe = page.row("recipes", "debug")
    expect(recipe).to_contain_text("investigator (claude)")
    recipe.get_by_role("button", name="Start").click()
    dialog = page.tab.locator("#ask")
    expect(dialog.get_by_label("Orchestrator")).to_have_value("o1")
    # A var without a default is required; one with a default shows it.
    expect(dialog.get_by_label("bug")).to_have_attribute("required", "")
    expect(dialog.get_by_label("lead")).to_have_value("broadcast")
    dialog.get_by_label("Directory").fill("/srv/app")
    dialog.get_by_label("bug").fill("login fails after 5 tries")
    dialog.get_by_role("button", name="Start").click()
    expect(page.tab.locator("#notice")).to_contain_text("recipe debug started (instance")
    instance = api(live, "GET", "/api/recipe-instances")[0]
    assert (instance["recipe"], instance["cwd"], instance["vars"]) == (
        "debug", "/srv/app", {"bug": "login fails after 5 tries", "lead": "broadcast"})
    prompts = [c["params"]["prompt"] for c in api(live, "GET", "/api/commands?type=agent.spawn")]
    assert all("login fails after 5 tries" in p for p in prompts) and len(prompts) == 2


# --- the whole page: hostile input, a realistic team, three window sizes ------------------

HOSTILE = "<img src=x onerror=window.pwned=1>"
LONG = "W" * 240


def team(live, orchestrator_api):
    """12 agents, 300 messages with threads, claims and acks, tasks, an orchestrator,
    a policy, a pool and a channel; and the hostile fields #24 lists."""
    orchestrator(live, orchestrator_api)
    agents = [{"id": f"agent-{i:02d}", "label": ["Reviewer", "Builder", "Fixer"][i % 3],
               "tags": [["py", "backend"], ["build"], ["web", "oncall"]][i % 3],
               "capabilities": [["review"], ["build", "deploy"], ["code"]][i % 3],
               "status": ["online", "busy", "idle", "stale"][i % 4]} for i in range(11)]
    agents.append({"id": LONG, "label": "L" * 120, "tags": ["T" * 120],
                   "meta": {"orchestratorId": "o1"}})
    many(live, "POST", "/api/agents", agents)
    api(live, "PUT", "/api/pools/builders", {"selector": {"tags": ["build"]}})
    api(live, "PUT", "/api/channels/slack:ops/bindings", {"bindings": [
        {"target": {"type": "tag", "id": "oncall"}, "direction": "both"}]})
    api(live, "PUT", "/api/spawn-policy/reviewer", {
        "orchestratorId": "o1", "provider": "claude", "cwd": "/srv", "mode": "manual"})
    bodies = []
    for i in range(296):
        body = {"from": f"agent-{i % 11:02d}", "to": ["broadcast", "tag:build", "agent-03"][i % 3],
                "body": f"message {i}: " + "lorem ipsum " * (i % 7) + ("\nsecond line" if i % 5 else "")}
        if i % 10 == 9:
            body["replyTo"] = i - 5
        if i % 17 == 0:
            body["claimable"] = True
        bodies.append(body)
    many(live, "POST", "/api/messages", bodies)
    api(live, "POST", "/api/messages/1/claim", {"agentId": "agent-01"})
    hostile = api(live, "POST", "/api/messages", {
        "from": LONG, "to": "broadcast", "subject": LONG,
        "body": HOSTILE + "\n" + LONG + "\n```\n" + LONG + "\n```"})
    freeze = api(live, "POST", "/api/messages", {"from": "lead", "to": "broadcast",
                                                 "ackRequired": True,
                                                 "subject": "Deploy freeze at 17:00",
                                                 "body": "Ack when your branch is merged."})
    api(live, "POST", "/api/channels/slack:ops/events", {"from": "slack:ops",
                                                         "body": "prod deploy is stuck " + HOSTILE})
    api(live, "POST", f"/api/messages/{freeze['id']}/ack", {"agentId": "agent-01"})
    api(live, "POST", "/api/tasks", {"title": LONG, "severity": "critical", "target": LONG})
    api(live, "POST", "/api/tasks", {"title": "Flaky login test " + HOSTILE, "severity": "high"})
    api(live, "POST", "/api/tasks", {"title": "Upgrade waitress"})
    api(live, "POST", "/api/commands", {"type": "x." + "c" * 100, "target": LONG})
    return hostile


@pytest.mark.parametrize("width,height,name", [(1280, 800, "1280x800"), (1920, 1080, "1920x1080"),
                                               (420, 900, "420x900")])
def test_a_team_at_three_sizes_nothing_overflows_and_hostile_fields_stay_text(
        browser, live, orchestrator_api, width, height, name):
    hostile = team(live, orchestrator_api)
    api(live, "POST", "/api/agents", {"id": "dana", "kind": "user"})
    page = Page(browser, live, width=width, height=height, me="dana")
    try:
        page.open()
        expect(page.tab.locator("#messages [data-list] > li")).to_have_count(100)
        expect(page.tab.locator("#agents [data-count]")).to_have_text("14")  # 12, o1, dana
        expect(page.tab.locator("#messages .receipts [data-state=acked]")).to_have_text(
            "acked: agent-01")
        ARTIFACTS.mkdir(exist_ok=True)
        page.tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"))
        for tab in ("tasks", "commands", "orchestrators", "channels", "policies", "pools",
                    "recipes", "activity"):
            page.show(tab)
            assert page.overflowing() == [], tab
        page.show("tasks")
        expect(page.row("tasks", 1)).to_contain_text(LONG)
        assert page.overflowing() == []
        page.tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-tasks.png"), full_page=True)
        page.row("messages", hostile["id"]).get_by_role("button", name="Open").click()
        expect(page.tab.locator("#thread")).to_contain_text(HOSTILE)
        assert page.overflowing() == []
        page.tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-message.png"))
        page.tab.keyboard.press("Escape")
        page.tab.locator("#compose [name=body]").click()
        page.tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-compose.png"))
        if name == "1280x800":
            page.tab.emulate_media(color_scheme="dark")
            page.tab.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-dark.png"))
        assert page.tab.evaluate("window.pwned") is None
        assert page.tab.evaluate("document.querySelectorAll('main img, dialog img').length") == 0
        assert page.tab.evaluate("document.documentElement.scrollWidth") <= width
        assert page.errors == []
    finally:
        page.close()
