"""One page for every persona due: perception and the utility brain, by the array.

The rules are the per-agent engine's (`perception.Perception.perceive`,
`brains.utility.UtilityBrain.decide`, the agent's timing and return): slots are
examined with probability (k+1)^-decay within the persona's span, each examined
slot is clicked with the choice model's probability (fatigue rising with every
click), a click is followed by its rating (or count), the persona may leave
after each item and after the page. Every draw is addressed
(`simulator.core.keyed`) by persona, session, page, slot and purpose.

Memory is the one approximation: familiarity is the cosine of an item's genres
with the recency- plus importance-weighted mean of what the persona rated (decayed
sums, `population.BrowseState`), where the episodic memory takes its top
entries; `simfolk bench scale` holds the two engines' traces against each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from personas.datasets import RatingScale
from simulator.core.keyed import exponentials, normals, uniforms
from simulator.domains.recsys.brains.utility import FEATURES, UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.columnar.population import BrowseState, PopulationArrays
from simulator.domains.recsys.config import RunConfig

# Purposes: the last counter of every draw's address.
EXAMINE, CLICK, HAZARD, NOISE, T_EXAMINE, T_CONSUME, LEAVE, NEXT_PAGE = range(10, 18)
ARRIVAL, CONTINUE, PAGE_LOAD = 1, 2, 3
_MAX_LOG_COUNT = 20.0


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


@dataclass(frozen=True)
class PageEvents:
    """Events of one batch of pages (flat; `b` is the persona's place in the batch)."""

    b: np.ndarray
    kind: np.ndarray  # EventKind values (object)
    t: np.ndarray
    position: np.ndarray  # -1: none
    item_id: np.ndarray  # -1: none
    examined: np.ndarray  # impressions only; else False
    rating: np.ndarray  # NaN: none
    count: np.ndarray  # -1: none
    reason: np.ndarray  # object; None: none
    order: np.ndarray  # within the persona's page: impressions, then actions, then the end


@dataclass(frozen=True)
class PageOutcome:
    """What each persona of the batch ends the page with."""

    left: np.ndarray  # bool: the session ended on this page
    end_t: np.ndarray  # when the last action (or the leave) happened
    clicks: np.ndarray  # clicks (= ratings) on this page
    liked: np.ndarray  # the sum of the ratings' z-scores
    events: PageEvents
    rated_b: np.ndarray  # one row per rating: who, which catalogue row, value, when, importance
    rated_row: np.ndarray
    rated_value: np.ndarray
    rated_t: np.ndarray
    rated_importance: np.ndarray


class PageModel:
    """The page rules over a population's arrays."""

    def __init__(
        self,
        config: RunConfig,
        catalog: Catalog,
        population: PopulationArrays,
        rating_scale: RatingScale | None,
    ) -> None:
        self.config = config
        self.params: UtilityParams = config.utility
        self.catalog = catalog
        self.population = population
        self.scale = rating_scale
        norms = np.linalg.norm(catalog.genre_matrix, axis=1, keepdims=True)
        self.genre_unit = np.divide(
            catalog.genre_matrix, norms, out=np.zeros_like(catalog.genre_matrix), where=norms > 0
        )
        self.decay = math.log(2) / (config.memory.half_life_days * 86400.0)

    def familiarity(
        self, state: BrowseState, idx: np.ndarray, rows: np.ndarray, t: np.ndarray
    ) -> np.ndarray:
        """Cosine of each slot's genres with the persona's remembered profile (0: no memory)."""
        fade = np.exp(-self.decay * np.maximum(t - state.remembered_at[idx], 0.0))
        profile = state.recency[idx] * fade[:, None] + state.importance[idx]
        total = state.recency_total[idx] * fade + state.importance_total[idx]
        score = np.einsum("bkg,bg->bk", self.genre_unit[rows], profile)
        result: np.ndarray = np.divide(
            score, total[:, None], out=np.zeros_like(score), where=total[:, None] > 0
        )
        return result

    def features(self, idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(batch, slots, FEATURES) as `UtilityBrain.features` computes them."""
        pop, catalog = self.population, self.catalog
        taste = np.einsum("bkd,bd->bk", catalog.factors[rows], pop.factors[idx])
        affinity = np.einsum("bkd,bd->bk", catalog.choice_factors[rows], pop.choice[idx])
        current = np.einsum("bkd,bd->bk", catalog.choice_factors[rows], pop.recent_choice[idx])
        genre = np.einsum("bkg,bg->bk", catalog.genre_matrix[rows], pop.genre_affinity[idx])
        popularity = catalog.popularity[rows]
        until = np.broadcast_to(pop.until[idx][:, None], rows.shape)
        recent = np.log1p(catalog.recent_counts(rows.ravel(), until=until.ravel())).reshape(
            rows.shape
        )
        conformist = pop.conformity[idx][:, None] * popularity
        return np.stack([taste, affinity, current, genre, popularity, conformist, recent], axis=-1)

    def decide(
        self, state: BrowseState, idx: np.ndarray, t: np.ndarray, slates: np.ndarray
    ) -> PageOutcome:
        """Perceive and decide the pages `slates` (item ids, -1 padded) shown at `t`."""
        p, pop, config = self.params, self.population, self.config
        n, k = slates.shape
        keys, session, page = pop.keys[idx][:, None], state.session[idx], state.page[idx]
        s, g = session[:, None], page[:, None]
        slot = np.arange(k)[None, :]
        valid = slates >= 0
        rows = np.zeros(slates.shape, dtype=np.int64)
        rows[valid] = self.catalog.index(slates[valid])
        seen = (
            uniforms(keys, s, g, slot, EXAMINE) < (slot + 1.0) ** -config.perception.position_decay
        )
        examined = valid & seen & (slot < pop.span[idx][:, None])

        f = self.features(idx, rows)
        names = {name: j for j, name in enumerate(FEATURES)}
        expected = (
            pop.rating_mean[idx][:, None]
            + p.rating_intercept
            + p.rating_taste * f[..., names["taste"]]
            + p.rating_item_bias * self.catalog.item_bias[rows]
            + p.rating_genre * f[..., names["genre"]]
        )
        if "genres" not in config.perception.fields:  # the click sees only the page
            f[..., names["genre"]] = 0.0
        logits = (
            p.intercept
            + f @ p.choice_coefficients()
            + p.position / (slot + 1.0)
            - p.fatigue * state.clicks[idx][:, None]
            + p.memory
            * (1.0 - 2.0 * pop.diversity[idx])[:, None]
            * self.familiarity(state, idx, rows, t)
        )
        u_click, u_stop = uniforms(keys, s, g, slot, CLICK), uniforms(keys, s, g, slot, HAZARD)
        hazard = 1.0 / pop.items_per_session[idx]
        alive = valid.any(axis=1)
        empty = ~alive  # nothing to show: the persona leaves bored at once
        satisfied = np.zeros(n, dtype=bool)
        clicked = np.zeros((n, k), dtype=bool)
        on_page = np.zeros(n, dtype=np.int64)
        for j in range(k):
            chance = _sigmoid(logits[:, j] - p.fatigue * on_page)
            hit = alive & examined[:, j] & (u_click[:, j] < chance)
            clicked[:, j] = hit
            on_page += hit
            stop = hit & (u_stop[:, j] < hazard)
            satisfied |= stop
            alive &= ~stop

        value = (
            expected
            + normals(keys, s, g, slot, NOISE) * p.rating_noise * (pop.rating_spread[idx][:, None])
        )
        if self.scale is None:
            value = np.maximum(1.0, np.round(np.expm1(np.minimum(value, _MAX_LOG_COUNT))))
            felt = np.log1p(value)
        else:
            low, step, high = self.scale.low, self.scale.step, self.scale.high
            value = np.clip(low + np.round((value - low) / step) * step, low, high)
            felt = value
        timing = config.timing
        look = exponentials(keys, s, g, slot, T_EXAMINE) * timing.examine * clicked
        watch = exponentials(keys, s, g, slot, T_CONSUME) * timing.consume * clicked
        elapsed = np.cumsum(look + watch, axis=1)
        click_t = t[:, None] + elapsed - watch
        rate_t = t[:, None] + elapsed
        end_t = t + elapsed[:, -1]

        clicked_any = on_page > 0
        leave_logit = (
            p.leave_after_page
            + p.leave_no_click * ~clicked_any
            + p.leave_patience * pop.patience[idx]
        )
        fatigued = alive & (page + 1 >= p.max_pages)
        chose = (
            alive
            & ~fatigued
            & (uniforms(pop.keys[idx], session, page, LEAVE) < _sigmoid(leave_logit))
        )
        left = empty | satisfied | fatigued | chose
        reason = np.where(
            empty,
            "bored",
            np.where(fatigued, "fatigued", np.where(clicked_any, "satisfied", "bored")),
        )

        mean, spread = pop.rating_mean[idx][:, None], pop.rating_spread[idx][:, None]
        z = (felt - mean) / spread
        importance = np.minimum(np.abs(felt - mean) / (2.0 * spread), 1.0)
        events = self._events(
            valid, examined, clicked, slates, t, click_t, rate_t, value, left, end_t, reason
        )
        rb, rk = np.nonzero(clicked)
        return PageOutcome(
            left=left,
            end_t=end_t,
            clicks=on_page,
            liked=(z * clicked).sum(axis=1),
            events=events,
            rated_b=rb,
            rated_row=rows[rb, rk],
            rated_value=value[rb, rk],
            rated_t=rate_t[rb, rk],
            rated_importance=importance[rb, rk],
        )

    def _events(
        self,
        valid: np.ndarray,
        examined: np.ndarray,
        clicked: np.ndarray,
        slates: np.ndarray,
        t: np.ndarray,
        click_t: np.ndarray,
        rate_t: np.ndarray,
        value: np.ndarray,
        left: np.ndarray,
        end_t: np.ndarray,
        reason: np.ndarray,
    ) -> PageEvents:
        ib, ik = np.nonzero(valid)
        cb, ck = np.nonzero(clicked)
        lb = np.flatnonzero(left)
        k = slates.shape[1]
        rated = "consume" if self.scale is None else "rate"
        none = np.full(len(cb), -1)

        def part(kind: str, b: np.ndarray, **cols: np.ndarray) -> dict[str, np.ndarray]:
            return {"kind": np.full(len(b), kind, dtype=object), "b": b, **cols}

        parts = [
            part("impression", ib, t=t[ib], position=ik, item_id=slates[ib, ik],
                 examined=examined[ib, ik], order=ik),
            part("click", cb, t=click_t[cb, ck], position=ck, item_id=slates[cb, ck],
                 order=k + 2 * ck),
            part(rated, cb, t=rate_t[cb, ck], position=none, item_id=slates[cb, ck],
                 rating=value[cb, ck] if self.scale is not None else np.full(len(cb), np.nan),
                 count=value[cb, ck].astype(np.int64) if self.scale is None else none,
                 order=k + 2 * ck + 1),
            part("leave", lb, t=end_t[lb], reason=reason[lb], order=np.full(len(lb), 3 * k)),
            part("session_end", lb, t=end_t[lb], reason=reason[lb],
                 order=np.full(len(lb), 3 * k + 1)),
        ]  # fmt: skip
        sizes = [len(x["b"]) for x in parts]
        total = sum(sizes)

        def column(name: str, fill: Any, dtype: Any) -> np.ndarray:
            chunks = [
                x.get(name, np.full(size, fill)) for x, size in zip(parts, sizes, strict=True)
            ]
            return np.concatenate(chunks).astype(dtype) if total else np.zeros(0, dtype=dtype)

        return PageEvents(
            b=column("b", -1, np.int64),
            kind=column("kind", None, object),
            t=column("t", 0.0, np.float64),
            position=column("position", -1, np.int64),
            item_id=column("item_id", -1, np.int64),
            examined=column("examined", False, bool),
            rating=column("rating", np.nan, np.float64),
            count=column("count", -1, np.int64),
            reason=column("reason", None, object),
            order=column("order", 0, np.int64),
        )

    def gap(
        self,
        idx: np.ndarray,
        session: np.ndarray,
        ratings: np.ndarray | None = None,
        liked: np.ndarray | None = None,
    ) -> np.ndarray:
        """Seconds to the next session after session `session` (-1: before the first).

        After a session (`ratings` and `liked` given) the mean gap moves with what it held.
        """
        pop, p = self.population, self.params
        mean = 86400.0 / pop.rate[idx]
        if ratings is not None and liked is not None:
            engagement = np.log1p(ratings) - np.log1p(pop.items_per_session[idx])
            satisfaction = np.divide(liked, ratings, out=np.zeros(len(idx)), where=ratings > 0)
            mean = mean * np.exp(
                p.return_engagement * engagement + p.return_satisfaction * satisfaction
            )
        result: np.ndarray = exponentials(pop.keys[idx], session + 1, ARRIVAL) * mean
        return result
