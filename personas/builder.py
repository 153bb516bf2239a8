"""Build personas from real users' *train* histories.

Only the train part of a split reaches this module (decision 5): the builder
takes the train frame and never the dataset's full ratings, and a test proves
that changing held-out ratings changes no persona.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from personas.backstory import template_backstory
from personas.datasets import Dataset, sessionize, strength
from personas.datasets.split import split_rule
from personas.schema import (
    ITEMS_PER_SESSION_MAX,
    Demographics,
    Persona,
    Provenance,
    RatingStyle,
    Taste,
    Traits,
)
from personas.taste import TasteSpace

_GENRE_SHRINKAGE = 2.0  # pseudo-count pulling thin genre evidence towards 0
_MAX_SESSIONS_PER_DAY = 24.0
_PATIENCE_FULL_AT = 50.0  # items per session at which a persona reads whole pages
# A log without times says nothing of visits: these priors stand in (README, "without times").
UNTIMED_SESSIONS_PER_DAY = 1.0
UNTIMED_ITEMS_PER_SESSION = 3.0


def persona_id(dataset: Dataset, user_id: int) -> str:
    """The id of the persona built from a dataset user."""
    return f"{dataset.name}-{user_id}"


def _per_user(train: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    train = train.with_columns(strength(train).alias("_s"))
    item_mean = train.group_by("item_id").agg(pl.col("_s").mean().alias("item_mean"))
    rated = train.join(item_mean, on="item_id")
    base = rated.group_by("user_id").agg(
        pl.len().alias("n"),
        pl.col("_s").mean().alias("mean"),
        pl.col("_s").std(ddof=0).alias("spread"),
        (pl.col("_s") - pl.col("item_mean")).abs().mean().alias("mad"),
        pl.col("timestamp").min().alias("first"),
        pl.col("timestamp").max().alias("last"),
    )
    sessions = (
        sessionize(train)
        .group_by("user_id", "session")
        .agg(pl.len().alias("size"))
        .group_by("user_id")
        .agg(pl.len().alias("n_sessions"), pl.col("size").mean().alias("items_per_session"))
    )
    return base.join(sessions, on="user_id").sort("user_id")


def _genre_table(train: pl.DataFrame, items: pl.DataFrame, means: pl.DataFrame) -> pl.DataFrame:
    # Each rating spreads weight 1/len(genres) over its item's genres.
    return (
        train.join(items.select("item_id", "genres"), on="item_id")
        .join(means, on="user_id")
        .filter(pl.col("genres").list.len() > 0)
        .with_columns(
            (1.0 / pl.col("genres").list.len()).alias("w"),
            (strength(train) - pl.col("mean")).alias("centred"),
        )
        .explode("genres")
        .group_by("user_id", "genres")
        .agg(pl.col("w").sum().alias("weight"), (pl.col("w") * pl.col("centred")).sum().alias("s"))
        .with_columns((pl.col("s") / (pl.col("weight") + _GENRE_SHRINKAGE)).alias("affinity"))
        # group_by's output order varies between calls; sums over it must not.
        .sort("user_id", "genres")
    )


def _top_titles(train: pl.DataFrame, items: pl.DataFrame, users: list[int]) -> dict[int, list[str]]:
    """Each user's three strongest items' titles (ties: the lower id first)."""
    top = (
        train.filter(pl.col("user_id").is_in(users))
        .with_columns(strength(train).alias("_s"))
        .sort(["user_id", "_s", "item_id"], descending=[False, True, False])
        .group_by("user_id", maintain_order=True)
        .head(3)
        .join(items.select("item_id", "title"), on="item_id", how="left", maintain_order="left")
    )
    titles: dict[int, list[str]] = {}
    for uid, title in top.select("user_id", "title").iter_rows():
        titles.setdefault(int(uid), []).append(str(title))
    return titles


def _entropy(weights: np.ndarray, n_genres: int) -> float:
    p = weights[weights > 0] / weights.sum()
    if n_genres < 2 or len(p) == 0:
        return 0.0
    return float(-(p * np.log(p)).sum() / math.log(n_genres))


def build_personas(
    dataset: Dataset,
    train: pl.DataFrame,
    user_ids: Sequence[int],
    *,
    space: TasteSpace,
    split_label: str,
) -> list[Persona]:
    """One persona per user in `user_ids`, from that user's rows of `train` only."""
    wanted = sorted({int(u) for u in user_ids})
    stats = _per_user(train, dataset.items).filter(pl.col("user_id").is_in(wanted))
    missing = set(wanted) - set(stats["user_id"].to_list())
    if missing:
        raise ValueError(
            f"users without train ratings cannot become personas: {sorted(missing)[:5]}"
        )
    genres = _genre_table(train, dataset.items, stats.select("user_id", "mean")).filter(
        pl.col("user_id").is_in(wanted)
    )
    by_user = {key[0]: frame for key, frame in genres.partition_by("user_id", as_dict=True).items()}
    users = {row["user_id"]: row for row in dataset.users.iter_rows(named=True)}
    global_mean = float(train.select(strength(train).mean()).item())
    top_titles = {} if dataset.genres else _top_titles(train, dataset.items, wanted)
    personas = []
    for row in stats.iter_rows(named=True):
        uid = int(row["user_id"])
        table = by_user.get(uid, genres.clear())
        affinity = {
            g: round(float(a), 4) for g, a in zip(table["genres"], table["affinity"], strict=True)
        }
        weights = dict(zip(table["genres"], table["weight"], strict=True))
        span_days = max((row["last"] - row["first"]) / 86400.0, 1.0)
        items_per_session = min(max(float(row["items_per_session"]), 1.0), ITEMS_PER_SESSION_MAX)
        sessions_per_day = min(row["n_sessions"] / span_days, _MAX_SESSIONS_PER_DAY)
        if not dataset.timed:
            sessions_per_day, items_per_session = (
                UNTIMED_SESSIONS_PER_DAY,
                UNTIMED_ITEMS_PER_SESSION,
            )
        traits = Traits(
            sessions_per_day=sessions_per_day,
            items_per_session=items_per_session,
            conformity=1.0 / (1.0 + float(row["mad"])),
            diversity=_entropy(np.array(list(weights.values()) or [0.0]), len(dataset.genres)),
            patience=min(max(math.log(items_per_session) / math.log(_PATIENCE_FULL_AT), 0.05), 1.0),
        )
        rating = RatingStyle(
            mean=float(row["mean"]),
            bias=float(row["mean"]) - global_mean,
            spread=max(float(row["spread"] or 0.0), 0.1),
        )
        user = users.get(uid, {})
        demographics = Demographics(
            age=user.get("age"), gender=user.get("gender"), occupation=user.get("occupation")
        )
        favourites = sorted(weights, key=lambda g: (-weights[g], g))
        if not dataset.genres:  # no categories: the persona's favourites are its top items
            favourites = top_titles.get(uid, [])
        personas.append(
            Persona(
                id=persona_id(dataset, uid),
                demographics=demographics,
                traits=traits,
                taste=Taste(
                    genre_affinity=affinity,
                    factors=tuple(round(float(x), 6) for x in space.user_vector(uid)),
                    choice_factors=tuple(round(float(x), 6) for x in space.choice_vector(uid)),
                    recent_choice_factors=tuple(
                        round(float(x), 6) for x in space.recent_choice_vector(uid)
                    ),
                    factor_space=space.id,
                ),
                rating=rating,
                backstory=template_backstory(
                    demographics,
                    traits,
                    rating,
                    favourites,
                    None if dataset.rating_scale is None else dataset.rating_scale.high,
                    dataset.words,
                ),
                provenance=Provenance(
                    source="dataset",
                    dataset=dataset.name,
                    dataset_sha256=dataset.content_sha256,
                    user_id=uid,
                    split=split_rule(split_label, dataset.timed),
                    n_train=int(row["n"]),
                    train_until=int(row["last"]),
                ),
            )
        )
    return personas
