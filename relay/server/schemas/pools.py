"""Pools: what putting a pool takes and what a pool answers."""
from typing import Literal

from pydantic import Field

from ..contract import Answer, Body
from .agents import Agent
from .common import Id, LIST_MAX, Names

STRATEGIES = ("round-robin", "least-recent", "random")


class Selector(Body):
    tags: Names = []
    capabilities: Names = []
    labels: Names = []
    agentIds: list[Id] = Field([], max_length=LIST_MAX)


class PoolIn(Body):
    selector: Selector = Field(default_factory=Selector)
    strategy: Literal[STRATEGIES] = "round-robin"


class SelectorOut(Answer):
    tags: list[str]
    capabilities: list[str]
    labels: list[str]
    agentIds: list[str]


class Pool(Answer):
    name: str
    selector: SelectorOut
    strategy: Literal[STRATEGIES]
    members: list[Agent]
    online: int
    createdAt: int
    updatedAt: int
