"""Provider config: one settings object per provider, claude and codex."""
from typing import Literal

from ..contract import Answer, Query
from .common import Int, QBool, Text
from .config import ProviderConfig
from .policies import PROVIDERS


class ProviderConfigPut(ProviderConfig):
    # The provider's settings themselves, with the config store's two extras
    # beside them. No docstring: it would become the rule an error states.
    updatedBy: Text(200) | None = None
    expectedVersion: Int(0, 2**53) | None = None

    def value(self) -> dict:
        return self.model_dump(include=set(ProviderConfig.model_fields), exclude_none=True)


class Reveal(Query):
    reveal: QBool = False


class ProviderSettings(Answer):
    """A provider's config; env values are "***" unless ?reveal=1. version 0 and
    updatedAt null: never set (the defaults)."""
    provider: Literal[PROVIDERS]
    model: str | None
    effort: str | None
    args: list[str]
    env: dict[str, str]
    version: int
    updatedBy: str | None
    updatedAt: int | None
