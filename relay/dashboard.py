"""The dashboard (README "The dashboard"): GET / and its assets, beside the JSON API.

These routes are not part of the API: they are not declared with
contract.route, so the OpenAPI document leaves them out, and the token is
not asked for here (the page asks for it when /api answers 401).

index.html names its assets with `?v=<hash of their content>`: an asset
asked for with the current hash never changes and is cached for a year; any
other request for it (and the page itself) is revalidated by its ETag. The
scripts are ES modules: each import of another module is served with the same
`?v=`, and the page preloads every module, so none waits for the one importing it.
"""
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, request, send_from_directory

STATIC = Path(__file__).with_name("static")
YEAR = 365 * 86400
# Everything the page loads or calls is on this origin.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")

bp = Blueprint("dashboard", __name__)


# `from "./x.js"` and `import "./x.js"` in a module: the specifier gets the version.
IMPORT = re.compile(r'((?:from|import)\s*")(\./[\w-]+\.js)(")')
ENTRY = "main.js"


def assets() -> list[Path]:
    return sorted(p for p in STATIC.iterdir() if p.suffix in (".js", ".css"))


@lru_cache(maxsize=4)
def built(stamps: tuple) -> tuple[str, str, str, dict]:
    """(the page's HTML, its ETag, the assets' version, {module name: its versioned text})
    for these modification times."""
    digest = hashlib.sha256()
    for path in assets():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    version = digest.hexdigest()[:16]
    modules = {p.name: IMPORT.sub(rf"\1\2?v={version}\3", p.read_text(encoding="utf-8")).encode()
               for p in assets() if p.suffix == ".js"}
    preload = "\n".join(f'<link rel="modulepreload" href="/static/{name}?v={version}">'
                        for name in sorted(modules) if name != ENTRY)
    html = ((STATIC / "index.html").read_text(encoding="utf-8")
            .replace("{{modulepreload}}", preload).replace("{{version}}", version))
    return html, hashlib.sha256(html.encode()).hexdigest()[:32], version, modules


def page() -> tuple[str, str, str, dict]:
    # Keyed by modification time, so an edited asset gets a new name at once.
    return built(tuple((p.name, p.stat().st_mtime_ns) for p in [STATIC / "index.html", *assets()]))


def guarded(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def index():
    html, etag, _, _ = page()
    response = Response(html, mimetype="text/html")
    response.set_etag(etag)
    response.cache_control.no_cache = True
    return guarded(response.make_conditional(request))


@bp.get("/static/<path:filename>")
def asset(filename: str):
    _, _, version, modules = page()
    current = request.args.get("v") == version
    if filename in modules:
        body = modules[filename]
        response = Response(body, mimetype="text/javascript")
        response.set_etag(hashlib.sha256(body).hexdigest()[:32])
        response = response.make_conditional(request)
        response.cache_control.max_age = YEAR if current else None
    else:
        # send_from_directory refuses paths outside STATIC and answers 304 to a matching ETag.
        response = send_from_directory(STATIC, filename, max_age=YEAR if current else None)
    if current:
        response.cache_control.public = True
        response.cache_control.immutable = True
    else:
        response.cache_control.no_cache = True
    return guarded(response)
