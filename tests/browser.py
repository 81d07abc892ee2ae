"""Driving the dashboard in Debian's Chromium with Playwright (never a downloaded
browser). Without /usr/bin/chromium every module that imports this skips, saying
why; .ci/run installs it so CI always runs them."""
import http.client
import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 10_000        # ms: how long a change may take to show

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


class Page:
    """A browser tab on one relay, with what it logged and asked for."""

    def __init__(self, browser, live, width=1280, height=800, me=None):
        self.live = live
        self.base = f"http://127.0.0.1:{live.port}"
        self.context = browser.new_context(viewport={"width": width, "height": height})
        if me:
            # As if the person had picked this name before (the page registers it again).
            self.context.add_init_script(f"localStorage.setItem('relay.me', {me!r})")
        self.tab = self.context.new_page()
        self.tab.set_default_timeout(WAIT)
        self.errors, self.requests = [], []
        self.tab.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.tab.on("pageerror", lambda e: self.errors.append(str(e)))
        self.tab.on("request", lambda r: self.requests.append(r.url))

    def open(self):
        self.tab.goto(self.base + "/")
        return self.ready()

    def ready(self):
        expect(self.tab.locator("body[data-ready]")).to_have_count(1)
        expect(self.tab.locator("#conn")).to_have_attribute("data-state", "live")
        return self

    def row(self, section, key):
        return self.tab.locator(f"#{section} [data-key='{key}']")

    def show(self, tab):
        """Bring a secondary panel (tasks, commands, ...) to the front."""
        self.tab.locator(f"#tabs [aria-controls='{tab}']").click()
        expect(self.tab.locator(f"#{tab}")).to_be_visible()

    def pick_name(self, name):
        """Answer the page's one question of who the person is."""
        dialog = self.tab.locator("#ask")
        expect(dialog).to_contain_text("Your name on this relay")
        dialog.get_by_label("Name").fill(name)
        dialog.get_by_role("button", name="Use this name").click()
        expect(dialog).to_be_hidden()

    def overflowing(self):
        """Elements wider than the box they sit in (a row, a panel, the page)."""
        return self.tab.evaluate("""() => [...document.querySelectorAll(
            'body, .panel, .row, .line, .body, .subject, .name, .code, .receipts')]
            .filter((el) => el.offsetParent !== null || el === document.body)
            .filter((el) => el.scrollWidth > el.clientWidth + 1)
            .map((el) => `${el.className || el.tagName}: ${el.scrollWidth} > ${el.clientWidth}`)""")

    def close(self):
        self.context.close()


def api(live, method, path, body=None, token=None):
    status, answer = live.request(method, path, body,
                                  {"X-Agent-Relay-Token": token} if token else None)
    assert status < 300, (method, path, status, answer)
    return answer


def many(live, method, path, bodies):
    """Several calls over one kept-alive connection (hundreds of rows quickly)."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    try:
        answers = []
        for body in bodies:
            status, answer = live.request(method, path(body) if callable(path) else path,
                                          body, conn=conn)
            assert status < 300, (status, answer)
            answers.append(answer)
        return answers
    finally:
        conn.close()
