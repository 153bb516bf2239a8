"""When a simulated user stops talking, fitted to real human-bot chats.

After each of its turns k = 1, 2, ... and the bot's reply, a user decides
whether to go on. The chance of leaving is a discrete-time hazard with a
person-level random intercept (frailty):

    logit h(k) = a + a₁·[k = 1] + b·log(k) + c·(s − 3) + d·m + u,    u ~ N(0, σ²)

where s is the user's satisfaction (1-5), m = 1 when it is unknown (real
chats the person did not score; a simulated user always knows, so m = 0) and
u the person's impatience. The first-turn term a₁ is there because leaving
after one exchange is its own habit (two in five real users do): without it
the fit stretches σ to mimic that spike and overshoots the long tail, giving
mean dialogue lengths 20-25% too high. A persona's patience p is its percentile in the
population, so u = σ·Φ⁻¹(1 − p): patience 0.5 is the median person.

The same chats give who has the last word (does a leaving user send one
more message, a parting word, before going?) and how long users' messages
are. A decision is read off a real chat as a simulated user makes it: one
that ends on the bot's reply stopped after its last turn K; one that ends on
the user's message stopped after turn K − 1 and then said its parting word.
Chats in which the bot never answered a user (a third of ConvAI2's one-turn
chats) hold no decision after a reply and are left out of the fit.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import polars as pl
from numpy.polynomial.hermite_e import hermegauss
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp
from scipy.stats import norm

from analysis.dialogues import DialogueSet, load_convai2

MIN_DIALOGUES = 20
QUADRATURE_NODES = 24
WORDS_QUANTILES = tuple(np.linspace(0.0, 1.0, 21).tolist())
PATIENCE_CLIP = (0.01, 0.99)
# The log-SD of the frailty is kept in a range where the quadrature is accurate
# and the optimiser cannot wander off when the data show no heterogeneity.
LOG_SD_BOUNDS = (-6.0, 2.0)
# Keeps h strictly inside (0, 1) in floating point at extreme turns.
ETA_CLIP = 30.0


class StopModel(BaseModel):
    """A fitted stop model: hazard of leaving, last word and message length.

    Attributes:
        intercept: a, the log-odds of leaving (at log(turn) = 0, first-turn
            term aside) for a median person at satisfaction 3.
        first_turn: a₁, added after the first turn only (0 gives the model
            without it).
        log_turn: b, the change in log-odds per unit of log(turn).
        satisfaction: c, per point of satisfaction above 3.
        satisfaction_missing: d, for dialogues with no score (fit only).
        frailty_sd: σ, the SD of the persons' impatience on the logit scale.
        last_word_intercept: e, log-odds that a leaving user sends the last message.
        last_word_satisfaction: f, per point of satisfaction above 3.
        last_word_missing: g, for dialogues with no score (fit only).
        words_quantiles: 21 quantiles (0, 5, ..., 100%) of the per-dialogue
            median user message length, in words.
        words_log_sd: pooled within-dialogue SD of log(words per message).
        source: what the model was fitted on (file name and sha256 prefix).
        n_dialogues: dialogues with at least one user turn used in the fit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    intercept: float
    first_turn: float = 0.0
    log_turn: float
    satisfaction: float
    satisfaction_missing: float
    frailty_sd: float = Field(ge=0)
    last_word_intercept: float
    last_word_satisfaction: float
    last_word_missing: float
    words_quantiles: tuple[float, ...] = Field(min_length=21, max_length=21)
    words_log_sd: float = Field(ge=0)
    source: str
    n_dialogues: int = Field(ge=0)

    def frailty(self, patience: float | np.ndarray) -> np.ndarray:
        """The impatience u of a persona at this patience percentile (clipped to [0.01, 0.99])."""
        p = np.clip(np.asarray(patience, dtype=float), *PATIENCE_CLIP)
        return np.asarray(self.frailty_sd * norm.ppf(1.0 - p))

    def _eta(self, turn: np.ndarray, satisfaction: np.ndarray, patience: np.ndarray) -> np.ndarray:
        missing = np.isnan(satisfaction)
        centred = np.where(missing, 0.0, satisfaction - 3.0)
        eta = (
            self.intercept
            + self.first_turn * (turn == 1)
            + self.log_turn * np.log(turn)
            + self.satisfaction * centred
            + self.satisfaction_missing * missing
            + self.frailty(patience)
        )
        return np.clip(eta, -ETA_CLIP, ETA_CLIP)

    def hazard(self, turn: int, satisfaction: float | None, patience: float) -> float:
        """The chance that the user leaves after its `turn`-th turn (from 1).

        Args:
            turn: how many turns the user has taken, >= 1.
            satisfaction: 1-5; None (or NaN) for unknown, as in unscored real chats.
            patience: the persona's percentile in the population's patience, 0-1.

        Raises:
            ValueError: if `turn` < 1.
        """
        if turn < 1:
            raise ValueError(f"turn must be >= 1, got {turn}")
        s = math.nan if satisfaction is None else float(satisfaction)
        eta = self._eta(np.asarray(float(turn)), np.asarray(s), np.asarray(float(patience)))
        return float(expit(eta))

    def p_user_last(self, satisfaction: float | None) -> float:
        """The chance that a leaving user sends one more message instead of leaving silently.

        Args:
            satisfaction: 1-5; None (or NaN) for unknown.
        """
        s = math.nan if satisfaction is None else float(satisfaction)
        missing = math.isnan(s)
        eta = (
            self.last_word_intercept
            + self.last_word_satisfaction * (0.0 if missing else s - 3.0)
            + self.last_word_missing * missing
        )
        return float(expit(eta))

    def median_words(self, verbosity: float) -> float:
        """The median message length of a persona at this verbosity percentile (0-1)."""
        v = min(max(float(verbosity), 0.0), 1.0)
        return float(np.interp(v, WORDS_QUANTILES, self.words_quantiles))

    def draw_words(self, verbosity: float, rng: np.random.Generator) -> int:
        """A message length in words (>= 1), lognormal around the persona's median."""
        z = float(rng.standard_normal())
        return max(1, round(self.median_words(verbosity) * math.exp(self.words_log_sd * z)))


# --- fitting ------------------------------------------------------------------------------


def _per_dialogue(dialogues: DialogueSet) -> pl.DataFrame:
    """One row per dialogue with a decision after a bot reply.

    Columns: user turns, last speaker, the turn after which the user decided to
    stop (`stop_turn`), satisfaction.
    """
    messages = dialogues.messages.sort("dialogue_id", "turn")
    # A user turn starts at a user message that does not follow another user message.
    starts = (pl.col("role") == "user") & (
        pl.col("role").shift(1).over("dialogue_id").fill_null("") != "user"
    )
    stats = messages.group_by("dialogue_id").agg(
        starts.sum().alias("user_turns"),
        (pl.col("role").last() == "user").alias("user_last"),
    )
    return (
        dialogues.dialogues.select("dialogue_id", "satisfaction")
        .join(stats, on="dialogue_id", how="inner")
        .with_columns(
            (pl.col("user_turns") - pl.col("user_last").cast(pl.Int64)).alias("stop_turn")
        )
        .filter(pl.col("stop_turn") >= 1)
        .sort("dialogue_id")
    )


def _design(satisfaction: np.ndarray) -> np.ndarray:
    """Columns [1, s − 3 (0 if unknown), unknown]."""
    missing = np.isnan(satisfaction)
    centred = np.where(missing, 0.0, satisfaction - 3.0)
    return np.column_stack([np.ones_like(centred), centred, missing.astype(float)])


def _fit_hazard(turns: np.ndarray, satisfaction: np.ndarray) -> np.ndarray:
    """(a, a₁, b, c, d, log σ) by maximum marginal likelihood, Gauss-Hermite over u."""
    n = len(turns)
    # Person-period rows, one per (dialogue, turn), each dialogue's rows together.
    owner = np.repeat(np.arange(n), turns)
    first = np.cumsum(turns) - turns
    k = np.arange(len(owner)) - first[owner] + 1
    y = (k == turns[owner]).astype(float)  # every dialogue ends by the user's choice
    covariates = _design(satisfaction)[owner]
    x = np.column_stack([covariates[:, 0], k == 1, np.log(k), covariates[:, 1:]])
    p = x.shape[1]
    nodes, weights = hermegauss(QUADRATURE_NODES)
    log_w = np.log(weights / weights.sum())

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        beta, sd = theta[:p], math.exp(theta[p])
        eta = (x @ beta)[:, None] + sd * nodes[None, :]  # rows × nodes
        ll_rows = y[:, None] * log_expit(eta) + (1.0 - y[:, None]) * log_expit(-eta)
        joint = np.add.reduceat(ll_rows, first, axis=0) + log_w
        marginal = logsumexp(joint, axis=1)
        post = np.exp(joint - marginal[:, None])  # posterior weight of each node
        score = (y[:, None] - expit(eta)) * post[owner]
        grad_beta = x.T @ score.sum(axis=1)
        grad_log_sd = float((score * (sd * nodes)[None, :]).sum())
        return -float(marginal.sum()), -np.append(grad_beta, grad_log_sd)

    start = np.zeros(p + 1)
    start[0] = -math.log(max(turns.mean() - 1.0, 0.5))  # a geometric length with that mean
    bounds = [(None, None)] * p + [LOG_SD_BOUNDS]
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(result.x)):
        raise ValueError(f"stop model fit failed: {result.message}")
    return np.asarray(result.x)


def _fit_last_word(user_last: np.ndarray, satisfaction: np.ndarray) -> np.ndarray:
    """(e, f, g): logistic regression of "the user spoke last" on satisfaction."""
    x = _design(satisfaction)
    y = user_last.astype(float)
    # A whisper of ridge keeps the fit finite if a category is all one outcome.
    ridge = 1e-6

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ beta
        nll = -float(np.sum(y * log_expit(eta) + (1.0 - y) * log_expit(-eta)))
        grad = -x.T @ (y - expit(eta)) + 2 * ridge * beta
        return nll + ridge * float(beta @ beta), grad

    result = minimize(objective, np.zeros(3), jac=True, method="L-BFGS-B")
    return np.asarray(result.x)


def _fit_words(dialogues: DialogueSet) -> tuple[tuple[float, ...], float]:
    """Quantiles of per-dialogue median words, and pooled within-dialogue SD of log words."""
    words = (
        dialogues.messages.filter(pl.col("role") == "user")
        .with_columns(pl.col("text").fill_null("").str.count_matches(r"\S+").alias("words"))
        .filter(pl.col("words") >= 1)
        .with_columns(pl.col("words").cast(pl.Float64).log().alias("log_words"))
    )
    per = words.group_by("dialogue_id").agg(
        pl.col("words").median().alias("median"),
        pl.len().alias("n"),
        ((pl.col("log_words") - pl.col("log_words").mean()) ** 2).sum().alias("ss"),
    )
    if per.height == 0:
        raise ValueError("no user message with a word in it: cannot fit message lengths")
    quantiles = np.quantile(per["median"].to_numpy(), WORDS_QUANTILES)
    pooled = per.filter(pl.col("n") >= 2)
    dof = float((pooled["n"] - 1).sum())
    log_sd = math.sqrt(float(pooled["ss"].sum()) / dof) if dof > 0 else 0.0
    return tuple(float(q) for q in quantiles), log_sd


def fit_stop_model(dialogues: DialogueSet, *, source: str) -> StopModel:
    """Fit the stop model to dialogues (real ones, or a run's for comparison).

    Args:
        dialogues: messages and dialogues; only dialogues with >= 1 user turn count.
        source: what they are, recorded in the model.

    Raises:
        ValueError: with fewer than 20 dialogues that have a user turn.
    """
    table = _per_dialogue(dialogues)
    if table.height < MIN_DIALOGUES:
        raise ValueError(
            f"too few dialogues to fit a stop model: {table.height} with a bot reply, "
            f"need at least {MIN_DIALOGUES}"
        )
    turns = table["stop_turn"].to_numpy().astype(np.int64)
    satisfaction = table["satisfaction"].fill_null(np.nan).to_numpy().astype(float)
    a, a1, b, c, d, log_sd = _fit_hazard(turns, satisfaction)
    e, f, g = _fit_last_word(table["user_last"].to_numpy(), satisfaction)
    quantiles, words_log_sd = _fit_words(dialogues)
    return StopModel(
        intercept=float(a),
        first_turn=float(a1),
        log_turn=float(b),
        satisfaction=float(c),
        satisfaction_missing=float(d),
        frailty_sd=math.exp(float(log_sd)),
        last_word_intercept=float(e),
        last_word_satisfaction=float(f),
        last_word_missing=float(g),
        words_quantiles=quantiles,
        words_log_sd=words_log_sd,
        source=source,
        n_dialogues=table.height,
    )


def _describe(path: Path) -> str:
    """`<folder>/<file> sha256=<prefix>`, hashing every file read, in name order."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    name = f"{path.name}/*.json" if path.is_dir() else f"{path.parent.name}/{path.name}"
    return f"{name} sha256={digest.hexdigest()[:16]}"


def fit_stop_model_from(path: str | Path) -> StopModel:
    """Fit on ConvAI2 JSON: a file, or every `*.json` in a folder."""
    path = Path(path)
    return fit_stop_model(load_convai2(path), source=_describe(path))


def sample_user_turns(
    model: StopModel,
    satisfaction: np.ndarray,
    patience: np.ndarray,
    rng: np.random.Generator,
    max_turns: int = 200,
) -> np.ndarray:
    """One draw of the number of user turns per entry (for checks and tests).

    Args:
        model: the stop model.
        satisfaction: 1-5 per entry; NaN for unknown.
        patience: 0-1 per entry.
        rng: draws one uniform per entry and turn, used or not.
        max_turns: dialogues still going after this many turns stop here.

    Returns:
        Integers in [1, max_turns], one per entry.
    """
    s = np.asarray(satisfaction, dtype=float)[:, None]
    p = np.asarray(patience, dtype=float)[:, None]
    k = np.arange(1, max_turns + 1, dtype=float)[None, :]
    h = expit(model._eta(k, s, p))
    leave = rng.uniform(size=h.shape) < h
    leave[:, -1] = True
    return np.argmax(leave, axis=1) + 1
