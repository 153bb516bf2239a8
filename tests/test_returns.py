"""Coming back depends on what happened: the return model, fitted and in a run."""

import math

import numpy as np
import polars as pl
import pytest

from analysis.ab_arms import persona_table
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.brains.utility import UtilityParams, gap_factor
from simulator.domains.recsys.calibrate import fit_return_model


def _log(beta_n, beta_s, users=60, sessions=12, seed=0):
    """Ratings whose next-session gap follows log gap = base + beta_n*log1p(n) + beta_s*z."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        t = 1_000_000.0
        base = rng.normal(11.0, 0.5)  # people differ in how often they come
        for _ in range(sessions):
            n = int(rng.integers(1, 15))
            ratings = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=n)
            for k, r in enumerate(ratings):
                rows.append((user, 100 * user + len(rows) % 97, r, int(t + 60 * k)))
            t += 60 * n
            # z as the fit computes it is only known afterwards; use the raw mean's offset.
            sat = float(ratings.mean() - 3.0)
            t += math.exp(base + beta_n * math.log1p(n) + beta_s * sat + rng.normal(0, 0.1))
    return pl.DataFrame(
        rows, schema=["user_id", "item_id", "rating", "timestamp"], orient="row"
    ).with_columns(pl.col("timestamp").cast(pl.Int64))


def test_the_fit_recovers_the_engagement_effect():
    engagement, _, gaps = fit_return_model(_log(-0.5, 0.0))
    assert gaps > 500
    assert engagement == pytest.approx(-0.5, abs=0.05)
    no_effect, _, _ = fit_return_model(_log(0.0, 0.0, seed=1))
    assert abs(no_effect) < 0.05


def test_the_fit_says_nothing_from_too_few_gaps():
    assert fit_return_model(_log(-0.5, 0.0, users=2, sessions=3))[:2] == (0.0, 0.0)


def test_a_bigger_or_happier_session_brings_the_persona_back_sooner(prepared):
    from personas.builder import build_personas

    user = int(prepared.split.train["user_id"][0])
    (persona,) = build_personas(
        prepared.dataset, prepared.split.train, [user], space=prepared.space, split_label="t"
    )
    usual = round(persona.traits.items_per_session)
    params = UtilityParams(return_engagement=-0.25, return_satisfaction=-0.5)
    assert gap_factor(persona, UtilityParams(), 0, 0.0) == 1.0
    assert gap_factor(persona, params, 3 * usual, 0.0) < 1.0 < gap_factor(persona, params, 0, 0.0)
    assert gap_factor(persona, params, usual, 2.0) < gap_factor(persona, params, usual, -2.0)


def test_a_worse_recommender_loses_sessions_under_crn(small_config, tmp_path):
    # The mechanism alone: the persona's own session rate (the activity prior), with and
    # without the return model's strength (MovieLens's fitted one, about -0.25).
    config = small_config.model_copy(update={"days": 7, "personas": 30, "calibrate": False})

    def lost(utility, out):
        run = simulate_ab(
            config.model_copy(update={"utility": utility}),
            {"knn": "itemknn", "random": "random"},
            out,
            workers=1,
        )
        sessions = {arm: persona_table(d)["sessions"].sum() for arm, d in run.arms.items()}
        return sessions["knn"] - sessions["random"]

    # Without it the arms share their arrival draws, so sessions differ only by how long
    # the sessions themselves took.
    returning = UtilityParams(return_engagement=-0.25, return_satisfaction=-0.1)
    assert lost(returning, tmp_path / "fitted") > lost(UtilityParams(), tmp_path / "flat") + 5


def test_the_continue_share_counts_cut_sessions():
    from simulator.domains.recsys.calibrate import continue_share

    train = pl.DataFrame({"user_id": [1, 1, 2, 3], "timestamp": [0, 100, 50, 10]})
    later = pl.DataFrame({"user_id": [1, 2, 3], "timestamp": [200, 50 + 7200, 20]})
    assert continue_share(train, later) == pytest.approx(2 / 3)
    assert continue_share(train, later, {1: 2, 2: 1}) == pytest.approx(2 / 3)
    assert continue_share(train, later.head(0)) == 0.0


def test_personas_cut_mid_session_go_on_at_once(small_config, tmp_path):
    from analysis.frames import load_events
    from simulator.domains.recsys.run import simulate

    def first_starts(share: float, out: str) -> list[float]:
        config = small_config.model_copy(
            update={"calibrate": False, "utility": UtilityParams(continue_share=share)}
        )
        events = load_events(simulate(config, tmp_path / out).run_dir)
        starts = events.filter(pl.col("event") == "session_start")
        return starts.group_by("persona_id").agg(pl.col("t").min())["t"].to_list()

    assert set(first_starts(1.0, "all")) == {0.0}
    assert 0.0 not in first_starts(0.0, "none")
