"""API.md §11-12: GET / serves the dashboard and its assets, outside the JSON API.

What the page does in a browser is tested in test_dashboard_browser.py.
"""
import re
import urllib.request

import pytest

from relay.server import create_app
from relay.server.settings import Settings

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
    assert sorted(u.split("?")[0] for u in urls) == [
        "/static/app.css", "/static/app.js", "/static/core.js", "/static/manage.js",
        "/static/views.js"]
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
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        assert r.headers["ETag"]
        again = client.get(url, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304
    # Without the current version the asset is revalidated each time.
    r = client.get("/static/app.js")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-cache"
    assert r.mimetype == "text/javascript"


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
