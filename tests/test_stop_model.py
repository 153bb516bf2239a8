"""The stop model: parameter recovery, fit to ConvAI2, and its contracts."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from analysis.dialogues import DIALOGUES_SCHEMA, MESSAGES_SCHEMA, DialogueSet, load_convai2
from simulator.domains.chat.stop import (
    StopModel,
    _per_dialogue,
    fit_stop_model,
    fit_stop_model_from,
    sample_user_turns,
)

TRUE = {
    "a": -3.6,
    "a1": 2.4,
    "b": 1.2,
    "c": -0.35,
    "d": 0.9,
    "sd": 1.8,
    "e": -0.5,
    "f": -0.3,
    "g": 0.2,
}


def synthetic(n: int, seed: int, params: dict[str, float] = TRUE) -> DialogueSet:
    """Dialogues drawn from the model's own story, one u per dialogue."""
    rng = np.random.default_rng(seed)
    satisfaction = rng.integers(1, 6, size=n).astype(float)
    satisfaction[rng.uniform(size=n) < 0.4] = np.nan
    missing = np.isnan(satisfaction)
    centred = np.where(missing, 0.0, satisfaction - 3.0)
    u = params["sd"] * rng.standard_normal(n)
    base = params["a"] + params["c"] * centred + params["d"] * missing + u
    k = np.arange(1, 301, dtype=float)
    eta = base[:, None] + params["a1"] * (k == 1) + params["b"] * np.log(k)
    leave = rng.uniform(size=eta.shape) < expit(eta)
    leave[:, -1] = True
    turns = np.argmax(leave, axis=1) + 1
    p_last = expit(params["e"] + params["f"] * centred + params["g"] * missing)
    user_last = rng.uniform(size=n) < p_last
    messages: list[tuple[str, int, str, str]] = []
    dialogues: list[tuple[str, None, None, float | None]] = []
    for i in range(n):
        key = f"syn:{i}"
        dialogues.append((key, None, None, None if missing[i] else float(satisfaction[i])))
        roles = ["user", "assistant"] * int(turns[i])
        if user_last[i]:
            roles.append("user")  # a parting word after the decision to stop
        words = 1 + rng.poisson(3, size=len(roles))
        for j, (role, w) in enumerate(zip(roles, words, strict=True)):
            messages.append((key, j, role, " ".join(["w"] * int(w))))
    return DialogueSet(
        messages=pl.DataFrame(messages, schema=MESSAGES_SCHEMA, orient="row"),
        dialogues=pl.DataFrame(dialogues, schema=DIALOGUES_SCHEMA, orient="row"),
    )


@pytest.fixture(scope="module")
def recovered() -> StopModel:
    return fit_stop_model(synthetic(3000, seed=11), source="synthetic")


def test_recovers_parameters(recovered: StopModel) -> None:
    # About three standard errors, from the spread of fits over seeds 1-6 (the
    # frailty trades off against the turn slope, so a, b and σ move together).
    m = recovered
    assert m.intercept == pytest.approx(TRUE["a"], abs=0.8)
    assert m.first_turn == pytest.approx(TRUE["a1"], abs=0.5)
    assert m.log_turn == pytest.approx(TRUE["b"], abs=0.7)
    assert m.satisfaction == pytest.approx(TRUE["c"], abs=0.17)
    assert m.satisfaction_missing == pytest.approx(TRUE["d"], abs=0.5)
    assert m.frailty_sd == pytest.approx(TRUE["sd"], abs=0.85)
    assert m.last_word_intercept == pytest.approx(TRUE["e"], abs=0.2)
    assert m.last_word_satisfaction == pytest.approx(TRUE["f"], abs=0.1)
    assert m.last_word_missing == pytest.approx(TRUE["g"], abs=0.25)
    assert m.n_dialogues == 3000
    assert m.source == "synthetic"


def test_too_few_dialogues() -> None:
    data = synthetic(19, seed=5)
    with pytest.raises(ValueError, match="too few dialogues"):
        fit_stop_model(data, source="tiny")


def test_dialogues_without_user_turns_are_left_out() -> None:
    data = synthetic(30, seed=8)
    silent = DialogueSet(
        messages=pl.DataFrame(
            [("quiet", 0, "assistant", "hello?")], schema=MESSAGES_SCHEMA, orient="row"
        ),
        dialogues=pl.DataFrame(
            [("quiet", None, None, 2.0), ("empty", None, None, None)],
            schema=DIALOGUES_SCHEMA,
            orient="row",
        ),
    )
    both = DialogueSet(
        messages=pl.concat([data.messages, silent.messages]),
        dialogues=pl.concat([data.dialogues, silent.dialogues]),
    )
    assert fit_stop_model(both, source="x").n_dialogues == 30


# --- on ConvAI2 -----------------------------------------------------------------------------


def _convai2() -> Path:
    root = os.environ.get("SIMFOLK_DATA")
    if not root:
        pytest.skip("SIMFOLK_DATA is not set")
    path = Path(root) / "convai2"
    if not path.is_dir() or not list(path.glob("*.json")):
        pytest.skip(f"no ConvAI2 data under {path}")
    return path


@pytest.fixture(scope="module")
def convai2() -> tuple[StopModel, pl.DataFrame]:
    path = _convai2() / "data_volunteers.json"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    model = fit_stop_model_from(path)
    return model, _per_dialogue(load_convai2(path))


def test_real_source_names_the_file(convai2: tuple[StopModel, pl.DataFrame]) -> None:
    model, table = convai2
    assert model.source.startswith("convai2/data_volunteers.json sha256=")
    assert model.n_dialogues == table.height


def test_real_turns_reproduced(convai2: tuple[StopModel, pl.DataFrame]) -> None:
    model, table = convai2
    turns = table["stop_turn"].to_numpy()
    observed = table["satisfaction"].fill_null(np.nan).to_numpy()
    rng = np.random.default_rng(2024)
    # Scores resampled as the data have them, unscored ones included (NaN = unknown).
    satisfaction = rng.choice(observed, size=20_000)
    drawn = sample_user_turns(model, satisfaction, rng.uniform(size=20_000), rng)
    assert drawn.mean() == pytest.approx(turns.mean(), rel=0.15)
    assert np.mean(drawn == 1) == pytest.approx(np.mean(turns == 1), abs=0.05)
    # With the parting word, the user turns a simulated chat has, against the real ones.
    parting = rng.uniform(size=20_000) < [model.p_user_last(x) for x in satisfaction]
    real_turns = table["user_turns"].to_numpy()
    assert (drawn + parting).mean() == pytest.approx(real_turns.mean(), rel=0.15)
    # The scored dialogues alone, as a simulated user always has a score.
    known = observed[~np.isnan(observed)]
    drawn = sample_user_turns(model, rng.choice(known, 20_000), rng.uniform(size=20_000), rng)
    real = turns[~np.isnan(observed)]
    assert drawn.mean() == pytest.approx(real.mean(), rel=0.15)
    assert np.mean(drawn == 1) == pytest.approx(np.mean(real == 1), abs=0.05)


def test_real_last_word_share(convai2: tuple[StopModel, pl.DataFrame]) -> None:
    model, table = convai2
    observed = table["satisfaction"].to_list()
    predicted = np.mean([model.p_user_last(s) for s in observed])
    assert predicted == pytest.approx(table["user_last"].mean(), abs=0.05)


def test_real_directions(convai2: tuple[StopModel, pl.DataFrame]) -> None:
    model, _ = convai2
    # Clear in the data: unhappy users (score 1) leave soonest, unscored ones too.
    assert model.satisfaction < 0
    assert model.satisfaction_missing > 0
    assert model.first_turn > 0
    hazards = [model.hazard(3, 3.0, p) for p in (0.05, 0.3, 0.5, 0.7, 0.95)]
    assert hazards == sorted(hazards, reverse=True)
    by_score = [model.hazard(3, s, 0.5) for s in (1.0, 2.0, 3.0, 4.0, 5.0)]
    assert by_score == sorted(by_score, reverse=True)


def test_real_words(convai2: tuple[StopModel, pl.DataFrame]) -> None:
    model, _ = convai2
    assert model.median_words(0.0) >= 1
    assert model.median_words(0.5) < model.median_words(1.0)
    assert 0.2 < model.words_log_sd < 2.0


# --- contracts ----------------------------------------------------------------------------


def test_json_round_trip(recovered: StopModel) -> None:
    again = StopModel.model_validate_json(recovered.model_dump_json())
    assert again == recovered
    assert len(again.words_quantiles) == 21


def test_model_without_first_turn_term_loads(recovered: StopModel) -> None:
    data = recovered.model_dump()
    del data["first_turn"]
    assert StopModel.model_validate(data).first_turn == 0.0


def test_bad_turn(recovered: StopModel) -> None:
    with pytest.raises(ValueError, match="turn"):
        recovered.hazard(0, 3.0, 0.5)


def test_sample_is_reproducible(recovered: StopModel) -> None:
    s, p = np.full(50, 3.0), np.linspace(0, 1, 50)
    one = sample_user_turns(recovered, s, p, np.random.default_rng(1), max_turns=20)
    two = sample_user_turns(recovered, s, p, np.random.default_rng(1), max_turns=20)
    assert np.array_equal(one, two)
    assert one.min() >= 1
    assert one.max() <= 20


@settings(max_examples=200, deadline=None)
@given(
    turn=st.integers(1, 100_000),
    satisfaction=st.floats(1, 5),
    patience=st.floats(0, 1),
)
def test_hazard_in_open_unit_interval(
    recovered: StopModel, turn: int, satisfaction: float, patience: float
) -> None:
    h = recovered.hazard(turn, satisfaction, patience)
    assert 0 < h < 1
    assert recovered.hazard(turn, satisfaction, min(patience + 0.1, 1)) <= h


@settings(max_examples=200, deadline=None)
@given(
    low=st.floats(0, 1),
    high=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_words(recovered: StopModel, low: float, high: float, seed: int) -> None:
    low, high = sorted((low, high))
    assert recovered.median_words(low) <= recovered.median_words(high)
    assert recovered.draw_words(low, np.random.default_rng(seed)) >= 1
    assert math.isfinite(recovered.median_words(high))
