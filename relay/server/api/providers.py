"""Provider config: the claude and codex settings, kept in the config
store (namespace provider-config, so versions and history come with it)."""
from flask import Blueprint

from ..contract import route
from ..domain import config as domain
from ..domain.errors import NotFound
from ..masking import PROVIDER_CONFIG, masked_value
from ..schemas.policies import PROVIDERS
from ..schemas.providers import ProviderConfigPut, ProviderSettings, Reveal
from ..store import config
from . import answer, commit, conn, now

bp = Blueprint("providers", __name__, url_prefix="/api/providers")

UNKNOWN = "unknown provider (claude or codex)"


def known(provider: str) -> str:
    if provider not in PROVIDERS:
        raise NotFound(f"provider {provider} not found: it must be one of " + ", ".join(PROVIDERS))
    return provider


def settings(provider: str, entry: dict | None, reveal: bool) -> dict:
    value = entry["value"] if entry else {}
    if not reveal:
        value = masked_value(value)
    return {"provider": provider, "model": value.get("model"), "effort": value.get("effort"),
            "args": value.get("args", []), "env": value.get("env", {}),
            "version": entry["version"] if entry else 0,
            "updatedBy": entry["updatedBy"] if entry else None,
            "updatedAt": entry["updatedAt"] if entry else None}


@route(bp, "GET", "/config", "Both providers' config, claude then codex; a provider never set "
       "shows the defaults (args [], env {}, version 0). env values read \"***\" unless "
       "?reveal=1.", query=Reveal, answers={200: [ProviderSettings]})
def list_configs(query: Reveal):
    c = conn()
    return answer([settings(p, config.get(c, PROVIDER_CONFIG, p), query.reveal) for p in PROVIDERS])


@route(bp, "GET", "/<provider>/config", "One provider's config (the defaults when never set). "
       "env values read \"***\" unless ?reveal=1.", query=Reveal,
       answers={200: ProviderSettings, 404: UNKNOWN})
def get_config(provider, query: Reveal):
    return answer(settings(known(provider), config.get(conn(), PROVIDER_CONFIG, provider),
                           query.reveal))


@route(bp, "PUT", "/<provider>/config", "Replace a provider's config ({model?, effort?, args[], "
       "env{}} plus updatedBy?, expectedVersion?): the config store entry provider-config/"
       "<provider>, so versions and history (GET /api/config/provider-config/<provider>/history, "
       "env masked there) come with it. 201 the first time (or after a delete), else 200; a stale "
       "expectedVersion is 409. Emits config.changed. The answer masks env unless ?reveal=1.",
       body=ProviderConfigPut, query=Reveal,
       answers={201: ProviderSettings, 200: ProviderSettings, 404: UNKNOWN,
                409: "expectedVersion is not current"})
def put_config(provider, body: ProviderConfigPut, query: Reveal):
    value, t = domain.checked_value(PROVIDER_CONFIG, known(provider), body.value()), now()
    entry, created = commit(lambda c: domain.put(c, PROVIDER_CONFIG, provider, value,
                                                 body.updatedBy, body.expectedVersion, t))
    return answer(settings(provider, entry, query.reveal), 201 if created else 200)
