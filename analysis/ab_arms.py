"""Each A/B arm's per-persona data: counts from its trace, item metrics from its dataset."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import sparse

from analysis.bootstrap import FloatArray
from analysis.frames import load_events, run_personas
from personas.datasets import load_dataset, split_ratings
from simulator.core.manifest import read_manifest
from simulator.trace.schema import EventKind

METRICS = (
    "ctr",
    "recommender_share",
    "clicks_per_session",
    "ratings_per_session",
    "session_minutes",
    "sessions_per_persona",
    "return_rate",
    "coverage",
    "diversity",
    "novelty",
)
_RATIO_METRICS = tuple(m for m in METRICS if m != "coverage")
_SECONDS_PER_DAY = 86_400.0


def persona_table(run_dir: str | Path) -> pl.DataFrame:
    """One row per persona of the run's ``personas.json``, active or not.

    Args:
        run_dir: A run directory (one arm of an A/B run, or any run).

    Returns:
        Columns ``persona_id`` (String), ``sessions``, ``impressions``,
        ``clicks``, ``ratings``, ``page_impressions``, ``page_clicks`` (Int64;
        the page's: what came by the recommender, not another door of
        ``simulator.domains.recsys.exposure``), ``session_seconds`` (Float64: summed
        session_start → session_end time), ``active_days`` (Int64: distinct
        simulated days, ``floor(t / 86400)``, with a session start) and
        ``clicked_items`` (List(Int64): every click's item in trace order,
        repeats kept), in the order of the persona file; personas without
        events have zeros and an empty list.
    """
    run_dir = Path(run_dir)
    ids = run_personas(run_dir).ids()
    events = load_events(run_dir).filter(pl.col("persona_id").is_not_null())
    kind = pl.col("event")
    page = pl.col("channel").fill_null("recommender") == "recommender"
    counts = events.group_by("persona_id").agg(
        (kind == EventKind.SESSION_START).sum().cast(pl.Int64).alias("sessions"),
        (kind == EventKind.IMPRESSION).sum().cast(pl.Int64).alias("impressions"),
        (kind == EventKind.CLICK).sum().cast(pl.Int64).alias("clicks"),
        (kind == EventKind.RATE).sum().cast(pl.Int64).alias("ratings"),
        ((kind == EventKind.IMPRESSION) & page).sum().cast(pl.Int64).alias("page_impressions"),
        ((kind == EventKind.CLICK) & page).sum().cast(pl.Int64).alias("page_clicks"),
        (pl.col("t") // _SECONDS_PER_DAY)
        .filter(kind == EventKind.SESSION_START)
        .n_unique()
        .cast(pl.Int64)
        .alias("active_days"),
        pl.col("item_id").filter(kind == EventKind.CLICK).alias("clicked_items"),
    )
    bounds = (
        events.filter(kind.is_in([EventKind.SESSION_START, EventKind.SESSION_END]))
        .group_by("persona_id", "session")
        .agg(
            pl.col("t").filter(kind == EventKind.SESSION_START).min().alias("start"),
            pl.col("t").filter(kind == EventKind.SESSION_END).max().alias("end"),
        )
        # A session cut off by the horizon has no end and adds no time.
        .group_by("persona_id")
        .agg((pl.col("end") - pl.col("start")).sum().alias("session_seconds"))
    )
    base = pl.DataFrame({"persona_id": ids}, schema={"persona_id": pl.String})
    table = base.join(counts, on="persona_id", how="left").join(bounds, on="persona_id", how="left")
    zero_ints = [
        "sessions",
        "impressions",
        "clicks",
        "ratings",
        "page_impressions",
        "page_clicks",
        "active_days",
    ]
    return table.with_columns(
        *(pl.col(c).fill_null(0) for c in zero_ints),
        pl.col("session_seconds").fill_null(0.0).cast(pl.Float64),
        pl.col("clicked_items").fill_null(pl.lit([], dtype=pl.List(pl.Int64))),
    ).select("persona_id", *zero_ints[:6], "session_seconds", "active_days", "clicked_items")


@dataclass(frozen=True, eq=False)
class _Catalogue:
    """What the item-level metrics need from the dataset the run used."""

    n_items: int
    genres: dict[int, frozenset[str]]
    self_info: dict[int, float]  # −log2 of the item's share of train ratings
    unseen_info: float  # the same for an item without train ratings (count 1)


@lru_cache(maxsize=4)
def _catalogue(location: str, sha256: str | None, holdout: float, min_train: int) -> _Catalogue:
    dataset = load_dataset(location)
    if sha256 is not None and dataset.sha256 != sha256:
        raise ValueError(
            f"the run used a dataset with sha256 {sha256[:12]}…, but {dataset.path} now has "
            f"{dataset.sha256[:12]}…; point SIMFOLK_DATA at the same copy"
        )
    items = dataset.items.select("item_id", "genres")
    genres = {
        int(i): frozenset(g or ())
        for i, g in zip(items["item_id"].to_list(), items["genres"].to_list(), strict=True)
    }
    # The train split is what the recommender saw, so popularity means the same to both.
    train = split_ratings(dataset.ratings, holdout, min_train, timed=dataset.timed).train
    counts = train.group_by("item_id").agg(pl.len().alias("n"))
    total = max(1, train.height)
    self_info = {
        int(i): -math.log2(max(int(n), 1) / total)
        for i, n in zip(counts["item_id"].to_list(), counts["n"].to_list(), strict=True)
    }
    return _Catalogue(dataset.items.height, genres, self_info, -math.log2(1 / total))


def _run_catalogue(run_dir: Path) -> _Catalogue:
    manifest = read_manifest(run_dir)
    try:
        info = manifest["dataset"]
        split = manifest.get("split") or manifest["config"]
        holdout, min_train = float(split["holdout"]), int(split["min_train"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{run_dir}/manifest.json: lacks dataset or split ({exc})") from exc
    path = info.get("path")
    location = path if path and Path(path).exists() else info["name"]
    return _catalogue(str(location), info.get("sha256"), holdout, min_train)


def _diversity(items: Sequence[int], genres: Mapping[int, frozenset[str]]) -> float:
    """1 − mean pairwise Jaccard of the genre sets; nan below two distinct items."""
    distinct = sorted(set(items))
    if len(distinct) < 2:
        return math.nan
    vocab = sorted(set().union(*(genres.get(i, frozenset()) for i in distinct)))
    index = {g: k for k, g in enumerate(vocab)}
    onehot = np.zeros((len(distinct), max(1, len(vocab))))
    for row, item in enumerate(distinct):
        for g in genres.get(item, frozenset()):
            onehot[row, index[g]] = 1.0
    inter = onehot @ onehot.T
    sizes = onehot.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    upper = np.triu_indices(len(distinct), k=1)
    # Two items without any genre share nothing known: similarity 0, not 0/0.
    sim = np.divide(inter[upper], union[upper], out=np.zeros(upper[0].size), where=union[upper] > 0)
    return float(1.0 - sim.mean())


@dataclass(frozen=True, eq=False)
class ArmData:
    """One arm's per-persona numerators and denominators, aligned to a persona order."""

    num: FloatArray  # (n_personas, len(_RATIO_METRICS))
    den: FloatArray
    clicked: sparse.csr_matrix  # (n_personas, distinct clicked items) incidence
    n_items: int
    item_ids: npt.NDArray[np.int64]  # the item of each column of `clicked`


def _arm_data(table: pl.DataFrame, catalogue: _Catalogue) -> ArmData:
    clicks = table["clicks"].to_numpy().astype(np.float64)
    sessions = table["sessions"].to_numpy().astype(np.float64)
    ones = np.ones(table.height)
    items_lists: list[list[int]] = table["clicked_items"].to_list()
    diversity = np.array([_diversity(items, catalogue.genres) for items in items_lists])
    valid = np.isfinite(diversity)
    info = catalogue.self_info
    surprise = np.array(
        [sum(info.get(i, catalogue.unseen_info) for i in items) for items in items_lists]
    )
    page_clicks = table["page_clicks"].to_numpy().astype(np.float64)
    columns = {
        # The recommender's own page: clicks on items that came by another door are not its.
        "ctr": (page_clicks, table["page_impressions"].to_numpy().astype(np.float64)),
        "recommender_share": (page_clicks, clicks),
        "clicks_per_session": (clicks, sessions),
        "ratings_per_session": (table["ratings"].to_numpy().astype(np.float64), sessions),
        "session_minutes": (table["session_seconds"].to_numpy() / 60.0, sessions),
        "sessions_per_persona": (sessions, ones),
        "return_rate": ((table["active_days"].to_numpy() >= 2).astype(np.float64), ones),
        "diversity": (np.where(valid, diversity, 0.0), valid.astype(np.float64)),
        "novelty": (surprise, clicks),
    }
    num = np.column_stack([columns[m][0] for m in _RATIO_METRICS]).astype(np.float64)
    den = np.column_stack([columns[m][1] for m in _RATIO_METRICS]).astype(np.float64)
    rows = np.repeat(np.arange(table.height), [len(set(x)) for x in items_lists])
    flat = np.array([i for items in items_lists for i in sorted(set(items))], dtype=np.int64)
    item_ids, cols = np.unique(flat, return_inverse=True)
    incidence = sparse.csr_matrix(
        (np.ones(flat.size), (rows, cols.reshape(-1))),
        shape=(table.height, int(cols.max()) + 1 if flat.size else 0),
    )
    return ArmData(num, den, incidence, catalogue.n_items, item_ids)


def load_arms(
    arm_dirs: Mapping[str, str | Path], arms: Sequence[str], control: str, what: str = "arm"
) -> dict[str, ArmData]:
    """Each arm's per-persona data, aligned to the control's persona order."""
    tables: dict[str, pl.DataFrame] = {}
    for arm in arms:
        run_dir = Path(arm_dirs[arm])
        status = read_manifest(run_dir).get("status")
        if status != "complete":
            raise ValueError(f"{run_dir}: {what} {arm!r} is {status}, not complete")
        tables[arm] = persona_table(run_dir)
    order = tables[control]["persona_id"]
    for arm in arms:
        if set(tables[arm]["persona_id"]) != set(order):
            raise ValueError(f"{what}s {control!r} and {arm!r} have different personas")
    return {
        arm: _arm_data(
            pl.DataFrame({"persona_id": order}).join(tables[arm], on="persona_id", how="left"),
            _run_catalogue(Path(arm_dirs[arm])),
        )
        for arm in arms
    }
