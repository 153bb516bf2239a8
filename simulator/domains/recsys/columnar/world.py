"""The columnar engine: the recommender World with the population as arrays.

Time goes by slices (`SLICE` simulated seconds). In each slice, round after
round, every persona whose next step falls in the slice takes it: those
arriving start a session, those browsing get their page -- one batched
request to the target (`recommend_many`, or one `recommend` per persona for a
target without it), one array call to decide them all, one table of events to
the trace. The clock, refits, checkpoints and halting are the World's; what
differs from the per-agent engine is who takes which step when, not what a
persona does (see `pages`). The personas' steps are taken by crowds (`crowd`):
one in this process, or several shards side by side (`shards`, on Ray), whose
rounds merge into the trace one crowd would have written. Only the utility brain
and the recommender's own page (no other doors) run here.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import simpy

from personas.schema import Persona
from simulator.core.rng import Streams
from simulator.domains.recsys.columnar.population import PopulationArrays
from simulator.domains.recsys.columnar.shards import make_shards
from simulator.domains.recsys.interfaces import INTERACTIONS_SCHEMA
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


_PAGE_KINDS = pa.array(["impression", "click", "rate", "consume"])  # the page's door


class ColumnarWorld(World):
    """Personas as arrays on the World's clock, stepped by one crowd or several shards."""

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
        self.shards = make_shards(
            self.config, self.catalog, self.arrays, self.rating_scale, self.target, streams
        )
        self.shards.first_arrivals()
        self.rated: list[pl.DataFrame] = []  # what the target learns from, chunk by chunk
        self._id_text: pa.Array | None = None  # persona ids as Arrow text, taken per round

    def in_session(self) -> int:
        """Personas inside a session now."""
        return self.shards.in_session()

    def fit_target(self, interactions: pl.DataFrame) -> None:
        """Every shard's target learns from the same interactions."""
        self.shards.fit(interactions)

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
        results = self.shards.round(end)
        if not results:
            return False
        for result in results:  # in population order, as one crowd would have them
            self.counters.update(result.counters)
            if result.rated is not None:
                self.rated.append(result.rated)
        self._emit([part for result in results for part in result.columns])
        return True

    def _emit(self, parts: list[dict[str, Any]]) -> None:
        """The round's events in time order (then persona, then place in its page)."""
        horizon = self.config.horizon
        names = ("persona", "kind", "t", "order", "session")
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
            ).astype(dtype, copy=False)
        order = np.lexsort((merged["order"], merged["persona"], merged["t"]))
        order = order[merged["t"][order] < horizon]  # past the end nothing happens
        # The kinds as Arrow text once; the masks below are Arrow's compares, not Python's.
        event = pa.array(merged["kind"][order], pa.string())
        is_impression = _flags(pc.equal(event, "impression"))
        page_events = _flags(pc.not_equal(event, "session_start"))
        on_page = _flags(pc.is_in(event, value_set=_PAGE_KINDS))
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
                "event": event,
                "persona_id": self._id_text.take(pa.array(persona)),
                "session": merged["session"][order],
                "page": _masked(optional["page"][order], page_events),
                "position": _masked(position, position >= 0),
                "item_id": _masked(item, item >= 0),
                "examined": _masked(optional["examined"][order], is_impression),
                "rating": _masked(rating, ~np.isnan(rating)),
                "reason": pa.array(optional["reason"][order], pa.string()),
                "target": _masked_text(self.target.name, is_impression),
                "text": pa.array(optional["text"][order], pa.string()),
                "count": _masked(count, count >= 0),
                "channel": _masked_text("recommender", on_page),
            },
        )

    # --- checkpoints -----------------------------------------------------------------------
    def domain_state(self) -> dict[str, Any]:
        """Each shard's state, what the target learnt and when it refits next."""
        simulated = (
            pl.concat(self.rated) if self.rated else pl.DataFrame(schema=INTERACTIONS_SCHEMA)
        )
        return {
            "shards": self.shards.get_state(),
            "simulated": _ipc(simulated),
            "next_refit": self.next_refit,
        }

    def restore_domain(self, state: dict[str, Any]) -> None:
        """Continue what `domain_state` saved."""
        self.shards.set_state(state["shards"])
        # Arrow IPC is a data format: reading it runs nothing.
        frame = pl.read_ipc(io.BytesIO(state["simulated"]))
        self.rated = [frame] if frame.height else []
        self.next_refit = state["next_refit"]


def _ipc(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc(buffer)
    return buffer.getvalue()


def _flags(mask: pa.Array) -> np.ndarray:
    """An Arrow boolean array with no nulls as numpy booleans."""
    return mask.to_numpy(zero_copy_only=False)


def _masked(values: np.ndarray, present: np.ndarray) -> pa.Array:
    """Values where present, nulls elsewhere (for an Arrow column)."""
    return pa.array(values, mask=~present)


def _masked_text(text: str, present: np.ndarray) -> pa.Array:
    """`text` where present, nulls elsewhere."""
    codes = pa.array(np.zeros(len(present), dtype=np.int32), mask=~present)
    return pa.DictionaryArray.from_arrays(codes, pa.array([text])).cast(pa.string())
