"""Fit the doors on train: what people want, and which door their items came through.

Inside calibration each user's train history is split in time; the later
items are the evidence:

- intent: a conditional logit over the catalogue (INTENT_FEATURES), fitted by
  maximum likelihood with 30 uniformly sampled alternatives per item, which
  keeps the estimate consistent (McFadden's sampling of alternatives);
- the mix: a three-part mixture over each later item — the intent logit, what
  the persona's friends rated within `social_days` before it, and what everyone
  rated in the `trending_days` before it — whose shares are fitted by EM. The
  word-of-mouth delay is the window with the best likelihood;
- a persona's own mix: its train items' posterior door shares, shrunk to the
  population's with `shrinkage` pseudo-items (`persona_mix`).

Which share of sessions opens on the recommender's page is not in MovieLens;
it stays the stated `page_share`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict
from scipy.optimize import minimize

from personas.schema import Persona
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.exposure.config import (
    INTENT_FEATURES,
    OUTSIDE,
    ExposureConfig,
    IntentParams,
)
from simulator.domains.recsys.exposure.model import (
    DAY,
    Ledger,
    Windows,
    intent_logits,
    intent_static,
    log_softmax,
    smoothed_log,
)

ALTERNATIVES = 30
EVENTS_PER_USER = 30  # the earliest later items of each user: enough, and bounded
SOCIAL_WINDOWS_DAYS = (3.0, 7.0, 30.0, 90.0, 365.0)
_EM_ITERATIONS = 200


class ExposureFit(BaseModel):
    """The fitted doors, and what they were fitted on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intent: IntentParams
    mix: dict[str, float]
    social_days: float
    events: int
    users: int
    log_likelihood: float  # mean per item, of the mixture
    door_log_likelihood: dict[str, float]  # mean per item, each door alone

    def apply(self, config: ExposureConfig) -> ExposureConfig:
        """`config` with the fitted intent, mix and word-of-mouth window."""
        return config.model_copy(
            update={"intent": self.intent, "mix": dict(self.mix), "social_days": self.social_days}
        )


@dataclass(frozen=True)
class Events:
    """Items chosen at a time by a persona: the evidence the doors are fitted on."""

    persona: np.ndarray  # index into the persona list
    row: np.ndarray  # catalogue row
    t: np.ndarray  # the dataset's clock


def later_events(
    personas: Sequence[Persona], later: Mapping[int, pl.DataFrame], catalog: Catalog, cap: int
) -> Events:
    """The first `cap` later items of each persona (by user id in `later`)."""
    who: list[int] = []
    rows: list[int] = []
    times: list[float] = []
    for index, persona in enumerate(personas):
        frame = later.get(persona.provenance.user_id or -1)
        if frame is None:
            continue
        frame = frame.sort("timestamp").head(cap)
        who.extend([index] * frame.height)
        rows.extend(catalog.index(frame["item_id"].to_numpy()).tolist())
        times.extend(float(t) for t in frame["timestamp"].to_list())
    return Events(np.array(who, dtype=np.int64), np.array(rows, dtype=np.int64), np.array(times))


class Statics:
    """Each persona's time-free intent features, computed when asked (one held at a time)."""

    def __init__(self, catalog: Catalog, personas: Sequence[Persona]) -> None:
        self.catalog, self.personas = catalog, personas
        self._held: tuple[int, np.ndarray] | None = None

    def __getitem__(self, index: int) -> np.ndarray:
        if self._held is None or self._held[0] != index:
            self._held = (index, intent_static(self.catalog, self.personas[index]))
        return self._held[1]


def _alternative_features(
    statics: Statics,
    events: Events,
    recent: Callable[[float], np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    n_items = len(statics.catalog)
    x = np.zeros((len(events.row), ALTERNATIVES + 1, len(INTENT_FEATURES)))
    for k, (p, row, t) in enumerate(zip(events.persona, events.row, events.t, strict=True)):
        others = rng.integers(0, n_items - 1, size=ALTERNATIVES)
        rows = np.r_[row, others + (others >= row)]  # uniform over the items that are not `row`
        x[k, :, :4] = statics[p][rows]
        x[k, :, 4] = np.log1p(recent(t)[rows])
    return x


def fit_intent(x: np.ndarray) -> IntentParams:
    """Maximum-likelihood weights of a conditional logit whose choice is alternative 0."""

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        u = x @ beta
        top = u.max(axis=1, keepdims=True)
        e = np.exp(u - top)
        p = e / e.sum(axis=1, keepdims=True)
        nll = -(u[:, 0] - top[:, 0] - np.log(e.sum(axis=1))).sum()
        grad = -(x[:, 0, :] - np.einsum("na,naf->nf", p, x)).sum(axis=0)
        ridge = 1e-3 * len(x)  # a whisper of L2 so a feature that never varies stays at 0
        return float(nll + 0.5 * ridge * beta @ beta) / len(x), (grad + ridge * beta) / len(x)

    result = minimize(loss, np.zeros(x.shape[2]), jac=True, method="L-BFGS-B")
    return IntentParams(**dict(zip(INTENT_FEATURES, (float(b) for b in result.x), strict=True)))


def em_mix(log_lik: np.ndarray, prior: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Mixture shares of the columns (doors) of a per-item log-likelihood table, by EM."""
    k = log_lik.shape[1]
    share = np.full(k, 1.0 / k) if prior is None else prior.copy()
    top = log_lik.max(axis=1, keepdims=True)
    lik = np.exp(log_lik - top)
    for _ in range(_EM_ITERATIONS):
        joint = lik * share
        resp = joint / joint.sum(axis=1, keepdims=True)
        updated = resp.mean(axis=0)
        if np.abs(updated - share).max() < 1e-7:
            share = updated
            break
        share = updated
    mean_ll = float((np.log((lik * share).sum(axis=1)) + top[:, 0]).mean())
    return share, mean_ll


def persona_mix(log_lik: np.ndarray, population: np.ndarray, shrinkage: float) -> np.ndarray:
    """A persona's door shares: its items' posterior shares, shrunk to the population's."""
    if len(log_lik) == 0:
        return population.copy()
    joint = np.exp(log_lik - log_lik.max(axis=1, keepdims=True)) * population
    resp = joint / joint.sum(axis=1, keepdims=True)
    mix: np.ndarray = (resp.sum(axis=0) + shrinkage * population) / (len(log_lik) + shrinkage)
    return mix


def _own_columns(
    statics: Statics, events: Events, params: IntentParams, config: ExposureConfig, ledger: Ledger
) -> tuple[np.ndarray, np.ndarray]:
    """Each event's log-probability under intent and under trending (no friends needed)."""
    recent = Windows(ledger, config.recent_days, DAY)
    trending = Windows(ledger, config.trending_days, DAY)
    intent, trend = np.zeros(len(events.row)), np.zeros(len(events.row))
    for k, (p, row, t) in enumerate(zip(events.persona, events.row, events.t, strict=True)):
        intent[k] = log_softmax(intent_logits(statics[p], recent(float(t)), params))[row]
        trend[k] = smoothed_log(trending(float(t)))[row]
    return intent, trend


def _social_column(
    events: Events, friends: Callable[[int], list[str]], ledger: Ledger, social_days: float
) -> np.ndarray:
    """Each event's log-probability under what the persona's friends rated in the window."""
    out = np.zeros(len(events.row))
    for k, (p, row, t) in enumerate(zip(events.persona, events.row, events.t, strict=True)):
        counts = ledger.friends_counts(friends(int(p)), float(t) - social_days * DAY, float(t))
        out[k] = smoothed_log(counts)[row]
    return out


def door_log_likelihoods(
    statics: Statics,
    events: Events,
    params: IntentParams,
    config: ExposureConfig,
    friends: Callable[[int], list[str]],
    ledger: Ledger,
    social_days: float,
) -> np.ndarray:
    """Log-probability of each event's item under each outside door (OUTSIDE order)."""
    intent, trend = _own_columns(statics, events, params, config, ledger)
    return np.column_stack([intent, _social_column(events, friends, ledger, social_days), trend])


def fit_exposure(
    catalog: Catalog,
    personas: Sequence[Persona],
    later: Mapping[int, pl.DataFrame],
    ledger: Ledger,
    graph: nx.Graph,
    config: ExposureConfig,
    rng: np.random.Generator,
) -> ExposureFit:
    """Fit intent, the mix and the word-of-mouth window on the personas' later items.

    Args:
        catalog: The catalogue of the personas' taste space.
        personas: Built from the earlier part of each user's train.
        later: Each user's later train items (user id -> frame with item_id, timestamp).
        ledger: Every train rating (users as `Persona.target_user`), for the windows.
        graph: Friendships between the personas (`target_user` ids).
        config: The priors and windows.
        rng: The stream the sampled alternatives come from.
    """
    events = later_events(personas, later, catalog, EVENTS_PER_USER)
    if len(events.row) == 0:
        raise ValueError("no later train items to fit the doors on")
    statics = Statics(catalog, personas)
    x = _alternative_features(statics, events, Windows(ledger, config.recent_days, DAY), rng)
    params = fit_intent(x)
    users = [p.target_user for p in personas]

    def friends(p: int) -> list[str]:
        return sorted(graph.neighbors(users[p])) if users[p] in graph else []

    # Only word of mouth depends on the window: intent and trending are computed once.
    intent, trend = _own_columns(statics, events, params, config, ledger)
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for days in SOCIAL_WINDOWS_DAYS:
        social = _social_column(events, friends, ledger, days)
        table = np.column_stack([intent, social, trend])
        share, ll = em_mix(table)
        if best is None or ll > best[0]:
            best = (ll, days, share, table)
    assert best is not None
    ll, days, share, table = best
    return ExposureFit(
        intent=params,
        mix={door: float(s) for door, s in zip(OUTSIDE, share, strict=True)},
        social_days=days,
        events=len(events.row),
        users=len(set(events.persona.tolist())),
        log_likelihood=ll,
        door_log_likelihood={door: float(table[:, k].mean()) for k, door in enumerate(OUTSIDE)},
    )
