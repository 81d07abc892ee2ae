"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against
a real relay on a free port; without /usr/bin/chromium these tests skip, saying so."""
import time

import pytest

from relay.server import create_app
from relay.server.settings import Settings

from .browser import ARTIFACTS, Page, api, browser, expect  # noqa: F401 (browser: a fixture)
from .conftest import Live

@pytest.fixture
def page(browser, live):
    tab = Page(browser, live)
    yield tab
    tab.close()


def test_page_loads_clean_and_stays_on_its_origin(page):
    api(page.live, "POST", "/api/agents", {"id": "alice"})
    page.open()
    expect(page.row("agents", "alice")).to_be_visible()
    expect(page.tab.locator("#conn-text")).to_have_text("live")
    expect(page.tab.locator('#health [data-k="version"]')).not_to_have_text("–")
    assert page.errors == []
    foreign = [url for url in page.requests if not url.startswith(page.base + "/")]
    assert foreign == []
    # A resource this relay does not serve shows a note, not an error.
    served = api(page.live, "GET", "/api/spec")["paths"]
    for section, route in [("tasks", "/api/tasks"), ("channels", "/api/channels"),
                           ("pools", "/api/pools"), ("orchestrators", "/api/orchestrators"),
                           ("policies", "/api/spawn-policies"), ("commands", "/api/commands"),
                           ("recipes", "/api/recipes")]:
        note = page.tab.locator(f"#{section} [data-missing]")
        expect(note).to_be_visible() if route not in served else expect(note).to_be_hidden()
        expect(page.tab.locator(f"#{section} > [data-error]")).to_be_hidden()


def test_an_agent_registered_through_the_api_appears_without_a_reload(page):
    page.open()
    page.tab.evaluate("window.sameDocument = true")
    api(page.live, "POST", "/api/agents", {"id": "bob", "label": "Bob", "tags": ["backend"],
                                           "capabilities": ["review"], "status": "busy"})
    row = page.row("agents", "bob")
    expect(row).to_contain_text("Bob")
    expect(row).to_contain_text("busy")
    expect(row).to_contain_text("#backend")
    expect(row).to_contain_text("cap:review")
    api(page.live, "PATCH", "/api/agents/bob", {"status": "idle"})
    expect(row).to_contain_text("idle")
    # The filters narrow what is shown.
    page.tab.select_option("#agent-filter [name=status]", "online")
    expect(row).to_have_count(0)
    page.tab.select_option("#agent-filter [name=status]", "")
    page.tab.fill("#agent-filter [name=tag]", "backend")
    expect(row).to_have_count(1)
    api(page.live, "DELETE", "/api/agents/bob")
    expect(row).to_have_count(0)
    assert page.tab.evaluate("window.sameDocument") is True


def test_a_message_composed_in_the_page_reaches_the_stream_and_the_inbox(page):
    api(page.live, "POST", "/api/agents", {"id": "bob"})
    page.open()
    form = page.tab.locator("#compose")
    form.get_by_label("From").fill("carol")
    form.get_by_label("To").fill("bob")
    form.get_by_label("Subject").fill("Deploy")
    form.get_by_label("Message").fill("Ship it\non Friday")
    form.get_by_role("button", name="Send").click()
    inbox = []
    for _ in range(50):
        inbox = api(page.live, "GET", "/api/messages?for=bob")
        if inbox:
            break
        time.sleep(0.1)
    assert [(m["from"], m["subject"], m["body"]) for m in inbox] == [
        ("carol", "Deploy", "Ship it\non Friday")]
    row = page.row("messages", inbox[0]["id"])
    expect(row).to_contain_text("carol")
    expect(row).to_contain_text("bob")
    expect(row).to_contain_text("Deploy")
    expect(form.get_by_label("Message")).to_have_value("")
    # Replying from the page threads the answer under the first message.
    row.get_by_role("button", name="Reply").click()
    expect(form.get_by_label("To")).to_have_value("bob")
    form.get_by_label("Message").fill("done")
    form.get_by_role("button", name="Send").click()
    expect(page.tab.locator("#messages .stream > li")).to_have_count(2)
    reply = api(page.live, "GET", "/api/messages?for=bob")[-1]
    assert (reply["body"], reply["replyTo"], reply["threadId"]) == ("done", inbox[0]["id"],
                                                                    inbox[0]["id"])


def test_an_api_error_is_shown_in_words(page):
    page.open()
    form = page.tab.locator("#compose")
    form.get_by_label("To").fill("nobody")
    form.get_by_label("Message").fill("hello?")
    form.get_by_role("button", name="Send").click()
    error = form.locator("[data-error]")
    expect(error).to_be_visible()
    status, answer = page.live.request("POST", "/api/messages",
                                       {"from": "dashboard", "to": "nobody", "body": "x"})
    assert status == 404
    expect(error).to_have_text(answer["error"])


def test_a_claim_made_through_the_api_shows_on_the_message(page):
    api(page.live, "POST", "/api/agents", {"id": "worker", "capabilities": ["build"]})
    page.open()
    message = api(page.live, "POST", "/api/messages",
                  {"from": "ci", "to": "cap:build", "body": "build #7", "claimable": True})
    row = page.row("messages", message["id"])
    expect(row).to_contain_text("claimable, unclaimed")
    expect(row.get_by_role("button", name="Claim")).to_be_visible()
    api(page.live, "POST", f"/api/messages/{message['id']}/claim", {"agentId": "worker"})
    expect(row).to_contain_text("claimed by worker")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    api(page.live, "POST", f"/api/messages/{message['id']}/read", {"agentId": "worker"})
    expect(row).to_contain_text("read by worker")


def test_the_thread_view_follows_new_replies(page):
    root = api(page.live, "POST", "/api/messages", {"from": "a", "to": "broadcast", "body": "q"})
    page.open()
    page.row("messages", root["id"]).get_by_role("button", name="Thread").click()
    thread = page.tab.locator("#thread")
    expect(thread).to_be_visible()
    expect(thread.locator("[data-key]")).to_have_count(1)
    api(page.live, "POST", "/api/messages", {"from": "b", "to": "broadcast", "body": "answer",
                                             "replyTo": root["id"]})
    expect(thread.locator("[data-key]")).to_have_count(2)
    expect(thread.locator("[data-key]").last).to_contain_text("answer")
    page.tab.keyboard.press("Escape")
    expect(thread).to_be_hidden()


def test_rows_arriving_do_not_move_the_panels(page):
    page.open()
    boxes = lambda: [page.tab.locator(f"#{s}").bounding_box()
                     for s in ("agents", "messages", "activity")]
    before = boxes()
    for i in range(15):
        api(page.live, "POST", "/api/agents", {"id": f"agent-{i}"})
        api(page.live, "POST", "/api/messages", {"from": f"agent-{i}", "to": "broadcast",
                                                 "body": "x" * 300})
    expect(page.tab.locator("#messages .stream > li")).to_have_count(15)
    expect(page.tab.locator("#agents [data-list] > li")).to_have_count(15)
    assert boxes() == before


def test_every_control_has_a_name_and_is_reachable_by_keyboard(page):
    page.open()
    unnamed = page.tab.evaluate("""() => [...document.querySelectorAll(
        'main input, main select, main textarea, main button, header button')]
        .filter((el) => el.offsetParent !== null)
        .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                        && !el.textContent.trim())
        .map((el) => el.outerHTML)""")
    assert unnamed == []
    # Tab reaches the compose form's fields in order.
    page.tab.locator("#compose [name=from]").focus()
    page.tab.keyboard.press("Tab")
    assert page.tab.evaluate("document.activeElement.name") == "to"


def test_with_a_token_the_page_asks_once_then_works(browser, live_factory):
    live = live_factory(token="s3cret", keepalive=0.5)
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        dialog = tab.tab.locator("#token")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Token").fill("wrong")
        dialog.get_by_role("button", name="Use token").click()
        # A wrong token asks again, saying it was refused.
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("refused")
        dialog.get_by_label("Token").fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        tab.ready()
        expect(dialog).to_be_hidden()
        assert tab.tab.evaluate("localStorage.getItem('relay.token')") == "s3cret"
        # The stream carries the token too: a new agent shows up live.
        api(live, "POST", "/api/agents", {"id": "secret-agent"}, token="s3cret")
        expect(tab.row("agents", "secret-agent")).to_be_visible()
        # A reload uses the kept token without asking.
        tab.tab.reload()
        tab.ready()
        expect(dialog).to_be_hidden()
    finally:
        tab.close()


@pytest.mark.parametrize("seen", ["an event", "no event"])
def test_after_a_restart_the_page_reconnects_and_shows_what_happened_meanwhile(browser, tmp_path,
                                                                                seen):
    """Having seen an event, the page resumes from it (Last-Event-ID: the relay replays,
    no list is read again); having seen none, it has nothing to resume from and reads
    the lists again."""
    settings = Settings(db=str(tmp_path / "restart.db"), port=0, threads=16, keepalive=0.5,
                        reap_interval=3600)
    first = Live(settings)
    tab = Page(browser, first)
    second = None
    try:
        api(first, "POST", "/api/agents", {"id": "before"})
        tab.open()
        expect(tab.row("agents", "before")).to_be_visible()
        if seen == "an event":
            api(first, "POST", "/api/agents", {"id": "seen"})
            expect(tab.row("agents", "seen")).to_be_visible()
        first.stop()
        asked = len(tab.requests)
        expect(tab.tab.locator("#conn")).not_to_have_attribute("data-state", "live")
        # While no server listens, the relay's database changes (another process).
        app = create_app(Settings(db=settings.db))
        client = app.test_client()
        assert client.post("/api/agents", json={"id": "meanwhile"}).status_code == 201
        sent = client.post("/api/messages", json={"from": "meanwhile", "to": "before",
                                                  "body": "sent while you were away"}).get_json()
        app.extensions["relay"].stop()
        second = Live(Settings(db=settings.db, port=first.port, threads=16, keepalive=0.5,
                               reap_interval=3600))
        tab.live = second
        expect(tab.tab.locator("#conn")).to_have_attribute("data-state", "live", timeout=20_000)
        expect(tab.row("agents", "meanwhile")).to_be_visible()
        expect(tab.row("messages", sent["id"])).to_contain_text("sent while you were away")
        lists_read = [url for url in tab.requests[asked:] if url.endswith("/api/agents")]
        assert len(lists_read) == (0 if seen == "an event" else 1)
        # And it is live again.
        api(second, "POST", "/api/agents", {"id": "after"})
        expect(tab.row("agents", "after")).to_be_visible()
    finally:
        tab.close()
        if second:
            second.stop()
        first.stop()


def test_starting_a_spawn_policy_from_the_page_shows_its_state(page):
    status, answer = page.live.request("PUT", "/api/spawn-policy/x", {"value": {}})
    if status == 404 and answer["error"].startswith("no route for"):
        pytest.skip("spawn policies not on this relay")
    api(page.live, "POST", "/api/orchestrators", {"id": "o1", "hostname": "host",
                                                  "providers": ["claude"], "baseDir": "/srv"})
    api(page.live, "PUT", "/api/spawn-policy/reviewer", {
        "orchestratorId": "o1", "provider": "claude", "cwd": "/srv", "mode": "manual"})
    page.open()
    row = page.row("policies", "reviewer")
    expect(row).to_contain_text("stopped")
    row.get_by_role("button", name="Start policy reviewer", exact=True).click()
    expect(row).to_contain_text("starting")
    expect(page.tab.locator("#notice")).to_contain_text("start of policy reviewer")
    expect(page.tab.locator("#commands [data-list] > li").first).to_contain_text("agent.spawn")


def test_screenshots_of_a_populated_page(page):
    live = page.live
    for agent in [{"id": "alice", "label": "Alice", "tags": ["backend"], "capabilities": ["review"]},
                  {"id": "bob", "tags": ["frontend"], "status": "busy"},
                  {"id": "carol", "status": "idle", "capabilities": ["build", "deploy"]},
                  {"id": "dave", "status": "offline"}]:
        api(live, "POST", "/api/agents", agent)
    first = api(live, "POST", "/api/messages", {"from": "alice", "to": "bob", "subject": "Review",
                                                "body": "Could you look at the relay PR?"})
    api(live, "POST", "/api/messages", {"from": "bob", "to": "alice", "body": "On it.",
                                        "replyTo": first["id"]})
    work = api(live, "POST", "/api/messages", {"from": "ci", "to": "cap:build", "claimable": True,
                                               "subject": "Nightly build", "body": "build main"})
    api(live, "POST", f"/api/messages/{work['id']}/claim", {"agentId": "carol"})
    api(live, "POST", "/api/system/broadcast", {"body": "Deploy freeze at 17:00", "subject": "ops"})
    page.open()
    expect(page.tab.locator("#messages .stream > li")).to_have_count(4)
    ARTIFACTS.mkdir(exist_ok=True)
    page.tab.screenshot(path=str(ARTIFACTS / "dashboard-wide.png"))
    page.tab.set_viewport_size({"width": 420, "height": 900})
    page.tab.screenshot(path=str(ARTIFACTS / "dashboard-narrow.png"))
    width = page.tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, "nothing sticks out sideways in a narrow window"
    assert page.errors == []


def test_a_cancelled_token_question_is_not_asked_again_until_the_button(browser, live_factory):
    live = live_factory(token="s3cret", keepalive=0.5)
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        dialog = tab.tab.locator("#token")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(tab.tab.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(tab.tab.locator("#conn-text")).to_contain_text("needs a token")
        expect(tab.tab.locator("#notice")).to_contain_text("needs a token")
        tab.tab.wait_for_timeout(1500)          # the retry after a refused start
        expect(dialog).to_be_hidden()
        tab.tab.get_by_role("button", name="Token").click()
        expect(dialog).to_be_visible()
        dialog.get_by_label("Token").fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        tab.ready()
    finally:
        tab.close()


def test_a_refused_stream_is_explained_and_retried(browser, live_factory):
    from .sse import SSE
    live = live_factory(max_streams=1, keepalive=0.5)
    taken = SSE(live.port, "/api/events")
    assert taken.status == 200
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        expect(tab.tab.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(tab.tab.locator("#conn-text")).to_have_text(
            "offline: no stream slot free; retry shortly; retrying")
        taken.close()
        tab.ready()
    finally:
        taken.close()
        tab.close()


def test_a_focused_button_keeps_focus_when_its_row_changes(page):
    api(page.live, "POST", "/api/agents", {"id": "worker", "capabilities": ["build"]})
    message = api(page.live, "POST", "/api/messages",
                  {"from": "ci", "to": "cap:build", "body": "build", "claimable": True})
    page.open()
    row = page.row("messages", message["id"])
    row.get_by_role("button", name="Reply").focus()
    api(page.live, "POST", f"/api/messages/{message['id']}/claim", {"agentId": "worker"})
    expect(row).to_contain_text("claimed by worker")
    assert page.tab.evaluate("document.activeElement.getAttribute('aria-label')") == \
        f"Reply to message #{message['id']}"
