"""The utility brain: a choice model, fast and LLM-free.

For each slot the persona examined, a click has log-odds
    intercept + taste·(u·v) + genre·affinity + popularity·conformity·pop
    + position/(k+1) - fatigue·clicks + memory·(1-2·diversity)·familiarity,
so the taste match, the crowd's pull (scaled by how conformist the persona
is), position, fatigue and familiarity all move the choice. After each item
the persona leaves with hazard 1/items_per_session (so sessions hold that many
items on average); after a page with no click, boredom may end it.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from personas.schema import Persona
from simulator.actions import ActionSpace, Click, Leave, Rate
from simulator.catalog import Catalog
from simulator.interfaces import SessionState
from simulator.memory import Recall
from simulator.perception import Observation


class UtilityParams(BaseModel):
    """Coefficients of the choice, stop and rating models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intercept: float = -1.6
    taste: float = 1.2
    genre: float = 1.0
    popularity: float = 0.6
    position: float = 0.4
    fatigue: float = 0.1
    memory: float = 0.6
    leave_after_page: float = -1.8
    leave_no_click: float = 1.2
    leave_patience: float = -1.0
    max_pages: int = Field(default=20, ge=1)
    rating_noise: float = Field(default=0.8, ge=0, description="noise sd as a share of spread")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


class UtilityBrain:
    """Choice model over the examined slots of a page."""

    def __init__(self, catalog: Catalog, params: UtilityParams | None = None) -> None:
        self.catalog = catalog
        self.params = params or UtilityParams()

    def scores(
        self, persona: Persona, observation: Observation, recall: Recall, clicks: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Click log-odds and predicted centred ratings of the examined slots."""
        p = self.params
        views = observation.examined_items()
        rows = self.catalog.index([v.item_id for v in views])
        taste = np.zeros(len(views))
        if persona.taste.factors and persona.taste.factor_space == self.catalog.space_id:
            taste = self.catalog.factors[rows] @ np.asarray(persona.taste.factors)
        affinity = persona.taste.genre_affinity
        genre = np.array(
            [np.mean([affinity.get(g, 0.0) for g in v.genres]) if v.genres else 0.0 for v in views]
        )
        positions = np.array([v.position for v in views], dtype=np.float64)
        logits = (
            p.intercept
            + p.taste * taste
            + p.genre * genre
            + p.popularity * persona.traits.conformity * self.catalog.popularity[rows]
            + p.position / (positions + 1.0)
            - p.fatigue * clicks
            + p.memory * (1.0 - 2.0 * persona.traits.diversity) * recall.familiarity
        )
        return logits, taste + 0.5 * genre

    def rate(self, persona: Persona, centred: float, space: ActionSpace, draw: float) -> float:
        """A rating on the scale from the persona's mean, the taste match and noise."""
        scale = space.rating_scale
        value = (
            persona.rating.mean + centred + draw * self.params.rating_noise * persona.rating.spread
        )
        snapped = scale.low + round((value - scale.low) / scale.step) * scale.step
        return float(min(max(snapped, scale.low), scale.high))

    def decide(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Click | Rate | Leave]:
        """Clicks and ratings in page order; maybe a Leave at the end."""
        p = self.params
        views = observation.examined_items()
        logits, centred = self.scores(persona, observation, recall, session.clicks)
        # A fixed number of draws per slot keeps the stream aligned across arms.
        draws = rng.random((len(views), 2))
        noise = rng.standard_normal(len(views))
        hazard = 1.0 / persona.traits.items_per_session
        clicks = session.clicks
        actions: list[Click | Rate | Leave] = []
        for i, view in enumerate(views):
            logit = logits[i] - p.fatigue * (clicks - session.clicks)
            if draws[i, 0] >= 1.0 / (1.0 + math.exp(-logit)):
                continue
            actions.append(Click(item_id=view.item_id, position=view.position))
            rating = self.rate(persona, float(centred[i]), space, float(noise[i]))
            actions.append(Rate(item_id=view.item_id, rating=rating))
            clicks += 1
            if draws[i, 1] < hazard:
                actions.append(Leave(reason="satisfied"))
                return actions
        clicked = clicks > session.clicks
        leave_logit = (
            p.leave_after_page
            + p.leave_no_click * (not clicked)
            + p.leave_patience * persona.traits.patience
        )
        if session.page + 1 >= p.max_pages:
            actions.append(Leave(reason="fatigued"))
        elif rng.random() < float(_sigmoid(np.array(leave_logit))):
            actions.append(Leave(reason="satisfied" if clicked else "bored"))
        return actions
