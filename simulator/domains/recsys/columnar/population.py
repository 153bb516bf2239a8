"""The population as arrays: what the utility brain reads of each persona, one row each.

`Traits` drives the per-agent engine object by object; here the same numbers
sit in columns so one call decides every persona due. The mutable part
(`BrowseState`) is what a checkpoint saves: plain arrays, plus the items shown
in each open session.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from personas.sampled import SCALARS, People, SampledPersonas
from personas.schema import Persona
from simulator.core.keyed import text_key
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.perception import PerceptionConfig


def _rows(vectors: list[tuple[float, ...]], width: int) -> np.ndarray:
    out = np.zeros((len(vectors), width))
    for i, v in enumerate(vectors):
        if v:
            out[i] = v
    return out


def _persona_columns(personas: Sequence[Persona], catalog: Catalog) -> dict[str, np.ndarray]:
    """The values the engine reads, persona by persona (real ones, a file's)."""
    own = [p.taste.factor_space == catalog.space_id for p in personas]
    column = {g: j for j, g in enumerate(catalog.genre_names)}
    affinity = np.zeros((len(personas), len(catalog.genre_names)))
    for i, p in enumerate(personas):
        for g, a in p.taste.genre_affinity.items():
            if g in column:
                affinity[i, column[g]] = a
    d, d_choice = catalog.factors.shape[1], catalog.choice_factors.shape[1]

    def vectors(name: str, width: int) -> np.ndarray:
        rows = [getattr(p.taste, name) if o else () for p, o in zip(personas, own, strict=True)]
        return _rows(rows, width)

    def values(get: Callable[[Persona], float]) -> np.ndarray:
        return np.array([get(p) for p in personas], dtype=np.float64)

    return {
        "sessions_per_day": values(lambda p: p.traits.sessions_per_day),
        "items_per_session": values(lambda p: p.traits.items_per_session),
        "conformity": values(lambda p: p.traits.conformity),
        "diversity": values(lambda p: p.traits.diversity),
        "patience": values(lambda p: p.traits.patience),
        "rating_mean": values(lambda p: p.rating.mean),
        "rating_spread": values(lambda p: p.rating.spread),
        "train_until": np.array([p.provenance.train_until or 0 for p in personas], np.int64),
        "factors": vectors("factors", d),
        "choice": vectors("choice_factors", d_choice),
        "recent_choice": vectors("recent_choice_factors", d_choice),
        "genre_affinity": affinity,
    }


def _table_columns(table: SampledPersonas, catalog: Catalog) -> dict[str, np.ndarray]:
    """The same values, read off a sampled table's columns (float64, as persona objects give)."""
    c, origin = table.columns, table.origin
    n = len(table)
    affinity = np.zeros((n, len(catalog.genre_names)))
    column = {g: j for j, g in enumerate(catalog.genre_names)}
    for k, g in enumerate(origin.genres):
        if g in column:
            affinity[:, column[g]] = c["genre_affinity"][:, k]
    own = origin.factor_space == catalog.space_id

    def vectors(name: str, width: int) -> np.ndarray:
        block = c[name].astype(np.float64)
        if not own or block.shape[1] != width:
            return np.zeros((n, width))
        return block

    return {
        **{name: c[name].astype(np.float64) for name in SCALARS if name != "rating_bias"},
        "train_until": c["train_until"].astype(np.int64),
        "factors": vectors("factors", catalog.factors.shape[1]),
        "choice": vectors("choice_factors", catalog.choice_factors.shape[1]),
        "recent_choice": vectors("recent_choice_factors", catalog.choice_factors.shape[1]),
        "genre_affinity": affinity,
    }


@dataclass(frozen=True)
class PopulationArrays:
    """Fixed per-persona values, in population order."""

    ids: np.ndarray  # persona ids (object)
    users: np.ndarray  # the target's keys for them (object)
    keys: np.ndarray  # uint64: each persona's draws are addressed under it
    rate: np.ndarray  # sessions per day, through the activity model
    items_per_session: np.ndarray
    conformity: np.ndarray
    diversity: np.ndarray
    patience: np.ndarray
    span: np.ndarray  # slots from the top the persona reads
    rating_mean: np.ndarray
    rating_spread: np.ndarray
    until: np.ndarray  # train cutoff (unix s): "recent" popularity is counted up to it
    factors: np.ndarray  # (n, d) rating factors, zeros where the persona has none
    choice: np.ndarray  # (n, d') choice factors
    recent_choice: np.ndarray
    genre_affinity: np.ndarray  # (n, genres), in the catalogue's genre order

    @classmethod
    def build(
        cls,
        personas: Sequence[Persona],
        catalog: Catalog,
        params: UtilityParams,
        perception: PerceptionConfig,
        *,
        seed: int,
        stream_key: str | None,
    ) -> PopulationArrays:
        """Every persona's values: persona objects one by one, a sampled table by the column.

        A persona in another taste space gets no factor terms.
        """
        real = personas.real if isinstance(personas, People) else list(personas)
        sampled = personas.sampled if isinstance(personas, People) else None
        columns = [_persona_columns(real, catalog)]
        if sampled is not None:
            columns.append(_table_columns(sampled, catalog))
        c = {name: np.concatenate([part[name] for part in columns]) for name in columns[0]}
        ids = np.array(
            [p.id for p in real] + (sampled.ids() if sampled is not None else []), dtype=object
        )
        users = np.array([p.target_user for p in real], dtype=object)
        if sampled is not None:
            users = np.concatenate([users, ids[len(real) :]])  # nobody the target knows
        suffix = "" if stream_key is None else f"|{stream_key}"
        rate = np.exp(params.activity_intercept) * c["sessions_per_day"] ** params.activity_slope
        size = perception.page_size
        span = np.minimum(size, np.ceil(size * c["patience"]).astype(np.int64))
        until = c["train_until"]
        return cls(
            ids=ids,
            users=users,
            keys=np.array([text_key(f"{seed}|{i}{suffix}") for i in ids], dtype=np.uint64),
            rate=np.clip(rate, 1e-4, 48.0),  # `brains.utility.sessions_per_day`, by the array
            items_per_session=c["items_per_session"],
            conformity=c["conformity"],
            diversity=c["diversity"],
            patience=c["patience"],
            span=np.maximum(perception.min_span, span),
            rating_mean=c["rating_mean"],
            rating_spread=c["rating_spread"],
            until=np.where(until > 0, until, catalog.last_train_time).astype(np.int64),
            factors=c["factors"],
            choice=c["choice"],
            recent_choice=c["recent_choice"],
            genre_affinity=c["genre_affinity"],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, lo: int, hi: int) -> PopulationArrays:
        """Personas lo .. hi - 1 (a shard's crowd)."""
        return PopulationArrays(**{f.name: getattr(self, f.name)[lo:hi] for f in fields(self)})


IDLE, BROWSE = 0, 1  # the step due at next_at: a session start, or a page


@dataclass
class BrowseState:
    """What changes as personas browse; everything a checkpoint needs of them."""

    next_at: np.ndarray
    phase: np.ndarray  # IDLE or BROWSE
    session: np.ndarray  # the current (or last) session, -1 before the first
    page: np.ndarray
    clicks: np.ndarray  # in the open session
    ratings: np.ndarray  # in the open session, with the sum of their z-scores: the return
    liked: np.ndarray
    # Memory as decayed sums over what the persona rated: the recency-weighted and the
    # importance-weighted sum of unit genre profiles, with the weights' totals.
    recency: np.ndarray  # (n, genres), as of `remembered_at`
    recency_total: np.ndarray
    importance: np.ndarray  # (n, genres)
    importance_total: np.ndarray
    remembered_at: np.ndarray
    # Open sessions' pages so far: one array of item ids per page.
    shown: dict[int, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def empty(cls, n: int, genres: int) -> BrowseState:
        """Nobody has arrived yet."""
        return cls(
            next_at=np.zeros(n),
            phase=np.full(n, IDLE, dtype=np.int8),
            session=np.full(n, -1, dtype=np.int64),
            page=np.zeros(n, dtype=np.int64),
            clicks=np.zeros(n, dtype=np.int64),
            ratings=np.zeros(n, dtype=np.int64),
            liked=np.zeros(n),
            recency=np.zeros((n, genres)),
            recency_total=np.zeros(n),
            importance=np.zeros((n, genres)),
            importance_total=np.zeros(n),
            remembered_at=np.zeros(n),
        )

    def get_state(self) -> dict[str, Any]:
        """Plain data: the arrays, and each open session's shown items."""
        state: dict[str, Any] = {f.name: getattr(self, f.name).copy() for f in fields(self)[:-1]}
        who = sorted(self.shown)
        state["shown_who"] = np.array(who, dtype=np.int64)
        state["shown_sizes"] = np.array([len(self.shown_items(i)) for i in who], dtype=np.int64)
        state["shown_items"] = np.concatenate(
            [self.shown_items(i) for i in who] or [np.zeros(0, dtype=np.int64)]
        )
        return state

    def shown_items(self, i: int) -> np.ndarray:
        """What persona i's open session has shown (empty if it has none)."""
        pages = self.shown.get(i, [])
        return np.concatenate(pages) if pages else np.zeros(0, dtype=np.int64)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BrowseState:
        """Continue from `get_state`."""
        names = [f.name for f in fields(cls)[:-1]]
        arrays = {name: np.array(state[name]) for name in names}
        ends = np.cumsum(state["shown_sizes"])
        shown = {
            int(i): [np.asarray(state["shown_items"][end - size : end], dtype=np.int64)]
            for i, size, end in zip(state["shown_who"], state["shown_sizes"], ends, strict=True)
        }
        return cls(**arrays, shown=shown)
