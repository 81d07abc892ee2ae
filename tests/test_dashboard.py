"""GET / serves the dashboard and its assets, outside the JSON API (README "The dashboard").

What the page does in a browser is tested in test_dashboard_browser.py.
"""
import re
import urllib.request

import pytest

from relay import create_app
from relay.config import Settings
from relay.dashboard import STATIC

from .test_process import start


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_root_serves_the_page_with_its_versioned_assets(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "<title>relay</title>" in html and "{{version}}" not in html
    urls = asset_urls(html)
    assert sorted(u.split("?")[0] for u in urls) == sorted(
        f"/static/{p.name}" for p in STATIC.iterdir() if p.suffix in (".js", ".css"))
    # One entry module; every other module is preloaded, so none waits for its importer.
    assert re.findall(r'<script type="module" src="/static/([^"?]+)', html) == ["main.js"]
    assert "<script>" not in html and "onclick" not in html
    versions = {u.split("?v=")[1] for u in urls}
    assert len(versions) == 1 and re.fullmatch(r"[0-9a-f]{16}", versions.pop())
    # Nothing the page names lives on another origin.
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


def test_page_and_assets_carry_cache_headers_and_etags(client):
    page = client.get("/")
    assert page.headers["Cache-Control"] == "no-cache"
    assert client.get("/", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    for url in asset_urls(page.get_data(as_text=True)):
        r = client.get(url)
        assert r.status_code == 200 and r.data, url
        assert set(r.headers["Cache-Control"].split(", ")) == {
            "public", "max-age=31536000", "immutable"}, url
        assert r.headers["ETag"]
        again = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304
    # Without the current version the asset is revalidated each time.
    r = client.get("/static/main.js")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache"
    assert r.mimetype == "text/javascript"


def test_a_module_imports_the_versions_the_page_names(client):
    html = client.get("/").get_data(as_text=True)
    version = re.search(r"\?v=([0-9a-f]{16})", html).group(1)
    main = client.get(f"/static/main.js?v={version}").get_data(as_text=True)
    imports = re.findall(r'(?:from|import)\s*"(\./[^"]+)"', main)
    assert imports and all(i.endswith(f".js?v={version}") for i in imports), imports
    for spec in imports:
        r = client.get("/static/" + spec[2:])
        assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"], spec
    # The file on disk keeps plain specifiers: the version is added as it is served.
    assert 'from "./api.js";' in (STATIC / "main.js").read_text()


def test_page_may_only_reach_its_own_origin(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/../dashboard.py",
                                  "/static/%2e%2e/dashboard.py", "/index.html"])
def test_unknown_or_outside_files_are_404(client, path):
    assert client.get(path).status_code == 404


@pytest.fixture
def secured(db_path):
    app = create_app(Settings(db=db_path, token="s3cret"))
    yield app.test_client()
    app.extensions["relay"].stop()


def test_the_page_needs_no_token_but_the_api_does(secured):
    page = secured.get("/")
    assert page.status_code == 200
    for url in asset_urls(page.get_data(as_text=True)):
        assert secured.get(url).status_code == 200, url
    assert secured.get("/api/agents").status_code == 401


def test_the_page_is_not_in_the_openapi_document(client):
    paths = client.get("/api/spec").get_json()["paths"]
    assert all(path.startswith("/api/") for path in paths)


def test_assets_over_a_real_connection(live):
    """A file answer (wsgi.file_wrapper) leaves after its headers on a kept-alive
    connection, followed by a JSON answer."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    c.request("GET", "/")
    r = c.getresponse()
    html = r.read().decode()
    assert r.status == 200
    for url in asset_urls(html):
        c.request("GET", url)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and len(body) == int(r.getheader("Content-Length")) > 100, url
    c.request("GET", "/api/health")
    r = c.getresponse()
    assert r.status == 200 and b'"status"' in r.read()
    c.close()


def test_start_line_names_the_dashboard_that_serves(tmp_path):
    proc, port, line = start(tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert f"(dashboard {url}," in line
        with urllib.request.urlopen(url, timeout=5) as r:
            assert r.status == 200 and b"<title>relay</title>" in r.read()
    finally:
        proc.terminate()
        proc.wait(10)


# --- what the dashboard asks of the API --------------------------------------------

def test_commands_newest_first_for_a_person_oldest_first_for_an_orchestrator(client):
    ids = [client.post("/api/commands", json={"type": "x.probe", "target": "orchestrator-o1"})
           .get_json()["id"] for _ in range(5)]
    assert [c["id"] for c in client.get("/api/commands").get_json()] == ids
    newest = client.get("/api/commands?order=newest&limit=3")
    assert newest.status_code == 200
    assert [c["id"] for c in newest.get_json()] == ids[::-1][:3]
    bad = client.get("/api/commands?order=sideways")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("order must be oldest or newest")


def test_the_openapi_document_names_every_event_type_the_code_emits(client):
    import pathlib
    from relay.events import EVENT_TYPES
    listed = client.get("/api/spec").get_json()["components"]["schemas"]["EventType"]["enum"]
    assert listed == list(EVENT_TYPES)
    source = "\n".join(p.read_text() for p in pathlib.Path(STATIC.parent).rglob("*.py"))
    emitted = set(re.findall(r'(?:Event|_event)\(\s*"([a-z]+\.[a-z_.]+)"', source))
    assert emitted and emitted <= set(listed), emitted - set(listed)
