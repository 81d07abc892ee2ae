"""Provider config (API.md §9): per-provider model, effort, args and env, kept in
the config store (namespace provider-config); env values are masked unless asked."""
from flask import Blueprint

from ..contract import route
from ..errors import not_found
from ..schemas.config import ProviderConfig, ProviderSettings, Reveal
from ..schemas.policies import PROVIDERS
from ..store import config
from . import answer, conn
from .config import put_entry

bp = Blueprint("providers", __name__, url_prefix="/api/providers")

NS = "provider-config"
MASK = "***"


def settings_of(provider: str, entry: dict | None, reveal: bool) -> dict:
    value = (entry or {}).get("value") or {}
    env = value.get("env") or {}
    return {"provider": provider, "model": value.get("model"), "effort": value.get("effort"),
            "args": value.get("args") or [],
            "env": env if reveal else {k: MASK for k in env},
            "version": entry["version"] if entry else 0}


def known(provider: str) -> str:
    if provider not in PROVIDERS:
        raise not_found(f"no provider {provider}: providers are " + ", ".join(PROVIDERS))
    return provider


@route(bp, "GET", "/config", "Every provider's config (a provider never configured shows "
       "empty args and env, version 0); env values are *** unless reveal=1.", query=Reveal,
       answers={200: [ProviderSettings]})
def all_settings(query: Reveal):
    c = conn()
    return answer([settings_of(p, config.get(c, NS, p), query.reveal) for p in PROVIDERS])


@route(bp, "GET", "/<provider>/config", "One provider's config (claude or codex); env values "
       "are *** unless reveal=1.", query=Reveal,
       answers={200: ProviderSettings, 404: "not a provider"})
def get_settings(provider, query: Reveal):
    return answer(settings_of(known(provider), config.get(conn(), NS, provider), query.reveal))


@route(bp, "PUT", "/<provider>/config", "Replace a provider's config (stored as config "
       "provider-config/<provider>, versioned, config.changed); answers it with env masked.",
       body=ProviderConfig, answers={200: ProviderSettings, 404: "not a provider"})
def put_settings(provider, body: ProviderConfig):
    entry, _ = put_entry(NS, known(provider), body.model_dump(exclude_none=True), None, None)
    return answer(settings_of(provider, entry, False))
