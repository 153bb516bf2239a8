"""Brains by name: `utility` is the calibrated choice model; the others think in words.

`llm` asks the model for every page, `hybrid` where something tempts, and
`archetype` once per (cluster of personas, kind of item) for the whole run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from personas.schema import Persona
from simulator.core.registry import Registry
from simulator.domains.recsys.brains.archetypes import ArchetypeConfig
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Brain, DeliberateBrain

DEFAULT_ARCHETYPES = ArchetypeConfig()

if TYPE_CHECKING:
    from simulator.llm import LLM


@dataclass(frozen=True)
class BrainContext:
    """What a brain may be built from."""

    catalog: Catalog
    params: UtilityParams
    llm: LLM | None = None
    personas: Sequence[Persona] = ()  # the population (archetypes cluster it)
    archetypes: ArchetypeConfig = DEFAULT_ARCHETYPES
    seed: int = 0  # the run's root seed


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


def _archetype(context: BrainContext) -> DeliberateBrain:
    from simulator.domains.recsys.brains.archetype_brain import ArchetypeBrain

    llm = _needs_llm("archetype", context)
    return ArchetypeBrain(
        context.catalog, context.params, llm, context.personas, context.archetypes, context.seed
    )


BRAINS: Registry[[BrainContext], Brain | DeliberateBrain] = Registry("brain")
BRAINS.register("utility", _utility)
BRAINS.register("llm", _llm)
BRAINS.register("hybrid", _hybrid)
BRAINS.register("archetype", _archetype)
LLM_BRAINS = frozenset({"llm", "hybrid", "archetype"})
REFLECTIVE_BRAINS = frozenset({"llm", "hybrid"})  # those with a memory stream to reflect on


def brain_names() -> tuple[str, ...]:
    """Names `make_brain` accepts."""
    return BRAINS.names()


def check_brain_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered brain."""
    BRAINS.check(name)


def make_brain(
    name: str,
    catalog: Catalog,
    params: UtilityParams,
    llm: LLM | None = None,
    *,
    personas: Sequence[Persona] = (),
    archetypes: ArchetypeConfig = DEFAULT_ARCHETYPES,
    seed: int = 0,
) -> Brain | DeliberateBrain:
    """Build a brain by name, or say which names exist."""
    context = BrainContext(catalog, params, llm, personas, archetypes, seed)
    return BRAINS.make(name, context)


__all__ = [
    "BRAINS",
    "LLM_BRAINS",
    "REFLECTIVE_BRAINS",
    "BrainContext",
    "UtilityBrain",
    "UtilityParams",
    "brain_names",
    "check_brain_name",
    "make_brain",
]
