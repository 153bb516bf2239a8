"""`--brain archetype`: the language model asked once per (archetype, shelf), not per persona.

The population is clustered into archetypes and the catalogue into shelves
(`archetypes.py`). The model is asked how much an archetype would want an item
of each shelf — its medoid's system prompt, the shelves as example titles, 1–5
stars each, `per_call` shelves to a call — and the answer is kept for the run,
so the whole run costs at most archetypes × shelves / per_call calls, however
many personas there are. Each persona still decides its own page: its click
log-odds are its utility brain's plus `weight` × (stars − mean stars) / 2 for
the item's shelf in its archetype's answer (the mean of the call's answers, so
a lenient model moves no click on average), drawn with its own keyed generator; ratings,
when it leaves and everything else stay the utility brain's. With weight 0 it
is the utility brain.

Every page goes to the broker as a request, answered from the kept answers
when they are there: a decision is a function of the request and the model's
answers only, so a resumed run decides the same whether or not it asked anew.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from personas.schema import Persona
from simulator.core.protocols import Failure
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import Act, ActionSpace
from simulator.domains.recsys.brains.archetypes import ArchetypeConfig, Archetypes, Shelves
from simulator.domains.recsys.brains.llm import LLMBrain
from simulator.domains.recsys.brains.schemas import ratings_schema
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Decision, DecisionRequest, SessionState
from simulator.domains.recsys.perception import Observation
from simulator.llm import LLM, CallTag, LLMFailure
from simulator.minds.memory import Recall
from simulator.prompts import render

_EDGE = 1e-12  # keeps a stored click probability's log-odds finite


class ArchetypeBrain:
    """The utility brain, its click log-odds moved by the archetype's answer."""

    rates = False  # the calibrated rating model rates

    def __init__(
        self,
        catalog: Catalog,
        params: UtilityParams,
        llm: LLM,
        personas: Sequence[Persona],
        config: ArchetypeConfig,
        seed: int,
    ) -> None:
        self.catalog = catalog
        self.llm = llm
        self.config = config
        self.utility = UtilityBrain(catalog, params)
        self.words = LLMBrain(catalog, params, llm)  # the persona prompt and the item lines
        self.archetypes = Archetypes.fit(personas, config.count, seed)
        self.shelves = Shelves.fit(catalog, config.shelves, config.examples, seed)
        self.streams = Streams(seed)
        self._member: dict[str, int] = {}
        self._answers: dict[tuple[int, int], np.ndarray] = {}  # (archetype, call) -> stars
        self._asking: dict[tuple[int, int], asyncio.Task[np.ndarray]] = {}

    def archetype_of(self, persona: Persona) -> int:
        """The persona's archetype (kept: the assignment is a pure function of the persona)."""
        if persona.id not in self._member:
            self._member[persona.id] = self.archetypes.of(persona)
        return self._member[persona.id]

    # --- on the clock -----------------------------------------------------------------------
    def prepare(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Act] | DecisionRequest:
        """The utility brain's scores of the page and a seed for its draws, as a request."""
        logits, expected = self.utility.scores(persona, observation, recall, session.clicks)
        views = observation.examined_items()
        probabilities = np.clip(1.0 / (1.0 + np.exp(-logits)), _EDGE, 1.0 - _EDGE)
        return DecisionRequest(
            persona_id=persona.id,
            t=observation.t,
            observation=observation,
            session=session,
            space=space,
            seed=int(rng.integers(2**31 - 1)),
            priors={v.item_id: float(p) for v, p in zip(views, probabilities, strict=True)},
            expected={v.item_id: float(e) for v, e in zip(views, expected, strict=True)},
            fallback=[],
        )

    # --- off the clock ----------------------------------------------------------------------
    async def deliberate(
        self, request: DecisionRequest, persona: Persona, mind: Any
    ) -> Decision | Failure:
        """The page decided by the persona's own draws over the shifted log-odds."""
        items = [v.item_id for v in request.observation.examined_items()]
        try:
            shift = await self.shift(persona, items, request.space)
        except LLMFailure as failure:
            return Failure(reason=failure.reason, detail=failure.detail)
        p = np.array([request.priors[i] for i in items])
        logits = np.log(p) - np.log1p(-p) + shift
        expected = np.array([request.expected[i] for i in items])
        rng = np.random.default_rng(request.seed)
        actions = self.utility.choose(
            persona, request.observation, logits, expected, request.session, request.space, rng
        )
        return Decision(actions=actions, reviews={})

    async def shift(self, persona: Persona, items: list[int], space: ActionSpace) -> np.ndarray:
        """The log-odds the persona's archetype adds to each item."""
        stars = await self.appeal(self.archetype_of(persona), items, space)
        return self.config.weight * stars / 2.0

    async def appeal(self, archetype: int, items: list[int], space: ActionSpace) -> np.ndarray:
        """The archetype's stars for each item's shelf, less the mean of the call that gave them."""
        shelves = self.shelves.of_row[self.catalog.index(items)]
        per = self.config.per_call
        calls = sorted({int(s) // per for s in shelves})
        await asyncio.gather(*(self._call(archetype, c, space) for c in calls))
        return np.array([self._answers[(archetype, int(s) // per)][int(s) % per] for s in shelves])

    async def _call(self, archetype: int, call: int, space: ActionSpace) -> None:
        key = (archetype, call)
        if key in self._answers:
            return
        task = self._asking.get(key)
        # Pages waiting on the same call share it; a failed call is asked again later.
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(self._ask(archetype, call, space))
            self._asking[key] = task
        try:
            self._answers[key] = await task
        finally:
            if self._asking.get(key) is task and task.done():
                del self._asking[key]

    def shelf_lines(self, shelves: range) -> list[str]:
        """`[n] title (year), title (year), ... - genre, genre` for each shelf."""
        c, lines = self.catalog, []
        for shelf in shelves:
            rows = c.index(list(self.shelves.examples[shelf]))
            titles = ", ".join(
                f"{c.titles[r]} ({c.years[r]})" if c.years[r] else str(c.titles[r]) for r in rows
            )
            genres = ", ".join(self.shelves.genres[shelf])
            lines.append(f"[{shelf + 1}] {titles}" + (f" - {genres}" if genres else ""))
        return lines

    async def _ask(self, archetype: int, call: int, space: ActionSpace) -> np.ndarray:
        per = self.config.per_call
        shelves = range(call * per, min((call + 1) * per, len(self.shelves)))
        user = render(
            "archetype_appeal", shelves=self.shelf_lines(shelves), words=self.catalog.words
        )
        medoid = self.archetypes.medoids[archetype]
        tag = CallTag(purpose="archetype", persona_id=f"archetype-{archetype}")
        seed = self.streams.integer_seed(f"archetype:{archetype}", f"call:{call}")
        answer = await self.llm.structured(
            self.words.chat(medoid, space, user),
            ratings_schema(len(shelves)),
            tag=tag,
            seed=seed,
            max_tokens=16 + 4 * len(shelves),  # room for every star, quoted and separated
        )
        stars = np.array(answer.value.model_dump()["ratings"], dtype=np.float64)
        # A model that gives everything 5 stars says nothing about this archetype's taste.
        return stars - stars.mean()

    # --- the fidelity bench's tasks ---------------------------------------------------------
    async def watch_list(
        self, persona: Persona, item_ids: list[int], space: ActionSpace, *, seed: int
    ) -> np.ndarray:
        """The list task: the utility brain's watch probabilities, shifted by the archetype."""
        p = np.clip(self.utility.watch_probabilities(persona, item_ids), _EDGE, 1.0 - _EDGE)
        logits = np.log(p) - np.log1p(-p) + await self.shift(persona, item_ids, space)
        result: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return result

    async def rate_items(
        self, persona: Persona, item_ids: list[int], space: ActionSpace, *, seed: int
    ) -> list[float]:
        """Ratings stay the calibrated model's."""
        scale = space.rating_scale
        if scale is None:
            raise ValueError("the list task's ratings need rated data; this data is implicit")
        return [self.utility.predicted_rating(persona, item, scale) for item in item_ids]

    def summary(self) -> dict[str, Any]:
        """What was clustered and how much was asked, for a bench or a manifest."""
        per = self.config.per_call
        return {
            "archetypes": len(self.archetypes),
            "sizes": list(self.archetypes.sizes),
            "shelves": len(self.shelves),
            "calls_answered": len(self._answers),
            "calls_at_most": len(self.archetypes) * math.ceil(len(self.shelves) / per),
            "weight": self.config.weight,
        }
