"""The columnar engine: the recommender World with the population as arrays.

Time goes by slices (`SLICE` simulated seconds). In each slice, round after
round, every persona whose next step falls in the slice takes it: those
arriving start a session, those browsing get their page -- one batched
request to the target (`recommend_many`, or one `recommend` per persona for a
target without it), one array call to decide them all, one table of events to
the trace. The clock, refits, checkpoints and halting are the World's; what
differs from the per-agent engine is who takes which step when, not what a
persona does (see `pages`). Only the utility brain and the recommender's own
page (no other doors) run here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import simpy

from personas.schema import Persona
from simulator.core.keyed import exponentials, uniforms
from simulator.core.rng import Streams
from simulator.domains.recsys.columnar.pages import CONTINUE, NEXT_PAGE, PAGE_LOAD, PageModel
from simulator.domains.recsys.columnar.population import (
    BROWSE,
    IDLE,
    BrowseState,
    PopulationArrays,
)
from simulator.domains.recsys.columnar.slates import ask_target
from simulator.domains.recsys.interfaces import INTERACTIONS_SCHEMA, Interactions, TargetError
from simulator.domains.recsys.world import World

SLICE = 3600.0


def check_columnar(config: Any) -> None:
    """Refuse what the columnar engine does not run, saying what to use instead."""
    if config.brain != "utility":
        raise ValueError(
            f"engine 'columnar' runs the utility brain, not {config.brain!r}; "
            "use --engine agents for brains that think in words"
        )
    if config.exposure.enabled:
        raise ValueError(
            "engine 'columnar' shows the recommender's page only; use --engine agents for "
            "exposure doors (intent, friends, trending)"
        )


class ColumnarWorld(World):
    """Personas as arrays on the World's clock."""

    def populate(
        self,
        personas: Sequence[Persona],
        streams: Streams,
        llm: Any,
        mind: Callable[[], Any] | None,
    ) -> None:
        """Arrays instead of agents; every persona's first arrival drawn at once."""
        check_columnar(self.config)
        self.arrays = PopulationArrays.build(
            personas,
            self.catalog,
            self.config.utility,
            self.config.perception,
            seed=streams.root_seed,
            stream_key=self.config.stream_key,
        )
        self.pages = PageModel(self.config, self.catalog, self.arrays, self.rating_scale)
        n = len(self.arrays)
        self.state = BrowseState.empty(n, len(self.catalog.genre_names))
        everyone = np.arange(n)
        launch = self.config.launch_at
        if launch is not None:
            self.state.next_at[:] = launch
        else:
            share = self.config.utility.continue_share
            continues = uniforms(self.arrays.keys, CONTINUE) < share
            gap = self.pages.gap(everyone, self.state.session)
            self.state.next_at[:] = np.where(continues, 0.0, gap)
        self.rated: list[pl.DataFrame] = []  # what the target learns from, chunk by chunk
        self._id_text: pa.Array | None = None  # persona ids as Arrow text, taken per round

    def in_session(self) -> int:
        """Personas inside a session now."""
        return int((self.state.phase == BROWSE).sum())

    # --- what the target learns from ------------------------------------------------------
    def interactions(self) -> pl.DataFrame:
        """Train plus every simulated rating before now (a page decided early is not yet)."""
        if not self.rated:
            return self.train
        simulated = pl.concat(self.rated).filter(pl.col("t") < self.env.now)
        return pl.concat([self.train, simulated])

    # --- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """Refits first (at a shared instant they go before the slice), then the slices."""
        self.env.process(self._refits())
        self.env.process(self._slices())

    def _slices(self) -> Generator[simpy.Event, Any, None]:
        horizon = self.config.horizon
        # Yield once first: a refit due now (a resume at a day boundary) goes before the slice.
        yield self.env.timeout(0.0)
        while True:
            start = self.env.now
            end = min((start // SLICE + 1) * SLICE, horizon)
            while self._round(end):
                pass
            if end >= horizon:
                return
            yield self.env.timeout(end - start)

    def _round(self, end: float) -> bool:
        """Every persona due before `end` takes one step; False if nobody was due."""
        s = self.state
        due = s.next_at < end
        arriving = np.flatnonzero(due & (s.phase == IDLE))
        browsing = np.flatnonzero(due & (s.phase == BROWSE))
        if not len(arriving) and not len(browsing):
            return False
        columns: list[dict[str, Any]] = []
        if len(arriving):
            columns.append(self._arrive(arriving))
        if len(browsing):
            columns.append(self._browse(browsing))
        self._emit(columns)
        return True

    def _arrive(self, idx: np.ndarray) -> dict[str, Any]:
        s = self.state
        t = s.next_at[idx].copy()
        s.session[idx] += 1
        s.page[idx], s.clicks[idx], s.ratings[idx], s.liked[idx] = 0, 0, 0, 0.0
        for i in idx.tolist():
            s.shown[i] = []
        s.phase[idx] = BROWSE
        load = exponentials(self.arrays.keys[idx], s.session[idx], PAGE_LOAD)
        s.next_at[idx] = t + load * self.config.timing.page_load
        self.counters["sessions"] += len(idx)
        return {"persona": idx, "kind": np.full(len(idx), "session_start", dtype=object),
                "t": t, "order": np.full(len(idx), -1), "page": None}  # fmt: skip

    def _browse(self, idx: np.ndarray) -> dict[str, Any]:
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
            self.counters["target_errors"] += 1
            for kind in ("target_error", "session_end"):
                extra_b.append(b)
                extra_kind.append(kind)
                extra_t.append(end_t[b])
                extra_reason.append(failure.reason if kind == "target_error" else "target_error")
                extra_text.append(str(failure)[:500] if kind == "target_error" else None)
        self._remember(idx, outcome, keep_rated=~failed[outcome.rated_b])
        self._record(idx, outcome, ev, keep)
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

    def _record(self, idx: np.ndarray, outcome: Any, ev: Any, keep: np.ndarray) -> None:
        """Keep the page's ratings (or consumptions) for the next refit."""
        kind = "consume" if self.rating_scale is None else "rate"
        rated = np.flatnonzero(keep & (ev.kind == kind))
        self.counters["clicks"] += int((keep & (ev.kind == "click")).sum())
        self.counters["ratings" if kind == "rate" else "consumptions"] += len(rated)
        self.counters["impressions"] += int((keep & (ev.kind == "impression")).sum())
        if not len(rated):
            return
        count = ev.count[rated]
        self.rated.append(
            pl.DataFrame(
                {
                    "user": self.arrays.users[idx[ev.b[rated]]].astype(str),
                    "item_id": ev.item_id[rated],
                    "rating": None if kind == "consume" else ev.rating[rated],
                    "t": ev.t[rated],
                    "count": count if kind == "consume" else None,
                },
                schema=INTERACTIONS_SCHEMA,
            )
        )

    def _emit(self, parts: list[dict[str, Any]]) -> None:
        """The round's events in time order (then persona, then place in its page)."""
        horizon = self.config.horizon
        names = ("persona", "kind", "t", "order")
        merged = {name: np.concatenate([p[name] for p in parts]) for name in names}
        n_rows = [len(p["persona"]) for p in parts]
        optional = {}
        for name, fill, dtype in (
            ("page", 0, np.int64), ("position", -1, np.int64), ("item_id", -1, np.int64),
            ("examined", False, bool), ("rating", np.nan, np.float64), ("count", -1, np.int64),
            ("reason", None, object), ("text", None, object),
        ):  # fmt: skip
            optional[name] = np.concatenate(
                [
                    p[name] if p.get(name) is not None else np.full(n, fill, dtype=dtype)
                    for p, n in zip(parts, n_rows, strict=True)
                ]
            ).astype(dtype)
        order = np.lexsort((merged["order"], merged["persona"], merged["t"]))
        order = order[merged["t"][order] < horizon]  # past the end nothing happens
        kind = merged["kind"][order]
        is_impression = kind == "impression"
        page_events = kind != "session_start"
        rating = optional["rating"][order]
        count = optional["count"][order]
        position = optional["position"][order]
        item = optional["item_id"][order]
        persona = merged["persona"][order]
        if self._id_text is None:
            self._id_text = pa.array(self.arrays.ids, pa.string())
        self.trace.emit_columns(
            len(order),
            {
                "t": merged["t"][order],
                "event": pa.array(kind, pa.string()),
                "persona_id": self._id_text.take(pa.array(persona)),
                "session": self.state.session[persona],
                "page": _masked(optional["page"][order], page_events),
                "position": _masked(position, position >= 0),
                "item_id": _masked(item, item >= 0),
                "examined": _masked(optional["examined"][order], is_impression),
                "rating": _masked(rating, ~np.isnan(rating)),
                "reason": pa.array(optional["reason"][order], pa.string()),
                "target": _masked_text(self.target.name, is_impression),
                "text": pa.array(optional["text"][order], pa.string()),
                "count": _masked(count, count >= 0),
                "channel": _masked_text(
                    "recommender", np.isin(kind, ["impression", "click", "rate", "consume"])
                ),
            },
        )

    # --- checkpoints -----------------------------------------------------------------------
    def domain_state(self) -> dict[str, Any]:
        """The arrays' state, what the target learnt and when it refits next."""
        simulated = (
            pl.concat(self.rated) if self.rated else pl.DataFrame(schema=INTERACTIONS_SCHEMA)
        )
        return {
            "browse": self.state.get_state(),
            "simulated": _ipc(simulated),
            "next_refit": self.next_refit,
            "target": self.target.get_state(),
        }

    def restore_domain(self, state: dict[str, Any]) -> None:
        """Continue what `domain_state` saved."""
        self.state = BrowseState.from_state(state["browse"])
        # Arrow IPC is a data format: reading it runs nothing.
        frame = pl.read_ipc(io.BytesIO(state["simulated"]))
        self.rated = [frame] if frame.height else []
        self.next_refit = state["next_refit"]
        self.target.set_state(state["target"])


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _masked(values: np.ndarray, present: np.ndarray) -> pa.Array:
    """Values where present, nulls elsewhere (for an Arrow column)."""
    return pa.array(values, mask=~present)


def _masked_text(text: str, present: np.ndarray) -> pa.Array:
    """`text` where present, nulls elsewhere."""
    codes = pa.array(np.zeros(len(present), dtype=np.int32), mask=~present)
    return pa.DictionaryArray.from_arrays(codes, pa.array([text])).cast(pa.string())
