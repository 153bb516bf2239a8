"""Implicit feedback and logs without times: plays, not ratings, from the reader to compare."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from analysis.run_compare import compare_run
from personas.datasets import DatasetError, hashed_split, load_dataset, temporal_split
from personas.datasets.export import write_log
from personas.datasets.mapping import MAPPING_FILE
from personas.schema import Persona
from simulator import RunConfig, simulate
from simulator.domains.recsys.actions import ActionSpace, Click, Consume, InvalidAction, Rate
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).parents[1] / "scenarios"


def _plays(folder: Path, rows: str, *, timed: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plays.tsv").write_text(rows, encoding="utf-8")
    interactions: dict[str, Any] = {
        "file": "plays.tsv", "header": False, "names": ["u", "a", "n", "t"][: 4 if timed else 3],
        "user": "u", "item": "a", "weight": {"column": "n"},
    }  # fmt: skip
    if timed:
        interactions["time"] = {"column": "t", "unit": "seconds"}
    mapping = {"version": 1, "name": "plays", "interactions": interactions,
               "words": {"item": "artist", "items": "artists", "consume": "listen to",
                         "consumed": "listened to"}}  # fmt: skip
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return folder


def test_a_log_of_plays_without_times_reads_as_implicit_counts(tmp_path):
    ds = load_dataset(_plays(tmp_path / "p", "1\t10\t5\n1\t11\t2\n2\t10\t7\n1\t10\t3\n"))
    assert (ds.feedback, ds.timed, ds.rating_scale) == ("implicit", False, None)
    # The same user and artist twice (no times to tell them apart) is one row of 8 plays.
    assert ds.ratings.select("user_id", "item_id", "count").rows() == [
        (1, 10, 8), (1, 11, 2), (2, 10, 7)
    ]  # fmt: skip
    assert ds.ratings["rating"].null_count() == ds.ratings.height  # no rating is invented
    assert set(ds.ratings["timestamp"].to_list()) == {0}
    with pytest.raises(ValueError, match=r"implicit feedback .* needs ratings"):
        _ = ds.scale


def test_a_timed_log_of_plays_keeps_each_time(tmp_path):
    ds = load_dataset(_plays(tmp_path / "p", "1\t10\t1\t100\n1\t10\t1\t200\n", timed=True))
    assert ds.timed and ds.ratings.select("timestamp", "count").rows() == [(100, 1), (200, 1)]


@pytest.mark.parametrize(
    ("count", "message"),
    [("0", "a count must be a whole number >= 1: '0'"),
     ("2.5", "a count must be a whole number >= 1: '2.5'"), ("lots", "not a number: 'lots'")],
)  # fmt: skip
def test_a_bad_count_names_the_file_the_row_and_the_column(tmp_path, count, message):
    folder = _plays(tmp_path / "p", f"1\t10\t3\n1\t11\t{count}\n")
    with pytest.raises(DatasetError, match=rf"plays\.tsv, row 2, column 'n': {message}"):
        load_dataset(folder)


def test_an_implicit_timeless_log_written_out_reads_back_the_same(tmp_path):
    ds = load_dataset(_plays(tmp_path / "p", "1\t10\t5\n1\t11\t2\n2\t10\t7\n"))
    again = load_dataset(write_log(ds, tmp_path / "out", "jsonl", columns={"weight": "plays"}))
    assert_frame_equal(again.ratings, ds.ratings)
    assert (again.feedback, again.timed) == ("implicit", False)
    assert again.content_sha256 == ds.content_sha256


def _ratings(n_users: int, per_user: list[int]) -> pl.DataFrame:
    rows = [(u, 1000 + 7 * i + u, 0, 1 + i) for u in range(n_users) for i in range(per_user[u % 5])]
    return pl.DataFrame(
        rows, schema=["user_id", "item_id", "timestamp", "count"], orient="row"
    ).with_columns(pl.lit(None, pl.Float64).alias("rating"))


@settings(max_examples=40, deadline=None)
@given(
    per_user=st.lists(st.integers(1, 30), min_size=5, max_size=5),
    holdout=st.sampled_from([0.1, 0.2, 0.5]),
    seed=st.integers(0, 2**31),
)
def test_the_hashed_split_is_a_function_of_the_rows_alone(per_user, holdout, seed):
    frame = _ratings(12, per_user)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    a, b = hashed_split(frame, holdout, 3), hashed_split(shuffled, holdout, 3)
    assert_frame_equal(a.train, b.train)
    assert_frame_equal(a.heldout, b.heldout)
    # Each user loses as many rows as the temporal rule would take: only the order differs.
    timed = temporal_split(frame.with_columns(pl.col("count").alias("timestamp")), holdout, 3)
    assert (
        a.heldout.group_by("user_id")
        .len()
        .sort("user_id")
        .equals(timed.heldout.group_by("user_id").len().sort("user_id"))
    )
    assert a.train.height + a.heldout.height == frame.height
    assert set(a.heldout["timestamp"].to_list()) <= {0}


def test_the_hashed_split_does_not_hold_out_by_item_order():
    frame = _ratings(200, [20, 20, 20, 20, 20])
    held = hashed_split(frame, 0.2, 3).heldout
    # Within each user items grow with i; a split by item order would hold out the top 4.
    rank = frame.with_columns(pl.int_range(pl.len()).over("user_id").alias("i"))
    ranks = held.join(rank.select("user_id", "item_id", "i"), on=["user_id", "item_id"])["i"]
    assert 7.0 < float(ranks.mean()) < 12.0  # type: ignore[arg-type]


def test_actions_follow_the_kind_of_feedback():
    implicit = ActionSpace(item_ids=(1, 2), rating_scale=None)
    assert implicit.validate_sequence([Click(item_id=1, position=0), Consume(item_id=1, count=3)])
    with pytest.raises(InvalidAction, match=r"no ratings .* consume it instead"):
        implicit.validate(Rate(item_id=1, rating=4.0))
    with pytest.raises(InvalidAction, match="consume of item 2 before any click"):
        implicit.validate_sequence([Consume(item_id=2, count=1)])
    explicit = ActionSpace(item_ids=(1,), rating_scale=load_dataset("ml-latest-small").scale)
    with pytest.raises(InvalidAction, match="has ratings; rate it instead"):
        explicit.validate(Consume(item_id=1, count=1))


@pytest.fixture(scope="module")
def lastfm_run(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not (Path(os.environ.get("SIMFOLK_DATA", "")) / "hetrec2011-lastfm-2k").is_dir():
        pytest.skip("Last.fm 2K is not under SIMFOLK_DATA (make test sets it)")
    module = load_scenario(str(SCENARIOS / "lastfm_plays.py"))
    config = module.CONFIG.model_copy(update={"personas": 12, "days": 2})
    out = tmp_path_factory.mktemp("lastfm") / "run"
    return config, module.run(config, out)


def test_lastfm_runs_end_to_end_on_plays_without_ratings_or_times(lastfm_run):
    _, result = lastfm_run
    assert result.complete
    events = pl.read_parquet(result.run_dir / "events" / "*.parquet")
    kinds = set(events["event"].to_list())
    assert "rate" not in kinds and {"click", "consume"} <= kinds
    consumed = events.filter(pl.col("event") == "consume")
    clicks = events.filter(pl.col("event") == "click")
    # Every click is followed by its count (a persona's events are in order; personas interleave).
    for column in ("persona_id", "item_id"):
        assert consumed.sort("persona_id", "seq")[column].equals(
            clicks.sort("persona_id", "seq")[column]
        )
    assert consumed["count"].min() >= 1 and consumed["rating"].null_count() == consumed.height
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["split"]["rule"] == "hashed holdout=0.2 min_train=5"
    calibration = manifest["calibration"]
    assert calibration["activity_fitted"] is False and calibration["return_gaps"] == 0
    personas = json.loads((result.run_dir / "personas.json").read_text())["personas"]
    assert all(p["backstory"].startswith("I listen to a lot of artists.") for p in personas)
    assert not any("out of" in p["backstory"] or "rating" in p["backstory"] for p in personas)


def test_lastfm_personas_style_is_their_log_plays(lastfm_run):
    config, result = lastfm_run
    personas = json.loads((result.run_dir / "personas.json").read_text())["personas"]
    ds = load_dataset(config.dataset)
    train = hashed_split(ds.ratings, config.holdout, config.min_train).train
    persona = Persona.model_validate(personas[0])
    mine = train.filter(pl.col("user_id") == persona.provenance.user_id)["count"].to_numpy()
    assert persona.rating.mean == pytest.approx(float(np.mean(np.log1p(mine))))
    assert persona.provenance.n_train == len(mine) and persona.provenance.train_until == 0


def test_lastfm_compare_holds_plays_and_popularity_and_leaves_out_visits(lastfm_run):
    _, result = lastfm_run
    rows = {row.metric: row for row in compare_run(result.run_dir).rows}
    assert list(rows) == ["plays_log", "item_gini", "item_top10_share", "coverage"]
    plays = rows["plays_log"]
    assert math.isfinite(plays.distance) and math.isfinite(plays.floor) and plays.floor > 0


def test_bench_fidelity_holds_plays_not_ratings_on_implicit_data(lastfm_run):
    from analysis.fidelity import fidelity

    config, _ = lastfm_run
    report = fidelity(config, users=20, ratios=(1,), macro=False)
    plays = report.ratings
    assert plays.quantity == "log_plays" and plays.as_dict()["n"] == plays.real.size > 0
    counts = np.expm1(plays.real)  # log(1 + a held-out play count), never a made-up rating
    assert np.allclose(counts, np.round(counts)) and counts.min() >= 1
    assert np.isfinite(plays.rmse) and report.micro[0].lists > 0
    with pytest.raises(ValueError, match=r"has no ratings.*--brain utility"):
        fidelity(config.model_copy(update={"brain": "hybrid"}), users=5, macro=False)


def test_a_refit_hears_how_many_times_each_simulated_item_was_played(lastfm_run, tmp_path):
    from simulator.core.rng import Streams
    from simulator.domains.recsys.targets import make_target

    config, _ = lastfm_run
    fits: list[pl.DataFrame] = []

    class Recording:  # item-kNN, keeping what every fit was given
        name = "recording"

        def __init__(self, catalog: Any, streams: Streams) -> None:
            self.inner = make_target("itemknn", catalog, streams)

        def fit(self, interactions: pl.DataFrame) -> None:
            fits.append(interactions)
            self.inner.fit(interactions)

        def recommend(self, user: str, k: int, context: Any) -> list[int]:
            return self.inner.recommend(user, k, context)

        def feedback(self, event: Any) -> None:
            self.inner.feedback(event)

        def get_state(self) -> Any:
            return self.inner.get_state()

        def set_state(self, state: Any) -> None:
            self.inner.set_state(state)

    small = config.model_copy(update={"personas": 8, "days": 2})
    simulate(small, tmp_path / "run", target=Recording)
    consumed = pl.read_parquet(tmp_path / "run" / "events" / "*.parquet").filter(
        pl.col("event") == "consume", pl.col("t") < 86_400.0
    )
    assert len(fits) == 2 and consumed.height > 0  # the first fit, and the refit after day 1
    heard = fits[1].join(fits[0], on=["user", "item_id", "t"], how="anti")
    assert heard["rating"].null_count() == heard.height  # no rating invented
    assert sorted(heard["count"].to_list()) == sorted(consumed["count"].to_list())


def test_an_ab_run_and_its_report_on_plays(lastfm_run, tmp_path):
    from analysis.ab import analyse_ab_dir
    from analysis.report import write_report
    from simulator.domains.recsys.ab import simulate_ab

    config, _ = lastfm_run
    small = config.model_copy(update={"personas": 8, "days": 1})
    run = simulate_ab(small, {"als": "als", "pop": "popularity"}, tmp_path / "ab", workers=1)
    assert run.complete
    stats = analyse_ab_dir(tmp_path / "ab")
    assert stats.personas == 8 and {d.arm for d in stats.differences} == {"pop"}
    html = write_report(tmp_path / "ab", tmp_path / "report.html").read_text(encoding="utf-8")
    assert "plays_log" in html and "<td>rating</td>" not in html


def test_an_implicit_timed_log_runs_and_compares_with_its_visits(tmp_path, event_digests):
    source = load_dataset("ml-latest-small")
    folder = tmp_path / "clicks"
    folder.mkdir()
    source.ratings.select("user_id", "item_id", "timestamp").write_csv(folder / "clicks.csv")
    mapping = {"version": 1, "name": "clicks", "interactions": {
        "file": "clicks.csv", "user": "user_id", "item": "item_id",
        "time": {"column": "timestamp", "unit": "seconds"}}}  # fmt: skip
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping), encoding="utf-8")
    config = RunConfig(
        scenario="clicks", dataset=str(folder), personas=8, days=2, seed=3, target="als",
        refit_every_days=1.0,
    )  # fmt: skip
    whole = simulate(config, tmp_path / "whole")
    first = simulate(config, tmp_path / "split", until_day=1)
    rest = simulate(config, tmp_path / "split", resume=True)
    assert not first.complete and rest.complete
    assert event_digests(whole.run_dir) == event_digests(rest.run_dir)  # counts resume exactly
    rows = [row.metric for row in compare_run(whole.run_dir).rows]
    assert rows[:2] == ["plays_log", "items_per_session"] and "rating" not in rows


def test_the_llm_brain_is_refused_on_implicit_data_before_any_model_starts(tmp_path):
    folder = _plays(tmp_path / "p", "".join(f"{u}\t{i}\t{u + i}\n" for u in range(1, 9)
                                             for i in range(1, 12)))  # fmt: skip
    config = RunConfig(scenario="x", dataset=str(folder), personas=4, days=1, brain="llm")
    with pytest.raises(ValueError, match=r"brain 'llm' rates what it picks.*--brain hybrid"):
        simulate(config.model_copy(update={"calibrate": False}), tmp_path / "run")
