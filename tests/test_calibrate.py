"""Calibration fits on train only, is deterministic, and its fit is real."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from personas.datasets import temporal_split
from simulator.domains.recsys.brains.utility import FEATURES, UtilityParams
from simulator.domains.recsys.calibrate import calibrate, resample_weights
from simulator.domains.recsys.run import simulate


@pytest.fixture(scope="module")
def fitted(prepared):
    return calibrate(prepared.dataset, prepared.split.train, seed=1, dims=8)


def test_calibration_is_deterministic(prepared, fitted):
    again = calibrate(prepared.dataset, prepared.split.train, seed=1, dims=8)
    assert again == fitted
    assert fitted.params != UtilityParams()  # something was fitted
    assert fitted.users > 100 and fitted.choice_pairs > 1000 and fitted.activity_users > 10


def test_held_out_ratings_never_reach_the_fit(prepared, fitted):
    """LEAKAGE GUARD: rewrite every held-out rating; the calibration must not move."""
    scale = prepared.dataset.rating_scale
    held = prepared.split.heldout.with_columns(
        (scale.low + scale.high - pl.col("rating")).alias("rating"),
        pl.col("timestamp") + 365 * 86400,
    )
    ratings = pl.concat([prepared.split.train, held])
    other = dataclasses.replace(prepared.dataset, ratings=ratings)
    split = temporal_split(
        ratings, holdout=prepared.split.holdout, min_train=prepared.split.min_train
    )
    assert split.train.equals(prepared.split.train)
    again = calibrate(other, split.train, seed=1, dims=8)
    # Only the digest of the whole dataset (held-out rows included) may differ.
    assert again.dataset_sha256 == other.content_sha256 != fitted.dataset_sha256
    assert again.model_copy(update={"dataset_sha256": fitted.dataset_sha256}) == fitted
    # The guard can fail: fitting on train plus held-out does change the result.
    assert calibrate(other, ratings, seed=1, dims=8) != fitted


def test_the_choice_model_separates_what_users_chose(prepared, fitted):
    """On the fit's own design (later train items vs never-rated ones) the features rank well."""
    from personas.builder import build_personas
    from personas.taste import fit_taste_space
    from simulator.domains.recsys.brains.utility import UtilityBrain
    from simulator.domains.recsys.catalog import Catalog

    inner = temporal_split(prepared.split.train, holdout=0.2, min_train=5)
    space = fit_taste_space(inner.train, prepared.dataset.items["item_id"].to_numpy(), dims=8)
    catalog = Catalog.build(prepared.dataset.items, prepared.dataset.genres, inner.train, space)
    brain = UtilityBrain(catalog, fitted.params)
    users = sorted(set(inner.heldout["user_id"].to_list()))[:60]
    personas = build_personas(prepared.dataset, inner.train, users, space=space, split_label="t")
    rng = np.random.default_rng(0)
    scores, labels = [], []
    for persona in personas:
        later = inner.heldout.filter(pl.col("user_id") == persona.provenance.user_id)["item_id"]
        seen = set(
            prepared.split.train.filter(pl.col("user_id") == persona.provenance.user_id)["item_id"]
        )
        pool = np.array([i for i in catalog.item_ids[::7] if i not in seen])
        negatives = rng.choice(pool, size=len(later), replace=False)
        items = [*later.to_list(), *negatives.tolist()]
        scores.extend(brain.watch_probabilities(persona, items))
        labels.extend([1] * len(later) + [0] * len(negatives))
    assert roc_auc_score(labels, scores) > 0.8
    assert len(fitted.params.choice_coefficients()) == len(FEATURES)


def test_runs_save_and_record_the_calibration(small_config, tmp_path):
    run = simulate(small_config, tmp_path / "r")
    saved = json.loads((run.run_dir / "calibration.json").read_text())
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["calibration"] == saved
    assert saved["params"]["watch_intercept"] != UtilityParams().watch_intercept
    off = simulate(small_config.model_copy(update={"calibrate": False}), tmp_path / "off")
    assert not (off.run_dir / "calibration.json").exists()
    assert json.loads((off.run_dir / "manifest.json").read_text())["calibration"] is None


def _member(prepared, member):
    users = prepared.split.train["user_id"].unique().to_list()
    return resample_weights(users, seed=1, member=member)


def test_resamples_are_keyed_and_draw_with_replacement(prepared):
    first = _member(prepared, 0)
    assert first == _member(prepared, 0) != _member(prepared, 1)
    assert sum(first.values()) == prepared.split.train["user_id"].n_unique()
    assert max(first.values()) > 1


def test_an_ensemble_member_fits_on_a_bootstrap_resample(prepared, fitted):
    train = prepared.split.train
    first = calibrate(prepared.dataset, train, seed=1, dims=8, user_weights=_member(prepared, 0))
    again = calibrate(prepared.dataset, train, seed=1, dims=8, user_weights=_member(prepared, 0))
    assert first == again
    second = calibrate(prepared.dataset, train, seed=1, dims=8, user_weights=_member(prepared, 1))
    assert first.params != fitted.params != second.params != first.params
    # About 1 - 1/e of the users are drawn at least once.
    assert 0.5 * fitted.users < first.users < 0.75 * fitted.users


def test_excluded_users_are_not_fitted_on(prepared, fitted):
    users = sorted(set(prepared.split.train["user_id"].to_list()))
    half = frozenset(users[::2])
    others = calibrate(prepared.dataset, prepared.split.train, seed=1, dims=8, exclude_users=half)
    assert others.users <= fitted.users - len(half) + 1
    assert others.params != fitted.params
    assert others.return_gaps < fitted.return_gaps  # the return model left them out too


def test_a_disjoint_run_calibrates_on_the_users_it_does_not_simulate(small_config, tmp_path):
    config = small_config.model_copy(update={"days": 1, "calibration_users": "others"})
    simulate(config, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    everyone = simulate(small_config.model_copy(update={"days": 1}), tmp_path / "all")
    assert everyone.complete
    plain = json.loads((tmp_path / "all" / "manifest.json").read_text())
    assert manifest["calibration"]["users"] < plain["calibration"]["users"]


def test_a_member_taste_space_projects_every_user(prepared):
    from personas.taste import fit_taste_space

    train = prepared.split.train
    items = prepared.dataset.items["item_id"].to_numpy()
    plain = fit_taste_space(train, items, dims=8)
    weights = _member(prepared, 0)
    member = fit_taste_space(train, items, dims=8, user_weights=weights)
    assert member.id != plain.id and member.id.startswith(plain.id)
    left_out = next(u for u in member.user_ids.tolist() if u not in weights)
    assert np.abs(member.choice_vector(left_out)).sum() > 0
    assert np.abs(member.user_vector(left_out)).sum() > 0
    # With every user drawn once, the resampled fit is the plain one.
    everyone = dict.fromkeys(plain.user_ids.tolist(), 1)
    once = fit_taste_space(train, items, dims=8, user_weights=everyone)
    assert np.allclose(once.choice_item_factors, plain.choice_item_factors, atol=1e-8)
    assert np.allclose(once.user_factors, plain.user_factors, atol=1e-6)
    assert np.allclose(once.item_factors, plain.item_factors, atol=1e-8)
