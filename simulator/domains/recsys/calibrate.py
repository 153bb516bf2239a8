"""Fit the utility brain on the train part of a dataset.

The fit never sees held-out data: each user's *train* history is split again in
time (the last 20 % becomes a "future" inside train), personas and the taste
space are built from the earlier part, and three models learn how that earlier
part predicts the later one:

- choice: a logistic regression (scikit-learn) over the brain's FEATURES, with
  the user's later items as positives and as many never-rated items as
  negatives, drawn from a keyed stream;
- rating: a ridge regression of (rating - persona mean) on RATING_FEATURES,
  whose intercept learns the drift of later ratings and whose residual spread
  sets the rating noise;
- activity: a Poisson regression of the sessions that started in the week after
  the inner cutoff on the persona's own session rate, every user seen for the
  whole week (as compare sees the held-out side);
- continuing: the share of users whose later items go on within a session gap
  of the inner cutoff, i.e. how many personas are mid-session at a run's start;
- returning: a within-user least-squares fit of the log gap after each train
  session on how much the session held (log(1 + items), centred on the user's
  own mean) and how well it went (its mean rating z-score, centred likewise).

Browsing has no counterpart in MovieLens (it logs no impressions), so position,
fatigue and the page-level stop model keep their priors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import LogisticRegression, PoissonRegressor, Ridge

from personas.builder import build_personas
from personas.datasets import SESSION_GAP_SECONDS, Dataset, sessionize, split_ratings, strength
from personas.schema import Persona
from personas.taste import fit_taste_space
from simulator.core.rng import Streams
from simulator.domains.recsys.brains.utility import (
    FEATURES,
    RATING_FEATURES,
    UtilityBrain,
    UtilityParams,
)
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.exposure.config import ExposureConfig
from simulator.domains.recsys.exposure.fit import ExposureFit, fit_exposure
from simulator.domains.recsys.exposure.model import Ledger
from simulator.domains.recsys.exposure.social import homophily_graph
from simulator.domains.recsys.interfaces import as_interactions

ACTIVITY_WINDOW_DAYS = 7.0
_MIN_RETURN_GAPS = 50
_MIN_ACTIVITY_USERS = 10
_INNER_HOLDOUT = 0.2


class Calibration(BaseModel):
    """Fitted parameters and what they were fitted on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    params: UtilityParams
    dataset_sha256: str
    train_rows: int
    users: int
    choice_pairs: int
    ratings: int
    activity_users: int
    activity_fitted: bool
    rating_residual_sd: float
    return_gaps: int = 0  # sessions with a next one, of users with two or more such
    exposure: ExposureFit | None = None  # the doors, when the run opens them


def _negatives(
    persona: Persona, seen: set[int], catalog: Catalog, n: int, streams: Streams
) -> np.ndarray:
    rng = streams.generator(persona.id, "calibrate:negatives")
    pool = np.setdiff1d(catalog.item_ids, np.fromiter(seen, dtype=np.int64, count=len(seen)))
    chosen = rng.choice(pool, size=min(n, len(pool)), replace=False)
    return np.sort(chosen)


def _activity_rows(
    personas: list[Persona], train: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Sessions of the whole train history; count those that start in the week after the
    # inner cutoff. Train after the inner cutoff is the user's next 20 % of ratings, as
    # held-out data is after the outer one, so every user is seen for the whole week, as
    # compare sees the held-out side: one who stops rating there did not come back.
    starts = (
        sessionize(train)
        .group_by("user_id", "session")
        .agg(pl.col("timestamp").min().alias("start"))
    )
    by_user = {
        uid: np.sort(frame["start"].to_numpy())
        for (uid,), frame in starts.partition_by("user_id", as_dict=True).items()
    }
    rates, counts, exposures, kept = [], [], [], []
    for index, persona in enumerate(personas):
        uid, cutoff = persona.provenance.user_id, persona.provenance.train_until
        assert uid is not None and cutoff is not None  # built from a dataset
        exposure = ACTIVITY_WINDOW_DAYS * 86400.0
        s = by_user[uid]
        n = int(((s > cutoff) & (s <= cutoff + exposure)).sum())
        rates.append(persona.traits.sessions_per_day)
        counts.append(n)
        exposures.append(exposure / 86400.0)
        kept.append(index)
    return (
        np.array(rates),
        np.array(counts, dtype=np.float64),
        np.array(exposures),
        np.array(kept, dtype=np.int64),
    )


def fit_return_model(
    train: pl.DataFrame, user_weights: dict[int, int] | None = None
) -> tuple[float, float, int]:
    """How the gap to the next session follows the session before, from train alone.

    Within each user (so that busy and idle people do not stand in for busy and
    idle sessions), the log gap from a session's last rating to the next
    session's first is regressed on the session's log(1 + items) and its mean
    rating z-score (against the user's mean and spread), each centred on the
    user's own mean.

    Returns:
        (engagement coefficient, satisfaction coefficient, gaps used); (0, 0, n)
        when fewer than 50 gaps of users with two or more of them say anything.
    """
    # z-scores as personas have them: the user's mean and population spread (at least 0.1).
    liked = strength(train)
    spread = liked.std(ddof=0).over("user_id").fill_null(0.0).clip(lower_bound=0.1)
    z = (liked - liked.mean().over("user_id")) / spread
    sessions = (
        sessionize(train)
        .with_columns(z.alias("z"))
        .group_by("user_id", "session")
        .agg(
            pl.col("timestamp").min().alias("start"),
            pl.col("timestamp").max().alias("end"),
            pl.col("z").mean().alias("sat"),
            pl.len().alias("n"),
        )
        .sort("user_id", "start")
        .with_columns((pl.col("start").shift(-1).over("user_id") - pl.col("end")).alias("gap"))
        .filter(pl.col("gap") > 0)
        .filter(pl.len().over("user_id") >= 2)
    )
    if user_weights is not None:
        drawn = pl.DataFrame(
            {"user_id": list(user_weights), "w": list(user_weights.values())},
            schema={"user_id": sessions.schema["user_id"], "w": pl.Float64},
        )
        sessions = sessions.join(drawn, on="user_id", how="inner")
    else:
        sessions = sessions.with_columns(pl.lit(1.0).alias("w"))
    if sessions.height < _MIN_RETURN_GAPS:
        return 0.0, 0.0, sessions.height
    centred = sessions.with_columns(
        pl.col("gap").log().alias("gap_log"), pl.col("n").log1p().alias("n_log")
    ).with_columns(
        (pl.col(c) - pl.col(c).mean().over("user_id")).alias(c) for c in ("gap_log", "n_log", "sat")
    )
    x = centred.select("n_log", "sat").to_numpy()
    root = np.sqrt(centred["w"].to_numpy())
    beta = np.linalg.lstsq(x * root[:, None], centred["gap_log"].to_numpy() * root, rcond=None)[0]
    return float(beta[0]), float(beta[1]), sessions.height


def continue_share(
    train: pl.DataFrame, later: pl.DataFrame, weights: dict[int, int] | None = None
) -> float:
    """The share of users whose later items start within a session gap of their train's end.

    Measured on calibration's split inside train, it says how often a per-user split
    cuts a session, so how many personas are mid-session when a run starts.
    """
    ends = train.group_by("user_id").agg(pl.col("timestamp").max().alias("end"))
    starts = later.group_by("user_id").agg(pl.col("timestamp").min().alias("start"))
    joined = ends.join(starts, on="user_id", how="inner")
    if joined.height == 0:
        return 0.0
    cut = ((joined["start"] - joined["end"]) <= SESSION_GAP_SECONDS).to_numpy()
    w = np.array(
        [1.0 if weights is None else float(weights.get(u, 0)) for u in joined["user_id"].to_list()]
    )
    return float(np.average(cut, weights=w)) if w.sum() > 0 else 0.0


def resample_weights(users: Sequence[int], seed: int, member: int) -> dict[int, int]:
    """How often each user is drawn in bootstrap resample `member` (0 draws: left out)."""
    users = sorted(users)
    rng = Streams(seed).generator(f"member:{member}", "calibrate:resample")
    drawn = np.bincount(rng.integers(0, len(users), size=len(users)), minlength=len(users))
    return {u: int(n) for u, n in zip(users, drawn, strict=True) if n > 0}


def calibrate(
    dataset: Dataset,
    train: pl.DataFrame,
    *,
    seed: int,
    dims: int = 16,
    min_train: int = 5,
    negatives: int = 1,
    exclude_users: frozenset[int] = frozenset(),
    user_weights: dict[int, int] | None = None,
    exposure: ExposureConfig | None = None,
) -> Calibration:
    """Fit choice, rating and activity coefficients on `train` (and nothing else).

    Args:
        dataset: The dataset `train` comes from.
        train: The train ratings.
        seed: Root seed of the negatives (and of the resample).
        dims: Dimensions of the taste space.
        min_train: Fewest ratings a user keeps in the inner train.
        negatives: Never-rated items per later item.
        exclude_users: Users whose rows no coefficient is fitted on (e.g. the
            run's own personas, for a check that is not circular).
        user_weights: A bootstrap resample of the users (`resample_weights`):
            the taste space and every coefficient are fitted as if each user
            appeared that often (absent: not at all). One member of an ensemble
            that carries the calibration's own uncertainty.
        exposure: If given and enabled, also fit its doors (`simulator.domains.recsys.exposure.fit`)
            on the same later items (unweighted, whatever `user_weights` says).
    """
    streams = Streams(seed)
    inner = split_ratings(train, _INNER_HOLDOUT, min_train, timed=dataset.timed)
    space = fit_taste_space(
        inner.train, dataset.items["item_id"].to_numpy(), dims=dims, user_weights=user_weights
    )
    catalog = Catalog.build(dataset.items, dataset.genres, inner.train, space, dataset.words)
    brain = UtilityBrain(catalog)
    users = sorted(set(inner.heldout["user_id"].to_list()) - exclude_users)
    drawn = user_weights if user_weights is not None else dict.fromkeys(users, 1)
    weight = {u: drawn[u] for u in users if drawn.get(u, 0) > 0}
    users = sorted(weight)
    if not users:
        raise ValueError(
            f"{dataset.path}: calibration needs train users with more than min_train="
            f"{min_train} ratings (it holds out each one's latest), and this dataset has none; "
            "use a dataset with longer histories, a smaller min_train, or calibrate=False"
        )
    personas = build_personas(dataset, inner.train, users, space=space, split_label="calibration")
    later = {
        uid: frame for (uid,), frame in inner.heldout.partition_by("user_id", as_dict=True).items()
    }
    seen_by = {
        uid: set(frame["item_id"].to_list())
        for (uid,), frame in train.partition_by("user_id", as_dict=True).items()
    }
    x_choice, y_choice, x_rating, y_rating = [], [], [], []
    w_choice, w_rating = [], []
    for persona in personas:
        uid = persona.provenance.user_id
        assert uid is not None
        future = later[uid].unique("item_id", keep="first", maintain_order=True)
        positives = catalog.index(future["item_id"].to_numpy())
        negative_ids = _negatives(
            persona, seen_by[uid], catalog, negatives * len(positives), streams
        )
        rows = np.concatenate([positives, catalog.index(negative_ids)])
        features = brain.features(persona, rows)
        x_choice.append(features)
        y_choice.append(np.r_[np.ones(len(positives)), np.zeros(len(negative_ids))])
        x_rating.append(brain.rating_features(positives, features[: len(positives)]))
        y_rating.append(
            future.select(strength(future)).to_series().to_numpy() - persona.rating.mean
        )
        w_choice.append(np.full(len(rows), float(weight[uid])))
        w_rating.append(np.full(len(positives), float(weight[uid])))
    # Unit weights are left out, so the plain fit stays exactly what it was.
    unweighted = user_weights is None
    choice = LogisticRegression(C=1.0, max_iter=1000).fit(
        np.vstack(x_choice),
        np.concatenate(y_choice),
        sample_weight=None if unweighted else np.concatenate(w_choice),
    )
    xr, yr = np.vstack(x_rating), np.concatenate(y_rating)
    wr = None if unweighted else np.concatenate(w_rating)
    rating = Ridge(alpha=1.0).fit(xr, yr, sample_weight=wr)
    residuals = yr - rating.predict(xr)
    spreads = np.array([p.rating.spread for p in personas])
    per_user = np.array([weight[uid] for uid in users], dtype=np.float64)
    if unweighted:
        residual_sd, mean_spread = float(np.std(residuals)), float(np.mean(spreads))
    else:
        residual_sd = float(np.sqrt(np.average(residuals**2, weights=wr)))
        mean_spread = float(np.average(spreads, weights=per_user))
    rates, counts, exposures, kept = _activity_rows(personas, train)
    # Too little evidence of returns (or none at all, or no times) leaves the prior in place.
    activity_fitted = dataset.timed and len(rates) >= _MIN_ACTIVITY_USERS and counts.sum() > 0
    if activity_fitted:
        activity = PoissonRegressor(alpha=0.0, max_iter=1000).fit(
            np.log(rates)[:, None],
            counts / exposures,
            sample_weight=exposures if unweighted else exposures * per_user[kept],
        )
    fitted: dict[str, Any] = dict(zip(FEATURES, (float(c) for c in choice.coef_[0]), strict=True))
    fitted |= {
        f"rating_{name}": float(c) for name, c in zip(RATING_FEATURES, rating.coef_, strict=True)
    }
    fitted |= {
        "watch_intercept": float(choice.intercept_[0]),
        "rating_intercept": float(rating.intercept_),
        "rating_noise": residual_sd / mean_spread if mean_spread > 0 else 0.0,
    }
    if activity_fitted:
        fitted |= {
            "activity_intercept": float(activity.intercept_),
            "activity_slope": float(activity.coef_[0]),
        }
    # The return model reads whole train histories, so the excluded users leave them too.
    kept_train = train.filter(~pl.col("user_id").is_in(sorted(exclude_users)))
    engagement, satisfaction, gaps = (
        fit_return_model(kept_train, user_weights) if dataset.timed else (0.0, 0.0, 0)
    )
    doors = None
    if exposure is not None and exposure.enabled:
        doors = _fit_doors(catalog, personas, later, kept_train, exposure, streams)
    fitted |= {"return_engagement": engagement, "return_satisfaction": satisfaction}
    inner_kept = inner.heldout.filter(pl.col("user_id").is_in(users))
    # Without times no split cuts a visit in two.
    fitted["continue_share"] = (
        continue_share(inner.train, inner_kept, weight) if dataset.timed else 0.0
    )
    if not all(math.isfinite(v) for v in fitted.values()):
        raise ValueError(f"calibration produced non-finite coefficients: {fitted}")
    return Calibration(
        params=UtilityParams().model_copy(update=fitted),
        dataset_sha256=dataset.content_sha256,
        train_rows=train.height,
        users=len(personas),
        choice_pairs=int(sum(len(y) for y in y_choice)),
        ratings=len(yr),
        activity_users=len(rates),
        activity_fitted=bool(activity_fitted),
        return_gaps=gaps,
        rating_residual_sd=residual_sd,
        exposure=doors,
    )


def _fit_doors(
    catalog: Catalog,
    personas: list[Persona],
    later: dict[int, pl.DataFrame],
    train: pl.DataFrame,
    exposure: ExposureConfig,
    streams: Streams,
) -> ExposureFit:
    # Friends are drawn as a run draws them, over the people fitted on, from their earlier taste.
    graph = homophily_graph(
        [p.target_user for p in personas],
        np.array([p.taste.choice_factors for p in personas], dtype=np.float64),
        mean_degree=exposure.friends,
        homophily=exposure.homophily,
        sociability=exposure.sociability,
        rng=streams.generator("calibration", "exposure:graph"),
    )
    return fit_exposure(
        catalog,
        personas,
        later,
        Ledger.from_frame(as_interactions(train), catalog),
        graph,
        exposure,
        streams.generator("calibration", "exposure:alternatives"),
    )
