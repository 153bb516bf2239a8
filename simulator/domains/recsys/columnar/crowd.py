"""A crowd: a contiguous slice of the population, its browse state and its target.

Personas meet only through the target, and the target changes between refits
only by what each user does, so a population can be cut into crowds that step
side by side: each round, every crowd takes the steps of its personas due in
the slice and hands back their events (population-wide persona indices), the
ratings the next refit learns from and its counts. The world merges the rounds
into one trace in the order one crowd would have written (`shards` runs crowds
in this process or as Ray actors).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from personas.datasets import RatingScale
from simulator.core.keyed import exponentials, uniforms
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.columnar.pages import CONTINUE, NEXT_PAGE, PAGE_LOAD, PageModel
from simulator.domains.recsys.columnar.population import (
    BROWSE,
    IDLE,
    BrowseState,
    PopulationArrays,
)
from simulator.domains.recsys.columnar.slates import ask_target
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.interfaces import INTERACTIONS_SCHEMA, Interactions, TargetError


@dataclass
class RoundResult:
    """One crowd's round: event columns, the ratings it made, what it counted."""

    columns: list[dict[str, Any]]
    rated: pl.DataFrame | None
    counters: Counter[str] = field(default_factory=Counter)


class Crowd:
    """Personas `offset .. offset + len(arrays)` of the population, stepping by the array."""

    def __init__(
        self,
        config: RunConfig,
        catalog: Catalog,
        arrays: PopulationArrays,
        rating_scale: RatingScale | None,
        target: Any,
        offset: int = 0,
    ) -> None:
        self.config, self.catalog, self.arrays = config, catalog, arrays
        self.rating_scale, self.target, self.offset = rating_scale, target, offset
        self.pages = PageModel(config, catalog, arrays, rating_scale)
        self.state = BrowseState.empty(len(arrays), len(catalog.genre_names))

    def __len__(self) -> int:
        return len(self.arrays)

    def first_arrivals(self) -> None:
        """Every persona's first step: at the launch, or a share continuing at once."""
        launch = self.config.launch_at
        if launch is not None:
            self.state.next_at[:] = launch
            return
        share = self.config.utility.continue_share
        continues = uniforms(self.arrays.keys, CONTINUE) < share
        gap = self.pages.gap(np.arange(len(self)), self.state.session)
        self.state.next_at[:] = np.where(continues, 0.0, gap)

    def in_session(self) -> int:
        """Personas inside a session now."""
        return int((self.state.phase == BROWSE).sum())

    def fit(self, interactions: pl.DataFrame) -> None:
        """Refit this crowd's target (a `TargetError` goes to the world)."""
        self.target.fit(interactions)

    def round(self, end: float) -> RoundResult | None:
        """Every persona due before `end` takes one step; None if nobody was due."""
        s = self.state
        due = s.next_at < end
        arriving = np.flatnonzero(due & (s.phase == IDLE))
        browsing = np.flatnonzero(due & (s.phase == BROWSE))
        if not len(arriving) and not len(browsing):
            return None
        result = RoundResult(columns=[], rated=None)
        if len(arriving):
            result.columns.append(self._arrive(arriving, result.counters))
        if len(browsing):
            result.columns.append(self._browse(browsing, result))
        for part in result.columns:  # the session as written: after the step
            part["session"] = s.session[part["persona"]]
            part["persona"] = part["persona"] + self.offset
        return result

    def _arrive(self, idx: np.ndarray, counters: Counter[str]) -> dict[str, Any]:
        s = self.state
        t = s.next_at[idx].copy()
        s.session[idx] += 1
        s.page[idx], s.clicks[idx], s.ratings[idx], s.liked[idx] = 0, 0, 0, 0.0
        for i in idx.tolist():
            s.shown[i] = []
        s.phase[idx] = BROWSE
        load = exponentials(self.arrays.keys[idx], s.session[idx], PAGE_LOAD)
        s.next_at[idx] = t + load * self.config.timing.page_load
        counters["sessions"] += len(idx)
        return {"persona": idx, "kind": np.full(len(idx), "session_start", dtype=object),
                "t": t, "order": np.full(len(idx), -1), "page": None}  # fmt: skip

    def _browse(self, idx: np.ndarray, result: RoundResult) -> dict[str, Any]:
        s, arrays = self.state, self.arrays
        t, page = s.next_at[idx].copy(), s.page[idx].copy()
        slates, errors = ask_target(
            self.target,
            self.catalog,
            arrays.users[idx],
            s,
            idx,
            t,
            self.config.perception.page_size,
        )
        failed = np.array([e is not None for e in errors], dtype=bool)
        outcome = self.pages.decide(s, idx, t, np.where(failed[:, None], -1, slates))
        ev = outcome.events
        keep = ~failed[ev.b]
        end_t, left = outcome.end_t.copy(), outcome.left | failed
        kinds, reasons, texts = ev.kind.copy(), ev.reason.copy(), np.full(len(ev.b), None, object)
        # A target that cannot answer, or cannot hear a click, ends that session there.
        for b in np.flatnonzero(failed).tolist():
            end_t[b] = t[b]
        errors_at = self._feedback(idx, ev, keep)
        for b, (when, error) in errors_at.items():
            keep &= ~(
                (ev.b == b) & ((ev.t > when) | (ev.kind == "leave") | (ev.kind == "session_end"))
            )
            errors[b], end_t[b], left[b] = error, when, True
        extra_b, extra_kind, extra_t, extra_reason, extra_text = [], [], [], [], []
        for b, failure in enumerate(errors):
            if failure is None:
                continue
            result.counters["target_errors"] += 1
            for kind in ("target_error", "session_end"):
                extra_b.append(b)
                extra_kind.append(kind)
                extra_t.append(end_t[b])
                extra_reason.append(failure.reason if kind == "target_error" else "target_error")
                extra_text.append(str(failure)[:500] if kind == "target_error" else None)
        self._remember(idx, outcome, keep_rated=~failed[outcome.rated_b])
        result.rated = self._record(idx, ev, keep, result.counters)
        # The state moves on: the next page, or the session's end and the next arrival.
        s.clicks[idx] += outcome.clicks
        s.ratings[idx] += outcome.clicks
        s.liked[idx] += outcome.liked
        stay = idx[~left]
        for i, row in zip(stay.tolist(), slates[~left], strict=True):
            s.shown.setdefault(i, []).append(row[row >= 0])
        gone = idx[left]
        for i in gone.tolist():
            s.shown.pop(i, None)
        nxt = exponentials(arrays.keys[stay], s.session[stay], s.page[stay], NEXT_PAGE)
        s.next_at[stay] = end_t[~left] + nxt * self.config.timing.next_page
        s.page[stay] += 1
        s.phase[gone] = IDLE
        s.next_at[gone] = end_t[left] + self.pages.gap(
            gone, s.session[gone], s.ratings[gone], s.liked[gone]
        )
        n_extra = len(extra_b)
        b_all = np.concatenate([ev.b[keep], np.array(extra_b, dtype=np.int64)])
        sel = lambda a, extra, dtype: np.concatenate([a[keep], np.array(extra, dtype=dtype)])  # noqa: E731
        return {
            "persona": idx[b_all],
            "kind": sel(kinds, extra_kind, object),
            "t": sel(ev.t, extra_t, np.float64),
            "order": sel(ev.order, [10_000] * n_extra, np.int64),
            "page": page[b_all],
            "position": sel(ev.position, [-1] * n_extra, np.int64),
            "item_id": sel(ev.item_id, [-1] * n_extra, np.int64),
            "examined": sel(ev.examined, [False] * n_extra, bool),
            "rating": sel(ev.rating, [np.nan] * n_extra, np.float64),
            "count": sel(ev.count, [-1] * n_extra, np.int64),
            "reason": sel(reasons, extra_reason, object),
            "text": sel(texts, extra_text, object),
        }

    def _feedback(
        self, idx: np.ndarray, ev: Any, keep: np.ndarray
    ) -> dict[int, tuple[float, TargetError]]:
        """Tell the target every click and rating, in page order; who it failed to hear."""
        failed: dict[int, tuple[float, TargetError]] = {}
        heard = np.flatnonzero(keep & ((ev.kind == "click") | (ev.kind == "rate")))
        heard = heard[np.lexsort((ev.order[heard], ev.b[heard]))]
        b = ev.b[heard]
        events = Interactions(
            user=self.arrays.users[idx[b]],
            item_id=ev.item_id[heard],
            kind=ev.kind[heard],
            t=ev.t[heard],
            rating=np.where(ev.kind[heard] == "click", np.nan, ev.rating[heard]),
        )
        many = getattr(self.target, "feedback_many", None)
        if callable(many):
            try:
                many(events)
                return failed
            except TargetError as error:
                # The batch is one call: every persona in it is charged at its first event.
                first = np.unique(b, return_index=True)[1]
                return {int(b[e]): (float(events.t[e]), error) for e in first.tolist()}
        for e in range(len(events)):
            who = int(b[e])
            if who in failed:
                continue
            try:
                self.target.feedback(events[e])
            except TargetError as error:
                failed[who] = (float(events.t[e]), error)
        return failed

    def _remember(self, idx: np.ndarray, outcome: Any, keep_rated: np.ndarray) -> None:
        """Fold the page's ratings into each persona's decayed memory sums."""
        s, decay = self.state, self.pages.decay
        rb = outcome.rated_b[keep_rated]
        if not len(rb):
            return
        who = idx[rb]
        at = outcome.end_t[rb]
        unique = np.unique(who)
        # Bring every touched persona to its page's end, then add each rating faded to it.
        ends = np.zeros(len(s.next_at))
        np.maximum.at(ends, who, at)
        fade = np.exp(-decay * np.maximum(ends[unique] - s.remembered_at[unique], 0.0))
        s.recency[unique] *= fade[:, None]
        s.recency_total[unique] *= fade
        s.remembered_at[unique] = ends[unique]
        own = np.exp(-decay * np.maximum(ends[who] - outcome.rated_t[keep_rated], 0.0))
        unit = self.pages.genre_unit[outcome.rated_row[keep_rated]]
        imp = outcome.rated_importance[keep_rated]
        np.add.at(s.recency, who, unit * own[:, None])
        np.add.at(s.recency_total, who, own)
        np.add.at(s.importance, who, unit * imp[:, None])
        np.add.at(s.importance_total, who, imp)

    def _record(
        self, idx: np.ndarray, ev: Any, keep: np.ndarray, counters: Counter[str]
    ) -> pl.DataFrame | None:
        """The page's ratings (or consumptions), for the next refit; the counts."""
        kind = "consume" if self.rating_scale is None else "rate"
        rated = np.flatnonzero(keep & (ev.kind == kind))
        counters["clicks"] += int((keep & (ev.kind == "click")).sum())
        counters["ratings" if kind == "rate" else "consumptions"] += len(rated)
        counters["impressions"] += int((keep & (ev.kind == "impression")).sum())
        if not len(rated):
            return None
        count = ev.count[rated]
        return pl.DataFrame(
            {
                "user": self.arrays.users[idx[ev.b[rated]]].astype(str),
                "item_id": ev.item_id[rated],
                "rating": None if kind == "consume" else ev.rating[rated],
                "t": ev.t[rated],
                "count": count if kind == "consume" else None,
            },
            schema=INTERACTIONS_SCHEMA,
        )

    # --- checkpoints -----------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The slice's browse state (its own indices) and its target's."""
        return {"browse": self.state.get_state(), "target": self.target.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from `get_state`."""
        self.state = BrowseState.from_state(state["browse"])
        self.target.set_state(state["target"])
