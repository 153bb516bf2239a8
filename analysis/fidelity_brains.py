"""What the fidelity bench asks of a brain, and a language model's answers gathered at once."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

import numpy as np

from analysis.fidelity_population import Population
from personas.datasets import RatingScale
from personas.schema import Persona
from simulator.domains.recsys.actions import ActionSpace
from simulator.domains.recsys.brains import make_brain
from simulator.domains.recsys.brains.utility import UtilityParams


@runtime_checkable
class ListTaskBrain(Protocol):
    """A brain that can answer the list task and predict a rating."""

    def watch_probabilities(self, persona: Persona, item_ids: list[int]) -> np.ndarray:
        """P(would watch) for each item of a list read whole."""
        ...

    def predicted_rating(self, persona: Persona, item_id: int, scale: RatingScale) -> float:
        """The rating the persona would most likely give, on the scale."""
        ...


class DeliberateTasks:
    """A brain that answers the tasks with a language model: all of a protocol's calls at once.

    A list or a rating the model could not give (after its repairs) is left out
    of the pooled figures and counted, never replaced by a guess.
    """

    def __init__(self, brain: Any, scale: RatingScale, seed: int) -> None:
        self.brain = brain
        self.space = ActionSpace(item_ids=(), rating_scale=scale)
        self.seed = seed
        self.loop = asyncio.new_event_loop()
        self.failed = {"lists": 0, "ratings": 0}

    def _all(self, coroutines: list[Any]) -> list[Any]:
        from simulator.llm import LLMFailure

        async def gather() -> list[Any]:
            return list(await asyncio.gather(*coroutines, return_exceptions=True))

        results = self.loop.run_until_complete(gather())
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, LLMFailure):
                raise result
        return [None if isinstance(r, BaseException) else r for r in results]

    def watch_many(self, tasks: list[tuple[Persona, list[int]]]) -> list[np.ndarray | None]:
        """The list task for every (persona, items) at once; None where the model failed."""
        answers = self._all(
            [
                self.brain.watch_list(persona, items, self.space, seed=self.seed + i)
                for i, (persona, items) in enumerate(tasks)
            ]
        )
        self.failed["lists"] += sum(a is None for a in answers)
        return answers

    def rate_many(self, rows: list[tuple[Persona, int]], chunk: int = 10) -> list[float | None]:
        """A rating for every (persona, item); None where the model failed."""
        by_persona: dict[str, list[int]] = {}
        personas: dict[str, Persona] = {}
        for index, (persona, _item) in enumerate(rows):
            by_persona.setdefault(persona.id, []).append(index)
            personas[persona.id] = persona
        jobs, slots = [], []
        for pid, indices in by_persona.items():
            for start in range(0, len(indices), chunk):
                part = indices[start : start + chunk]
                items = [rows[i][1] for i in part]
                jobs.append(
                    self.brain.rate_items(
                        personas[pid], items, self.space, seed=self.seed + part[0]
                    )
                )
                slots.append(part)
        predicted: list[float | None] = [None] * len(rows)
        for part, answer in zip(slots, self._all(jobs), strict=True):
            if answer is None:
                self.failed["ratings"] += len(part)
                continue
            for index, value in zip(part, answer, strict=True):
                predicted[index] = value
        return predicted

    def close(self) -> None:
        """Let the client finish its background work on the loop, then close the loop."""
        self.loop.run_until_complete(self.brain.llm.aclose())
        self.loop.close()


def list_brain(
    pop: Population, params: UtilityParams, llm: Any = None
) -> ListTaskBrain | DeliberateTasks:
    """The population's brain for the tasks; one with a language model, as DeliberateTasks."""
    config = pop.config
    brain = make_brain(
        config.brain,
        pop.prep.catalog,
        params,
        llm,
        personas=pop.personas,
        archetypes=config.archetypes,
        seed=config.seed,
    )
    if pop.prep.dataset.feedback == "implicit" and hasattr(brain, "watch_list"):
        raise ValueError(
            f"{pop.prep.dataset.name} has no ratings (implicit feedback: plays), and brain "
            f"{pop.config.brain!r} rates in words; bench it with --brain utility, whose "
            "fitted count model says how many times"
        )
    if hasattr(brain, "watch_list"):
        return DeliberateTasks(brain, pop.prep.dataset.scale, pop.config.seed)
    if not isinstance(brain, ListTaskBrain):
        raise ValueError(
            f"brain {pop.config.brain!r} cannot answer list tasks or predict ratings "
            "(it has no watch_probabilities/predicted_rating)"
        )
    return brain
