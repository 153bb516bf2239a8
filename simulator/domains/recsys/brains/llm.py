"""Brains that think in words: a LangGraph graph, perceive → recall → decide → reflect.

`LLMBrain` asks the language model for every page. `HybridBrain` keeps the
routine on the calibrated utility brain — pages where it would click nothing
are decided at once, with no call — and where something tempts the persona it
asks the model which item to watch, showing the utility brain's click
probabilities as priors; the rating stays the calibrated one and the model
writes the review. Both answer under the page's own action schema: the item
ids actually shown as an enum, a rating 1–5, a bounded review, leave or stay.

Each node is a plain async function of the graph state, replaceable by name
(`nodes={"decide": my_decide}`), so a study can swap how a persona recalls or
reflects without touching the rest.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypedDict, cast

import numpy as np
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel

from personas.schema import Persona
from simulator.core.protocols import Failure
from simulator.domains.recsys.actions import Act, ActionSpace, Click, Leave
from simulator.domains.recsys.brains.schemas import (
    from_five,
    list_schema,
    page_schema,
    ratings_schema,
    to_five,
)
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Decision, DecisionRequest, SessionState
from simulator.domains.recsys.perception import Observation
from simulator.llm import LLM, CallTag, LLMFailure
from simulator.minds.memory import Recall
from simulator.minds.reflective_types import Insights
from simulator.prompts import render

BACKSTORY_CHARS = 280  # the static prompt part stays short: tokens are the budget
REFLECT_TOKENS = 256  # up to three insights of 200 characters, with their citations


class Thought(TypedDict, total=False):
    """The graph's state while one page is decided."""

    request: DecisionRequest
    persona: Persona
    mind: Any
    items: list[str]
    memories: list[str]
    outcome: Decision | Failure
    failures: list[Failure]


Node = Callable[[Thought], Awaitable[dict[str, Any]]]
NODES = ("perceive", "recall", "decide", "reflect")


class LLMBrain:
    """Every page decided by the language model, through the broker."""

    rates = True  # the model gives the rating too

    def __init__(
        self,
        catalog: Catalog,
        params: UtilityParams,
        llm: LLM,
        *,
        nodes: Mapping[str, Node] | None = None,
        recall_k: int = 3,
    ) -> None:
        unknown = set(nodes or {}) - set(NODES)
        if unknown:
            raise ValueError(f"unknown graph nodes {sorted(unknown)}; the nodes are {NODES}")
        self.catalog = catalog
        self.params = params
        self.llm = llm
        self.recall_k = recall_k
        self.utility = UtilityBrain(catalog, params)
        chosen: dict[str, Node] = {
            "perceive": self.perceive,
            "recall": self.recall,
            "decide": self.decide,
            "reflect": self.reflect,
        }
        chosen.update(nodes or {})
        graph = StateGraph(Thought)
        for name in NODES:
            graph.add_node(name, cast(Any, chosen[name]))
        graph.add_edge(START, "perceive")
        for before, after in itertools.pairwise(NODES):
            graph.add_edge(before, after)
        graph.add_edge(NODES[-1], END)
        self.graph = graph.compile()

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
        """A request for every page but the last one a session may have."""
        if session.page + 1 >= self.params.max_pages:
            return [Leave(reason="fatigued")]
        return self._request(persona, observation, session, space, rng, {}, {}, [])

    def _request(
        self,
        persona: Persona,
        observation: Observation,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
        priors: dict[int, float],
        ratings: dict[int, float],
        fallback: list[Act],
    ) -> DecisionRequest:
        return DecisionRequest(
            persona_id=persona.id,
            t=observation.t,
            observation=observation,
            session=session,
            space=space,
            seed=int(rng.integers(2**31 - 1)),
            priors=priors,
            expected=ratings,
            fallback=fallback,
        )

    # --- off the clock ----------------------------------------------------------------------
    async def deliberate(
        self, request: DecisionRequest, persona: Persona, mind: Any
    ) -> Decision | Failure:
        """Run the graph for one page."""
        state = await self.graph.ainvoke(
            {"request": request, "persona": persona, "mind": mind, "failures": []}
        )
        outcome = cast(Decision | Failure, state["outcome"])
        failures = state.get("failures", [])
        if isinstance(outcome, Decision) and failures:
            return Decision(outcome.actions, outcome.reviews, tuple(failures))
        return outcome

    async def perceive(self, state: Thought) -> dict[str, Any]:
        """The examined items as lines of text, as the page showed them (priors, if any)."""
        request = state["request"]
        lines = [
            _line(view.item_id, view.title, view.year, view.genres, request.priors)
            for view in request.observation.examined_items()
        ]
        return {"items": lines}

    async def recall(self, state: Thought) -> dict[str, Any]:
        """What the persona remembers that bears on this page (simulated-time recency)."""
        mind = state["mind"]
        if mind is None:
            return {"memories": []}
        query = "; ".join(state["items"])
        entries = mind.recall(query, now=state["request"].t, k=self.recall_k)
        return {"memories": [entry.text for entry in entries]}

    def system_prompt(self, persona: Persona, space: ActionSpace) -> str:
        """The persona's static part: the same for every call it makes, so it comes first."""
        by_affinity = sorted(persona.taste.genre_affinity.items(), key=lambda kv: -kv[1])
        likes = ", ".join(g for g, a in by_affinity[:3] if a > 0) or "most things"
        dislikes = ", ".join(g for g, a in by_affinity[::-1][:2] if a < 0) or "little"
        return render(
            "decide_system",
            backstory=persona.backstory[:BACKSTORY_CHARS],
            likes=likes,
            dislikes=dislikes,
            # Implicit feedback has no rating to speak of: the line is left out.
            usual=f"{to_five(persona.rating.mean, space):.0f}" if space.rating_scale else "",
            words=self.catalog.words,
        )

    def item_lines(self, item_ids: list[int], priors: Mapping[int, float]) -> list[str]:
        """One line per catalogue item: id, title, year, genres (and the prior, if any)."""
        c = self.catalog
        return [
            _line(item, c.titles[row], c.years[row], c.genres[row], priors)
            for item, row in zip(item_ids, c.index(item_ids), strict=True)
        ]

    def chat(self, persona: Persona, space: ActionSpace, user: str) -> list[dict[str, str]]:
        """The persona's static part as the system message, then `user`."""
        return [
            {"role": "system", "content": self.system_prompt(persona, space)},
            {"role": "user", "content": user},
        ]

    def messages(self, state: Thought) -> list[dict[str, str]]:
        """The decide prompt: the persona's static part first, then this page."""
        persona, request = state["persona"], state["request"]
        user = render(
            "decide_page",
            memories=state.get("memories", []),
            page=request.session.page,
            clicks=request.session.clicks,
            items=state["items"],
            priors=bool(request.priors),
            rate=self.rates,
            words=self.catalog.words,
        )
        return self.chat(persona, request.space, user)

    async def decide(self, state: Thought) -> dict[str, Any]:
        """Ask for the page's answer under its schema; a failure is kept, never papered over."""
        request = state["request"]
        examined = [v.item_id for v in request.observation.examined_items()]
        schema = page_schema(examined, rate=self.rates)
        tag = CallTag(purpose="decide", persona_id=request.persona_id, t=request.t)
        try:
            answer = await self.llm.structured(
                self.messages(state), schema, tag=tag, seed=request.seed
            )
        except LLMFailure as failure:
            return {"outcome": Failure(reason=failure.reason, detail=failure.detail)}
        return {"outcome": self.actions(request, answer.value)}

    # --- the fidelity bench's tasks ---------------------------------------------------------
    def list_priors(self, persona: Persona, item_ids: list[int]) -> dict[int, float]:
        """Priors shown with a list task (none: the LLM brain judges alone)."""
        return {}

    async def watch_list(
        self, persona: Persona, item_ids: list[int], space: ActionSpace, *, seed: int
    ) -> np.ndarray:
        """The list task: 1 for each item the persona says it would watch, else 0."""
        priors = self.list_priors(persona, item_ids)
        user = render(
            "list_task",
            items=self.item_lines(item_ids, priors),
            priors=bool(priors),
            words=self.catalog.words,
        )
        messages = self.chat(persona, space, user)
        tag = CallTag(purpose="list_task", persona_id=persona.id)
        # Room for every id on the list, quoted and separated.
        tokens = 16 + 8 * len(item_ids)
        answer = await self.llm.structured(
            messages, list_schema(item_ids), tag=tag, seed=seed, max_tokens=tokens
        )
        chosen = {int(i) for i in answer.value.model_dump()["watch"]}
        return np.array([1.0 if item in chosen else 0.0 for item in item_ids])

    async def rate_items(
        self, persona: Persona, item_ids: list[int], space: ActionSpace, *, seed: int
    ) -> list[float]:
        """The ratings the persona would give these items, on the dataset's scale."""
        user = render("rate_items", items=self.item_lines(item_ids, {}), words=self.catalog.words)
        messages = self.chat(persona, space, user)
        tag = CallTag(purpose="rate_items", persona_id=persona.id)
        schema = ratings_schema(len(item_ids))
        answer = await self.llm.structured(messages, schema, tag=tag, seed=seed)
        return [from_five(r, space) for r in answer.value.model_dump()["ratings"]]

    def actions(self, request: DecisionRequest, answer: BaseModel) -> Decision:
        """The typed actions an answer means."""
        values = answer.model_dump()
        actions: list[Act] = []
        reviews: dict[int, str] = {}
        watched = values["watch"] != "none"
        if watched:
            item = int(values["watch"])
            actions.append(Click(item_id=item, position=request.space.item_ids.index(item)))
            value = self.rating(request, item, values)
            actions.append(UtilityBrain.after_click(item, value, request.space))
            if values["review"].strip():
                reviews[item] = values["review"].strip()
        if values["leave"]:
            actions.append(Leave(reason="satisfied" if watched else "bored"))
        return Decision(actions=actions, reviews=reviews)

    def rating(self, request: DecisionRequest, item: int, values: dict[str, Any]) -> float:
        """The model's 1–5 rating, on the dataset's scale."""
        if request.space.rating_scale is None:
            raise ValueError(
                "the llm brain rates what it picks, and this data has no ratings (implicit "
                "feedback): run it with --brain hybrid or utility, whose fitted model counts"
            )
        return from_five(values["rating"], request.space)

    async def reflect(self, state: Thought) -> dict[str, Any]:
        """When enough has happened, insights that cite their evidence (Generative Agents)."""
        mind, request = state["mind"], state["request"]
        if mind is None or not mind.reflection_due():
            return {}
        entries = mind.reflection_material(now=request.t)
        prompt = render("reflect", entries=entries)
        tag = CallTag(purpose="reflect", persona_id=request.persona_id, t=request.t)
        try:
            answer = await self.llm.structured(
                [{"role": "user", "content": prompt}],
                Insights,
                tag=tag,
                seed=request.seed,
                max_tokens=REFLECT_TOKENS,
            )
            mind.add_insights(answer.value.insights, t=request.t)
        except LLMFailure as failure:
            problem = Failure(failure.reason, failure.detail)
        except ValueError as error:  # an insight citing a line that is not there
            problem = Failure("evidence", str(error))
        else:
            return {}
        # A reflection that found nothing still counts as one, or every page would retry it.
        mind.add_insights([], t=request.t)
        return {"failures": [*state["failures"], problem]}


class HybridBrain(LLMBrain):
    """Routine on the calibrated utility brain; the model where something tempts."""

    rates = False  # the calibrated rating model rates

    def prepare(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Act] | DecisionRequest:
        """The utility brain's actions when it clicks nothing; else a request with its priors."""
        routine = self.utility.decide(persona, observation, recall, session, space, rng)
        if not any(isinstance(a, Click) for a in routine):
            return routine
        views = observation.examined_items()
        logits, expected = self.utility.scores(persona, observation, recall, session.clicks)
        noise = rng.standard_normal(len(views))
        priors = {
            v.item_id: 1.0 / (1.0 + math.exp(-float(x))) for v, x in zip(views, logits, strict=True)
        }
        ratings = {
            v.item_id: self.utility.rate(persona, float(e), space, float(z))
            for v, e, z in zip(views, expected, noise, strict=True)
        }
        return self._request(persona, observation, session, space, rng, priors, ratings, routine)

    def rating(self, request: DecisionRequest, item: int, values: dict[str, Any]) -> float:
        """The calibrated rating drawn on the clock."""
        return request.expected[item]

    def list_priors(self, persona: Persona, item_ids: list[int]) -> dict[int, float]:
        """The calibrated watch probabilities, shown as priors."""
        probabilities = self.utility.watch_probabilities(persona, item_ids)
        return {item: float(p) for item, p in zip(item_ids, probabilities, strict=True)}

    async def rate_items(
        self, persona: Persona, item_ids: list[int], space: ActionSpace, *, seed: int
    ) -> list[float]:
        """Ratings stay the calibrated model's: routine, not language."""
        scale = space.rating_scale
        if scale is None:
            raise ValueError("the list task's ratings need rated data; this data is implicit")
        return [self.utility.predicted_rating(persona, item, scale) for item in item_ids]

    def actions(self, request: DecisionRequest, answer: BaseModel) -> Decision:
        """The model's pick; whether the session ends stays the utility brain's call."""
        picked = super().actions(request, answer)
        keep = [a for a in picked.actions if not isinstance(a, Leave)]
        leave = [a for a in request.fallback if isinstance(a, Leave)]
        return Decision(actions=keep + leave, reviews=picked.reviews)


def _line(
    item: int,
    title: str | None,
    year: int | None,
    genres: tuple[str, ...] | None,
    priors: Mapping[int, float],
) -> str:
    """`[id] title (year) genres prior`, leaving out what the page did not show."""
    parts = [f"[{item}] {title or 'untitled'}"]
    if year:
        parts.append(f"({year})")
    if genres:
        parts.append(", ".join(genres))
    if item in priors:
        parts.append(f"{priors[item]:.2f}")
    return " ".join(parts)
