"""Brains by name: `utility` is the calibrated choice model; `llm` and `hybrid` think in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator.core.registry import Registry
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Brain, DeliberateBrain

if TYPE_CHECKING:
    from simulator.llm import LLM


@dataclass(frozen=True)
class BrainContext:
    """What a brain may be built from."""

    catalog: Catalog
    params: UtilityParams
    llm: LLM | None = None


def _needs_llm(name: str, context: BrainContext) -> LLM:
    if context.llm is None:
        raise ValueError(f"brain {name!r} needs a language model: give --model (e.g. local)")
    return context.llm


def _utility(context: BrainContext) -> Brain:
    return UtilityBrain(context.catalog, context.params)


def _llm(context: BrainContext) -> DeliberateBrain:
    from simulator.domains.recsys.brains.llm import LLMBrain  # langgraph loads only when asked for

    return LLMBrain(context.catalog, context.params, _needs_llm("llm", context))


def _hybrid(context: BrainContext) -> DeliberateBrain:
    from simulator.domains.recsys.brains.llm import HybridBrain

    return HybridBrain(context.catalog, context.params, _needs_llm("hybrid", context))


BRAINS: Registry[[BrainContext], Brain | DeliberateBrain] = Registry("brain")
BRAINS.register("utility", _utility)
BRAINS.register("llm", _llm)
BRAINS.register("hybrid", _hybrid)
LLM_BRAINS = frozenset({"llm", "hybrid"})


def brain_names() -> tuple[str, ...]:
    """Names `make_brain` accepts."""
    return BRAINS.names()


def check_brain_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered brain."""
    BRAINS.check(name)


def make_brain(
    name: str, catalog: Catalog, params: UtilityParams, llm: LLM | None = None
) -> Brain | DeliberateBrain:
    """Build a brain by name, or say which names exist."""
    return BRAINS.make(name, BrainContext(catalog=catalog, params=params, llm=llm))


__all__ = [
    "BRAINS",
    "LLM_BRAINS",
    "BrainContext",
    "UtilityBrain",
    "UtilityParams",
    "brain_names",
    "check_brain_name",
    "make_brain",
]
