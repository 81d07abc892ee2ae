"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) against
a real relay on a free port: the page, the stream, identity, messages and compose.
The secondary panels (tasks, commands, ...) are in test_dashboard_views.py. Without
/usr/bin/chromium these tests skip, saying so."""
import time

import pytest

from relay import create_app
from relay.config import Settings

from .browser import Page, api, browser, expect, many  # noqa: F401 (browser: a fixture)
from .conftest import Live


@pytest.fixture
def page(browser, live):
    tab = Page(browser, live)
    yield tab
    tab.close()


@pytest.fixture
def carol(browser, live):
    """A page whose person picked the name carol before."""
    api(live, "POST", "/api/agents", {"id": "carol", "kind": "user"})
    tab = Page(browser, live, me="carol")
    yield tab
    tab.close()


def inbox_of(live, agent, count):
    for _ in range(100):
        found = api(live, "GET", f"/api/messages?for={agent}")
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"{agent} got {found}")


def test_page_loads_clean_and_stays_on_its_origin(page):
    api(page.live, "POST", "/api/agents", {"id": "alice"})
    page.open()
    expect(page.row("agents", "alice")).to_be_visible()
    expect(page.tab.locator("#conn-text")).to_have_text("live")
    expect(page.tab.locator('#health [data-k="version"]')).not_to_have_text("–")
    # The OpenAPI document is read after the first lists, never before them.
    expect(page.tab.locator("#message-filter [data-search]")).to_have_count(1)
    page.tab.wait_for_function("() => performance.getEntriesByType('resource')"
                               ".some((e) => e.name.endsWith('/api/spec'))")
    asked = [u.split("?")[0].removeprefix(page.base) for u in page.requests]
    assert asked.index("/api/spec") > max(asked.index("/api/agents"), asked.index("/api/messages"))
    assert page.errors == []
    foreign = [url for url in page.requests if not url.startswith(page.base + "/")]
    assert foreign == []
    for section in ("agents", "messages", "tasks", "commands", "activity"):
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
    page.tab.select_option("#agent-filter [name=status]", "online")
    expect(row).to_have_count(0)
    page.tab.select_option("#agent-filter [name=status]", "")
    api(page.live, "DELETE", "/api/agents/bob")
    expect(row).to_have_count(0)
    assert page.tab.evaluate("window.sameDocument") is True


def test_the_agent_filter_matches_id_label_tags_and_capabilities_and_counts_follow(page):
    for agent in [{"id": "py-1", "tags": ["py"]}, {"id": "rev", "label": "Reviewer"},
                  {"id": "builder", "capabilities": ["build"]}, {"id": "other"}]:
        api(page.live, "POST", "/api/agents", agent)
    page.open()
    count = page.tab.locator("#agents [data-count]")
    rows = page.tab.locator("#agents [data-list] > li")
    expect(count).to_have_text("4")
    filter_ = page.tab.locator("#agent-filter [name=text]")
    for typed, shown in [("#py", ["py-1"]), ("py", ["py-1"]), ("review", ["rev"]),
                         ("cap:build", ["builder"]), ("BUILD", ["builder"]), ("o", ["other"])]:
        filter_.fill(typed)
        expect(rows.first).to_have_attribute("data-key", shown[0])
        expect(rows).to_have_count(len(shown))
        expect(count).to_have_text(f"{len(shown)} of 4")
    filter_.fill("nothing-like-it")
    expect(rows).to_have_count(0)
    expect(page.tab.locator("#agents [data-list]")).to_have_attribute(
        "data-empty", "No agent matches the filter.")
    filter_.fill("")
    expect(count).to_have_text("4")


def test_the_page_acts_as_its_own_user_agent(page):
    """Claim and read fail out of the box unless the page is an agent: the first act
    asks for a name once, registers it as a user agent and keeps it."""
    api(page.live, "POST", "/api/agents", {"id": "worker", "capabilities": ["build"]})
    api(page.live, "POST", "/api/agents", {"id": "alice", "kind": "provider"})
    work = api(page.live, "POST", "/api/messages", {"from": "ci", "to": "broadcast", "body": "build",
                                                   "claimable": True})
    page.open()
    expect(page.tab.locator("#me-name")).to_have_text("not chosen yet")
    row = page.row("messages", work["id"])
    row.get_by_role("button", name="Claim").click()
    # A name that another kind of agent holds is refused, saying why.
    dialog = page.tab.locator("#ask")
    dialog.get_by_label("Name").fill("alice")
    dialog.get_by_role("button", name="Use this name").click()
    expect(dialog).to_contain_text("alice is already an agent of kind provider")
    assert api(page.live, "GET", "/api/agents/alice")["kind"] == "provider"
    dialog.get_by_label("Name").fill("dana")
    dialog.get_by_role("button", name="Use this name").click()
    expect(dialog).to_be_hidden()
    expect(page.tab.locator("#me-name")).to_have_text("dana")
    assert api(page.live, "GET", "/api/agents/dana")["kind"] == "user"
    # The claim waited for the name and then went through as dana.
    expect(row).to_contain_text("claimed by dana")
    row.get_by_role("button", name=f"Mark message #{work['id']} read").click()
    expect(row).to_contain_text("read by dana")
    assert api(page.live, "GET", f"/api/messages/{work['id']}")["readBy"] == ["dana"]
    row.get_by_role("button", name="Release").click()
    expect(row).to_contain_text("claimable, unclaimed")
    # Sending is as dana too, and a reload asks nothing again.
    compose = page.tab.locator("#compose")
    compose.get_by_label("Message").fill("hello from the page")
    compose.get_by_label("To").fill("worker")
    compose.get_by_role("button", name="Send").click()
    assert [(m["from"], m["body"]) for m in inbox_of(page.live, "worker", 2)
            if m["from"] == "dana"] == [("dana", "hello from the page")]
    assert page.tab.evaluate("localStorage.getItem('relay.me')") == "dana"
    page.tab.reload()
    page.ready()
    expect(page.tab.locator("#me-name")).to_have_text("dana")
    expect(dialog).to_be_hidden()
    assert page.errors == []


def test_a_message_composed_in_the_page_reaches_the_inbox_and_a_reply_threads(carol):
    page = carol
    api(page.live, "POST", "/api/agents", {"id": "bob"})
    page.open()
    form = page.tab.locator("#compose")
    # Compact until used: the other fields show once the message box is focused.
    expect(form.get_by_label("Subject")).to_be_hidden()
    form.get_by_label("Message").click()
    expect(form.get_by_label("Subject")).to_be_visible()
    form.get_by_label("To").fill("bob")
    form.get_by_label("Subject").fill("Deploy")
    form.get_by_label("Message").fill("Ship it\non Friday")
    form.get_by_role("button", name="Send").click()
    inbox = inbox_of(page.live, "bob", 1)
    assert [(m["from"], m["subject"], m["body"]) for m in inbox] == [
        ("carol", "Deploy", "Ship it\non Friday")]
    row = page.row("messages", inbox[0]["id"])
    expect(row).to_contain_text("Deploy")
    expect(form.get_by_label("Message")).to_have_value("")
    expect(form.get_by_label("Subject")).to_be_hidden()
    # Replying to one's own message goes to its addressee, threaded under it.
    row.get_by_role("button", name="Reply").click()
    expect(form.get_by_label("To")).to_have_value("bob")
    expect(form.get_by_label("Subject")).to_have_value("Re: Deploy")
    form.get_by_label("Message").fill("done")
    form.get_by_role("button", name="Send").click()
    reply = inbox_of(page.live, "bob", 2)[-1]
    assert (reply["body"], reply["replyTo"], reply["threadId"], reply["subject"]) == (
        "done", inbox[0]["id"], inbox[0]["id"], "Re: Deploy")


def test_a_cancelled_reply_leaves_nothing_behind(carol):
    page = carol
    api(page.live, "POST", "/api/agents", {"id": "bob"})
    first = api(page.live, "POST", "/api/messages", {"from": "bob", "to": "carol",
                                                    "subject": "Old topic", "body": "a"})
    second = api(page.live, "POST", "/api/messages", {"from": "bob", "to": "carol", "body": "b"})
    page.open()
    form = page.tab.locator("#compose")
    page.row("messages", first["id"]).get_by_role("button", name="Reply").click()
    expect(form.get_by_label("Subject")).to_have_value("Re: Old topic")
    form.get_by_role("button", name="Cancel reply").click()
    expect(page.tab.locator("#reply-to")).to_be_hidden()
    page.row("messages", second["id"]).get_by_role("button", name="Reply").click()
    expect(form.get_by_label("Subject")).to_have_value("")
    form.get_by_label("Message").fill("answer")
    form.get_by_role("button", name="Send").click()
    reply = inbox_of(page.live, "bob", 1)[-1]
    assert (reply["subject"], reply["replyTo"], reply["to"]) == (None, second["id"], "bob")


def test_a_reply_to_a_task_message_is_a_note_on_its_task(carol):
    page = carol
    task = api(page.live, "POST", "/api/tasks", {"title": "Disk full", "target": "carol"})
    message = [m for m in api(page.live, "GET", "/api/messages?for=carol") if m["kind"] == "task"][0]
    assert message["from"] != "carol" and message["payload"]["taskId"] == task["id"]
    page.open()
    form = page.tab.locator("#compose")
    page.row("messages", message["id"]).get_by_role("button", name="Reply").click()
    expect(page.tab.locator("#reply-to")).to_contain_text(f"note on task #{task['id']}")
    expect(form.get_by_label("To")).to_be_hidden()
    form.get_by_label("Message").fill("cleaned /var/log")
    form.get_by_role("button", name="Send").click()
    expect(page.tab.locator("#notice")).to_contain_text(f"note added to task #{task['id']}")
    events = api(page.live, "GET", f"/api/tasks/{task['id']}")["events"]
    assert [(e["note"], e["agentId"]) for e in events if e["note"]] == [("cleaned /var/log", "carol")]
    expect(form.get_by_label("To")).to_have_value("")


def test_a_reply_to_a_channel_event_goes_into_its_channel(carol):
    page = carol
    api(page.live, "POST", "/api/agents", {"id": "ops-1", "tags": ["oncall"]})
    api(page.live, "PUT", "/api/channels/slack:ops/bindings", {"bindings": [
        {"target": {"type": "tag", "id": "oncall"}, "direction": "both"}]})
    routed = api(page.live, "POST", "/api/channels/slack:ops/events",
                 {"from": "slack:ops", "body": "prod deploy is stuck"})
    event = routed["messages"][0]
    page.open()
    form = page.tab.locator("#compose")
    page.row("messages", event["id"]).get_by_role("button", name="Reply").click()
    expect(page.tab.locator("#reply-to")).to_contain_text("in slack:ops")
    form.get_by_label("Message").fill("rolling back")
    form.get_by_role("button", name="Send").click()
    expect(page.tab.locator("#notice")).to_contain_text(f"sent to {event['to']}")
    expect(page.tab.locator("#compose [data-error]")).to_be_hidden()
    outward = api(page.live, "GET", "/api/channels/slack:ops/messages?since=0")
    reply = outward[-1]
    assert (reply["from"], reply["body"], reply["channel"], reply["replyTo"]) == (
        "carol", "rolling back", "slack:ops", event["id"])


def test_a_long_multi_line_body_is_readable_in_full_and_code_stays_text(carol):
    page = carol
    code = "def f():\n    return '<b>not bold</b>'"
    body = ("Review notes\n\nline one\nline two\n```python\n" + code + "\n```\n"
            + "<img src=x onerror=window.pwned=1>\n" + "x" * 65000)
    assert len(body) <= 65536
    sent = api(page.live, "POST", "/api/messages", {"from": "rev", "to": "broadcast", "body": body})
    page.open()
    row = page.row("messages", sent["id"])
    expect(row.locator(".body")).to_contain_text("line one\nline two")
    row.get_by_role("button", name="Open").click()
    dialog = page.tab.locator("#thread")
    full = dialog.locator(f"[data-key='{sent['id']}'] .body")
    expect(full.locator("pre.code code")).to_have_text(code)
    assert full.evaluate("(el) => el.textContent") == body.replace("```python\n", "").replace(
        "\n```\n", "")
    assert full.evaluate("(el) => el.querySelectorAll('img, b').length") == 0
    # Whole, not clamped: its box is as tall as its text.
    assert full.evaluate("(el) => el.scrollHeight <= el.clientHeight + 1")
    assert page.tab.evaluate("window.pwned") is None
    assert page.overflowing() == []
    assert page.errors == []


def test_older_messages_load_on_scroll_past_the_first_pages(page):
    live = page.live
    many(live, "POST", "/api/messages",
         [{"from": "bulk", "to": "broadcast", "body": f"n{i}"} for i in range(260)])
    page.open()
    rows = page.tab.locator("#messages [data-list] > li")
    expect(rows).to_have_count(100)
    expect(page.tab.locator("#messages [data-count]")).to_have_text("100 of 260")
    first = api(live, "GET", "/api/messages?limit=1&before=2")
    assert [m["body"] for m in first] == ["n0"]
    for shown in (200, 260):
        page.tab.locator("#messages [data-more]").scroll_into_view_if_needed()
        expect(rows).to_have_count(shown)
    expect(page.row("messages", first[0]["id"])).to_contain_text("n0")
    expect(page.tab.locator("#messages [data-more]")).to_be_hidden()
    # New messages still arrive on top, the paged ones stay.
    new = api(live, "POST", "/api/messages", {"from": "bulk", "to": "broadcast", "body": "fresh"})
    expect(rows.first).to_have_attribute("data-key", str(new["id"]))
    expect(rows).to_have_count(261)


def test_message_filters(carol):
    page = carol
    live = page.live
    api(live, "POST", "/api/agents", {"id": "bob"})
    plain = api(live, "POST", "/api/messages", {"from": "bob", "to": "carol", "body": "plain"})
    work = api(live, "POST", "/api/messages", {"from": "ci", "to": "broadcast", "body": "work",
                                              "claimable": True})
    read = api(live, "POST", "/api/messages", {"from": "bob", "to": "carol", "body": "seen"})
    api(live, "POST", f"/api/messages/{read['id']}/read", {"agentId": "carol"})
    page.open()
    rows = page.tab.locator("#messages [data-list] > li")
    keys = lambda: [rows.nth(i).get_attribute("data-key") for i in range(rows.count())]
    expect(rows).to_have_count(3)
    filters = page.tab.locator("#message-filter")
    filters.get_by_label("From").fill("bob")
    expect(rows).to_have_count(2)
    assert keys() == [str(read["id"]), str(plain["id"])]
    filters.get_by_label("unread").check()
    expect(rows).to_have_count(1)
    expect(page.tab.locator("#messages [data-count]")).to_have_text("1 of 2")
    # A live message that fits the filters joins; one that does not stays out.
    api(live, "POST", "/api/messages", {"from": "ci", "to": "carol", "body": "not bob"})
    late = api(live, "POST", "/api/messages", {"from": "bob", "to": "carol", "body": "late"})
    expect(rows.first).to_have_attribute("data-key", str(late["id"]))
    expect(rows).to_have_count(2)
    filters.get_by_label("unread").uncheck()
    filters.get_by_label("From").fill("")
    filters.get_by_label("claimable").check()
    expect(rows).to_have_count(1)
    assert keys() == [str(work["id"])]
    filters.get_by_label("claimable").uncheck()
    filters.get_by_label("Kind").select_option("chat")
    expect(rows).to_have_count(5)


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
    page.row("messages", root["id"]).get_by_role("button", name="Open").click()
    thread = page.tab.locator("#thread")
    expect(thread).to_be_visible()
    expect(thread.locator("[data-key]")).to_have_count(1)
    api(page.live, "POST", "/api/messages", {"from": "b", "to": "broadcast", "body": "answer",
                                             "replyTo": root["id"]})
    expect(thread.locator("[data-key]")).to_have_count(2)
    expect(thread.locator("[data-key]").last).to_contain_text("answer")
    page.tab.keyboard.press("Escape")
    expect(thread).to_be_hidden()


def test_an_api_error_is_shown_in_words_and_cleared_by_the_next_edit(carol):
    page = carol
    page.open()
    form = page.tab.locator("#compose")
    form.get_by_label("Message").fill("hello?")
    form.get_by_label("To").fill("nobody")
    form.get_by_role("button", name="Send").click()
    error = form.locator("[data-error]")
    status, answer = page.live.request("POST", "/api/messages",
                                       {"from": "carol", "to": "nobody", "body": "x"})
    assert status == 404
    expect(error).to_have_text(answer["error"])
    form.get_by_label("To").fill("broadcast")
    expect(error).to_be_hidden()


def test_rows_arriving_do_not_move_the_panels(page):
    page.open()
    boxes = lambda: [page.tab.locator(f"#{s}").bounding_box()
                     for s in ("agents", "messages", "tasks")]
    before = boxes()
    for i in range(15):
        api(page.live, "POST", "/api/agents", {"id": f"agent-{i}"})
        api(page.live, "POST", "/api/messages", {"from": f"agent-{i}", "to": "broadcast",
                                                 "body": "x" * 300})
    expect(page.tab.locator("#messages [data-list] > li")).to_have_count(15)
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
    page.tab.locator("#compose [name=body]").focus()
    page.tab.keyboard.press("Tab")
    assert page.tab.evaluate("document.activeElement.textContent") == "Send"
    # The tabs move with the arrow keys.
    page.tab.locator("#tabs [aria-controls=tasks]").focus()
    page.tab.keyboard.press("ArrowRight")
    expect(page.tab.locator("#activity")).to_be_visible()
    expect(page.tab.locator("#tasks")).to_be_hidden()


def test_with_a_token_the_page_asks_once_and_keeps_only_a_right_one(browser, live_factory):
    live = live_factory(token="s3cret", keepalive=0.5)
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        dialog = tab.tab.locator("#token")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Token").fill("wrong")
        dialog.get_by_role("button", name="Use token").click()
        expect(dialog).to_contain_text("refused")
        assert tab.tab.evaluate("localStorage.getItem('relay.token')") is None
        dialog.get_by_label("Token").fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        tab.ready()
        expect(dialog).to_be_hidden()
        assert tab.tab.evaluate("localStorage.getItem('relay.token')") == "s3cret"
        api(live, "POST", "/api/agents", {"id": "secret-agent"}, token="s3cret")
        expect(tab.row("agents", "secret-agent")).to_be_visible()
        tab.tab.reload()
        tab.ready()
        expect(dialog).to_be_hidden()
    finally:
        tab.close()


def test_a_cancelled_token_question_is_not_asked_again_until_the_button(browser, live_factory):
    live = live_factory(token="s3cret", keepalive=0.5)
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        dialog = tab.tab.locator("#token")
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_be_hidden()
        expect(tab.tab.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(tab.tab.locator("#conn-text")).to_have_text("needs a token")
        notice = tab.tab.locator("#notice")
        expect(notice).to_contain_text("needs a token")
        tab.tab.wait_for_timeout(1500)
        expect(dialog).to_be_hidden()
        tab.tab.get_by_role("button", name="Token").click()
        dialog.get_by_label("Token").fill("s3cret")
        dialog.get_by_role("button", name="Use token").click()
        tab.ready()
        # Its cause gone, the notice is too.
        expect(notice).to_be_hidden()
    finally:
        tab.close()


def test_a_refused_stream_is_explained_retried_and_the_notice_cleared(browser, live_factory):
    from .sse import SSE
    live = live_factory(max_streams=1, keepalive=0.5)
    taken = SSE(live.port, "/api/events")
    assert taken.status == 200
    tab = Page(browser, live)
    try:
        tab.tab.goto(tab.base + "/")
        expect(tab.tab.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(tab.tab.locator("#conn")).to_have_attribute(
            "title", "offline: no stream slot free; retry shortly; retrying")
        notice = tab.tab.locator("#notice")
        expect(notice).to_contain_text("no stream slot free")
        taken.close()
        tab.ready()
        expect(notice).to_be_hidden()
    finally:
        taken.close()
        tab.close()


@pytest.mark.parametrize("seen", ["an event", "no event"])
def test_after_a_restart_the_page_reconnects_and_shows_what_happened_meanwhile(browser, tmp_path,
                                                                                seen):
    """Having seen an event, the page resumes from it (Last-Event-ID: the relay replays,
    no list is read again); having seen none, it reads the lists again."""
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
        api(second, "POST", "/api/agents", {"id": "after"})
        expect(tab.row("agents", "after")).to_be_visible()
        expect(tab.tab.locator("#notice.is-error")).to_have_count(0)
    finally:
        tab.close()
        if second:
            second.stop()
        first.stop()


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


# --- acknowledgements and search ------------------------------------------------------

def test_a_receipt_line_shows_who_acked_and_who_is_overdue(carol):
    page = carol
    live = page.live
    api(live, "POST", "/api/agents", {"id": "bob"})
    asked = api(live, "POST", "/api/messages", {"from": "lead", "to": "broadcast",
                                               "body": "confirm the freeze", "ackRequired": True})
    plain = api(live, "POST", "/api/messages", {"from": "lead", "to": "broadcast", "body": "fyi"})
    page.open()
    row = page.row("messages", asked["id"])
    receipts = row.locator(".receipts")
    expect(receipts).to_contain_text("ack asked")
    expect(receipts).to_contain_text("bob")
    expect(receipts).to_contain_text("carol")
    expect(page.row("messages", plain["id"]).locator(".receipts")).to_have_count(0)
    # An ack elsewhere shows live; the page's own Ack acks as carol.
    api(live, "POST", f"/api/messages/{asked['id']}/ack", {"agentId": "bob"})
    expect(receipts.locator("[data-state=acked]")).to_have_text("acked: bob")
    row.get_by_role("button", name=f"Acknowledge message #{asked['id']}").click()
    expect(receipts.locator("[data-state=acked]")).to_have_text("acked: bob, carol")
    expect(row.get_by_role("button", name=f"Acknowledge message #{asked['id']}")).to_have_count(0)
    states = {r["agentId"]: r["state"] for r in api(live, "GET", f"/api/messages/{asked['id']}/receipts")}
    assert states == {"bob": "acked", "carol": "acked"}
    # The page asks for acks too, where the relay serves them.
    form = page.tab.locator("#compose")
    form.get_by_label("Message").fill("please confirm")
    form.get_by_label("To").fill("bob")
    form.get_by_label("ask for an ack").check()
    form.get_by_role("button", name="Send").click()
    sent = inbox_of(live, "bob", 3)[-1]
    assert (sent["from"], sent["body"], sent.get("ackRequired")) == ("carol", "please confirm", True)
    expect(page.row("messages", sent["id"]).locator(".receipts")).to_contain_text("bob")


def test_the_overdue_filter_lists_messages_whose_ack_is_overdue(carol):
    page = carol
    live = page.live
    api(live, "POST", "/api/agents", {"id": "bob"})
    late = api(live, "POST", "/api/messages", {"from": "lead", "to": "bob", "body": "ack me",
                                              "ackRequired": True, "ackWithinSeconds": 1,
                                              "maxDeliveries": 1})
    other = api(live, "POST", "/api/messages", {"from": "lead", "to": "bob", "body": "other"})
    page.open()
    filters = page.tab.locator("#message-filter")
    overdue = filters.get_by_label("overdue")
    expect(overdue).to_be_visible()          # this relay serves GET /api/messages/overdue
    overdue.check()
    rows = page.tab.locator("#messages [data-list] > li")
    expect(rows).to_have_count(0)
    expect(page.tab.locator("#messages [data-list]")).to_have_attribute(
        "data-empty", "No messages yet.")
    time.sleep(1.2)                          # the deadline passes on the relay's clock
    reaped = api(live, "POST", "/api/system/reap")
    assert reaped["overdueReceipts"] == [{"messageId": late["id"], "agentId": "bob"}]
    # message.ack_overdue reloads the overdue view.
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key", str(late["id"]))
    expect(rows.first.locator("[data-state=overdue]")).to_have_text("overdue: bob")
    overdue.uncheck()
    expect(page.row("messages", other["id"])).to_be_visible()


def test_the_search_box_finds_messages_and_marks_the_words(carol):
    page = carol
    live = page.live
    hit = api(live, "POST", "/api/messages", {"from": "rev", "to": "broadcast", "subject": "Review",
                                             "body": "the migration drops a column <b>twice</b>"})
    api(live, "POST", "/api/messages", {"from": "rev", "to": "broadcast", "body": "unrelated"})
    page.open()
    box = page.tab.locator("#message-filter").get_by_label("Search")
    expect(box).to_be_visible()              # this relay serves GET /api/messages/search
    rows = page.tab.locator("#messages [data-list] > li")
    box.fill("migration")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-key", str(hit["id"]))
    expect(rows.first.locator(".snippet mark")).to_have_text(["migration"])
    # Hostile queries are answered, never an error on the page.
    for typed in ['"', "(", "NEAR", "-", "*", '"unclosed phrase', "<script>"]:
        box.fill(typed)
        expect(page.tab.locator("#messages > [data-error]")).to_be_hidden()
    box.fill("")
    expect(rows).to_have_count(2)
    assert page.tab.evaluate("document.querySelectorAll('#messages b').length") == 0
    assert page.errors == []


def test_every_call_to_the_relay_gives_up_after_its_timeout(carol):
    """A held long poll stands in for a relay that does not answer."""
    page = carol
    page.open()
    said = page.tab.evaluate("""async () => {
        const { api, timedFetch } = await import('/static/api.js');
        try { await timedFetch('/api/messages?for=carol&wait=5', {}, 300); return 'answered'; }
        catch (error) { return error.message; } }""")
    assert said == "the relay did not answer within 0.3 s"
    assert page.errors == []


def test_on_a_phone_the_filters_fold_behind_their_button(browser, live):
    api(live, "POST", "/api/agents", {"id": "bob"})
    api(live, "POST", "/api/messages", {"from": "bob", "to": "broadcast", "body": "hi"})
    page = Page(browser, live, width=420, height=900)
    try:
        page.open()
        filters = page.tab.locator("#message-filter")
        toggle = page.tab.get_by_role("button", name="Filters")
        expect(filters.get_by_label("From")).to_be_hidden()
        expect(filters.get_by_label("Search")).to_be_visible()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        filters.get_by_label("From").fill("nobody")
        expect(page.tab.locator("#messages [data-list] > li")).to_have_count(0)
        toggle.click()
        expect(filters.get_by_label("From")).to_be_hidden()
        expect(toggle).to_have_text("Filters (on)")
        # The conversation comes first and the page is about three windows tall, not ten.
        boxes = [page.tab.locator(f"#{s}").bounding_box() for s in ("messages", "agents")]
        assert boxes[0]["y"] < boxes[1]["y"]
        assert page.tab.evaluate("document.documentElement.scrollHeight") < 3 * 900
        assert page.tab.evaluate("document.documentElement.scrollWidth") <= 420
    finally:
        page.close()


def test_a_burst_of_live_messages_keeps_the_list_bounded(page):
    """Unpaged, the conversation keeps the newest 200 however many arrive."""
    page.open()
    sent = many(page.live, "POST", "/api/messages",
                [{"from": "bulk", "to": "broadcast", "body": f"burst {i}"} for i in range(260)])
    rows = page.tab.locator("#messages [data-list] > li")
    expect(rows.first).to_have_attribute("data-key", str(sent[-1]["id"]))
    expect(rows).to_have_count(200)
    expect(rows.last).to_have_attribute("data-key", str(sent[60]["id"]))
    assert page.tab.evaluate("document.querySelectorAll('#messages li').length") == 200
    assert page.errors == []
