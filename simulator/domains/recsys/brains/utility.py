"""The utility brain: a choice model, fast and LLM-free.

For each slot the persona examined, a click has log-odds
    intercept + coefficients·FEATURES (taste match, PureSVD affinity overall and
    for the latest items, genre affinity, popularity, popularity·conformity,
    recent popularity)
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

from personas.datasets import RatingScale
from personas.schema import Persona
from simulator.domains.recsys.actions import Act, ActionSpace, Click, Consume, Leave, Rate
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import SessionState
from simulator.domains.recsys.perception import Observation
from simulator.minds.memory import Recall

FEATURES = (
    "taste",
    "affinity",
    "recent_affinity",
    "genre",
    "popularity",
    "conformity_popularity",
    "recent",
)
RATING_FEATURES = ("taste", "item_bias", "genre")
_TASTE, _GENRE = FEATURES.index("taste"), FEATURES.index("genre")
_MAX_LOG_COUNT = 20.0  # log(1 + count) above this (5e8 plays) is a fit gone wrong: capped


class UtilityParams(BaseModel):
    """Coefficients of the choice, stop, rating and activity models.

    The defaults are priors; `simulator.domains.recsys.calibrate` fits the choice, rating and
    activity coefficients on the train part of a dataset.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Choice: log-odds of clicking an examined slot (browsing) or of "would watch" (a list task).
    intercept: float = -1.6
    watch_intercept: float = 0.0
    taste: float = 1.2
    affinity: float = 0.0
    recent_affinity: float = 0.0
    genre: float = 1.0
    popularity: float = 0.0
    conformity_popularity: float = 0.6
    recent: float = 0.0
    position: float = Field(default=0.4, description="prior: MovieLens logs no impressions")
    fatigue: float = 0.1
    memory: float = 0.6
    # Stop: leaving after a page.
    leave_after_page: float = -1.8
    leave_no_click: float = 1.2
    leave_patience: float = -1.0
    max_pages: int = Field(default=20, ge=1)
    # Rating: persona mean + intercept (drift: later ratings run lower) + these times
    # the rating features, plus noise.
    rating_intercept: float = 0.0
    rating_taste: float = 1.0
    rating_item_bias: float = 0.0
    rating_genre: float = 0.5
    rating_noise: float = Field(default=0.8, ge=0, description="noise sd as a share of spread")
    # Activity: sessions/day = exp(activity_intercept) * persona rate ** activity_slope.
    activity_intercept: float = 0.0
    activity_slope: float = 1.0
    # Returning: the log of the gap after a session moves by these times how much more the
    # session held than the persona's usual (log(1 + ratings) - log(1 + items_per_session))
    # and how much better it was than the persona's usual rating (mean z-score).
    return_engagement: float = 0.0
    return_satisfaction: float = 0.0
    # A persona starts at its train cutoff; a split by each user's own ratings usually cuts
    # a session in two, so this share of personas is mid-session at the run's start.
    continue_share: float = Field(default=0.0, ge=0, le=1)

    def choice_coefficients(self) -> np.ndarray:
        """Coefficients in FEATURES order."""
        return np.array([getattr(self, name) for name in FEATURES])

    def rating_coefficients(self) -> np.ndarray:
        """Coefficients in RATING_FEATURES order."""
        return np.array([getattr(self, f"rating_{name}") for name in RATING_FEATURES])


def sessions_per_day(persona: Persona, params: UtilityParams) -> float:
    """The persona's arrival rate, through the activity model."""
    rate = (
        math.exp(params.activity_intercept) * persona.traits.sessions_per_day**params.activity_slope
    )
    return min(max(rate, 1e-4), 48.0)


def gap_factor(persona: Persona, params: UtilityParams, ratings: int, liked: float) -> float:
    """How much longer than usual the persona stays away after a session.

    Args:
        persona: Who is leaving.
        params: The return coefficients.
        ratings: What the session held: items rated in it.
        liked: The sum of those ratings' z-scores against the persona's own mean and spread.

    Returns:
        The factor on the mean gap to the next session (1.0 for a usual session).
    """
    engagement = math.log1p(ratings) - math.log1p(persona.traits.items_per_session)
    satisfaction = liked / ratings if ratings else 0.0
    shift = params.return_engagement * engagement + params.return_satisfaction * satisfaction
    return math.exp(shift)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


class UtilityBrain:
    """Choice model over the examined slots of a page."""

    def __init__(self, catalog: Catalog, params: UtilityParams | None = None) -> None:
        self.catalog = catalog
        self.params = params or UtilityParams()

    def features(self, persona: Persona, rows: np.ndarray) -> np.ndarray:
        """The choice features (FEATURES order) of catalogue rows for this persona."""
        catalog = self.catalog
        taste, affinity, current = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
        if persona.taste.factor_space == catalog.space_id:
            if persona.taste.factors:
                taste = catalog.factors[rows] @ np.asarray(persona.taste.factors)
            if persona.taste.choice_factors:
                affinity = catalog.choice_factors[rows] @ np.asarray(persona.taste.choice_factors)
            if persona.taste.recent_choice_factors:
                recent_taste = np.asarray(persona.taste.recent_choice_factors)
                current = catalog.choice_factors[rows] @ recent_taste
        by_genre = persona.taste.genre_affinity
        genre = np.array(
            [
                np.mean([by_genre.get(g, 0.0) for g in catalog.genres[r]])
                if catalog.genres[r]
                else 0.0
                for r in rows
            ]
        )
        popularity = catalog.popularity[rows]
        now = persona.provenance.train_until or catalog.last_train_time
        recent = np.log1p(catalog.recent_counts(rows, until=now))
        return np.column_stack(
            [
                taste,
                affinity,
                current,
                genre,
                popularity,
                persona.traits.conformity * popularity,
                recent,
            ]
        )

    def rating_features(self, rows: np.ndarray, features: np.ndarray) -> np.ndarray:
        """The rating features (RATING_FEATURES order), from the rows' choice `features`."""
        return np.column_stack(
            [features[:, _TASTE], self.catalog.item_bias[rows], features[:, _GENRE]]
        )

    def expected_ratings(
        self, persona: Persona, rows: np.ndarray, features: np.ndarray | None = None
    ) -> np.ndarray:
        """Mean rating the persona would give each row, before noise and rounding."""
        if features is None:
            features = self.features(persona, rows)
        p = self.params
        centred: np.ndarray = self.rating_features(rows, features) @ p.rating_coefficients()
        return persona.rating.mean + p.rating_intercept + centred

    def watch_probabilities(self, persona: Persona, item_ids: list[int]) -> np.ndarray:
        """P(would watch) for each item of a list the persona reads whole (a list task)."""
        rows = self.catalog.index(item_ids)
        logits = (
            self.params.watch_intercept
            + self.features(persona, rows) @ self.params.choice_coefficients()
        )
        return _sigmoid(logits)

    def predicted_rating(self, persona: Persona, item_id: int, scale: RatingScale) -> float:
        """The rating the persona would most likely give, on the scale."""
        value = float(self.expected_ratings(persona, self.catalog.index([item_id]))[0])
        return scale.snap(value)

    def scores(
        self, persona: Persona, observation: Observation, recall: Recall, clicks: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Click log-odds and expected ratings of the examined slots."""
        p = self.params
        views = observation.examined_items()
        rows = self.catalog.index([v.item_id for v in views])
        f = self.features(persona, rows)
        # Ratings come after watching, when the genres are known; the click sees only the page.
        expected = self.expected_ratings(persona, rows, f)
        if views and views[0].genres is None:
            f[:, _GENRE] = 0.0
        positions = np.array([v.position for v in views], dtype=np.float64)
        logits = (
            p.intercept
            + f @ p.choice_coefficients()
            + p.position / (positions + 1.0)
            - p.fatigue * clicks
            + p.memory * (1.0 - 2.0 * persona.traits.diversity) * recall.familiarity
        )
        return logits, expected

    def rate(self, persona: Persona, expected: float, space: ActionSpace, draw: float) -> float:
        """A rating on the scale, the expected one plus the persona's noise.

        For implicit feedback (no scale) the persona's style and the expectation
        are of log(1 + count): the value is how many times, a whole number >= 1.
        """
        value = expected + draw * self.params.rating_noise * persona.rating.spread
        if space.rating_scale is None:
            return float(max(1, round(math.expm1(min(value, _MAX_LOG_COUNT)))))
        return space.rating_scale.snap(value)

    @staticmethod
    def after_click(item_id: int, value: float, space: ActionSpace) -> Rate | Consume:
        """What follows a click: the rating, or (implicit feedback) how many times."""
        if space.rating_scale is None:
            return Consume(item_id=item_id, count=int(value))
        return Rate(item_id=item_id, rating=value)

    def decide(
        self,
        persona: Persona,
        observation: Observation,
        recall: Recall,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Act]:
        """Clicks and ratings (or counts) in page order; maybe a Leave at the end."""
        logits, expected = self.scores(persona, observation, recall, session.clicks)
        return self.choose(persona, observation, logits, expected, session, space, rng)

    def choose(
        self,
        persona: Persona,
        observation: Observation,
        logits: np.ndarray,
        expected: np.ndarray,
        session: SessionState,
        space: ActionSpace,
        rng: np.random.Generator,
    ) -> list[Act]:
        """The page's actions from its examined slots' click log-odds and expected ratings."""
        p = self.params
        views = observation.examined_items()
        # A fixed number of draws per slot keeps the stream aligned across arms.
        draws = rng.random((len(views), 2))
        noise = rng.standard_normal(len(views))
        hazard = 1.0 / persona.traits.items_per_session
        clicks = session.clicks
        actions: list[Act] = []
        for i, view in enumerate(views):
            logit = logits[i] - p.fatigue * (clicks - session.clicks)
            if draws[i, 0] >= 1.0 / (1.0 + math.exp(-logit)):
                continue
            actions.append(Click(item_id=view.item_id, position=view.position))
            value = self.rate(persona, float(expected[i]), space, float(noise[i]))
            actions.append(self.after_click(view.item_id, value, space))
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
