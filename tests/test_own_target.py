"""Recommenders the user brings in process: MODULE:ATTR, an object, a scenario's registration."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from analysis.frames import load_events
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.run import simulate
from simulator.domains.recsys.targets import check_target
from simulator.domains.recsys.targets.itemknn import ItemKNNRecommender
from simulator.domains.recsys.targets.spec import checked_recommender, target_origin

MODULE = """
from simulator.domains.recsys.targets.itemknn import ItemKNNRecommender


class Mine(ItemKNNRecommender):
    def __init__(self, catalog, streams):
        super().__init__(catalog, name="mine")


def make_mine(catalog, streams):
    return Mine(catalog, streams)


class Broken:
    name = "broken"

    def fit(self, interactions):
        pass

    def recommend(self, user, k):
        return []


class UnknownItems(Mine):
    def recommend(self, user, k, context):
        return [-1]


NOT_A_TARGET = 3
"""


@pytest.fixture
def own_module(tmp_path, monkeypatch):
    name = f"own_recs_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)  # refs resolve from the folder simfolk runs from
    yield name
    sys.modules.pop(name, None)


def _without_target(events: pl.DataFrame) -> pl.DataFrame:
    return events.drop("target")


def test_a_class_by_ref_runs_like_the_builtin_it_wraps(small_config, own_module, tmp_path):
    config = small_config.model_copy(update={"target": "itemknn", "refit_every_days": 1})
    builtin = load_events(simulate(config, tmp_path / "builtin").run_dir)
    for ref in (f"{own_module}:Mine", f"{own_module}:make_mine"):
        out = tmp_path / ref.replace(":", "-")
        events = load_events(simulate(config.model_copy(update={"target": ref}), out).run_dir)
        assert _without_target(events).equals(_without_target(builtin))
        assert set(events["target"].drop_nulls()) == {"mine"}
        assert json.loads((out / "manifest.json").read_text())["target"] == ref


def test_a_ref_that_is_not_a_recommender_says_what_it_lacks(small_config, own_module, tmp_path):
    with pytest.raises(ValueError) as broken:
        simulate(small_config.model_copy(update={"target": f"{own_module}:Broken"}), tmp_path / "b")
    message = str(broken.value)
    assert "is not a recommender" in message
    assert "recommend(user: str, k: int, context: RecContext), not recommend(user, k)" in message
    assert "a method feedback(event: Interaction)" in message
    assert "a method get_state()" in message and "fit(" not in message
    with pytest.raises(ValueError, match="is a int: give a class or a factory"):
        check_target(f"{own_module}:NOT_A_TARGET")
    with pytest.raises(ValueError, match="check the name after the colon"):
        check_target(f"{own_module}:Nope")
    with pytest.raises(ValueError, match=r"unknown target 'nope'; choose one of: .*MODULE:ATTR"):
        check_target("nope")


def test_run_says_when_the_target_failed_and_finishes(own_module, tmp_path):
    from typer.testing import CliRunner

    from simulator.cli import app

    scenario = Path(__file__).parents[1] / "scenarios" / "movielens_week.py"
    command = ["run", str(scenario), "--dataset", "ml-latest-small", "--personas", "4"]
    command += ["--days", "1", "--target", f"{own_module}:UnknownItems", "--out", "r"]
    result = CliRunner().invoke(app, command, env={"COLUMNS": "10000"})
    assert result.exit_code == 0, result.output
    assert re.search(r"warning: the target failed \d+ times \(unknown_item \d+\)", result.output)


def test_an_object_given_to_simulate_is_the_target(small_config, prepared, tmp_path):
    target = ItemKNNRecommender(prepared.catalog, name="given")
    result = simulate(small_config, tmp_path / "r", target=target)
    events = result.events_frame()  # the result reads back as frames, not only a path
    assert events.equals(load_events(result.run_dir)) and events.height == result.events
    assert set(events["target"].drop_nulls()) == {"given"}
    personas = result.personas_frame()
    assert personas.height == small_config.personas and personas["id"].n_unique() == personas.height
    series = result.timeseries_frame()
    assert series is not None and series.height >= small_config.days
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert (
        manifest["target"] == "python:simulator.domains.recsys.targets.itemknn.ItemKNNRecommender"
    )
    with pytest.raises(ValueError, match=r"'a lambda' .* is not a recommender"):
        checked_recommender(lambda: None, "a lambda")


SCENARIO = """
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.targets import TARGETS
from simulator.domains.recsys.targets.itemknn import ItemKNNRecommender

TARGETS.register("{name}", lambda catalog, streams: ItemKNNRecommender(catalog, 20, name="{name}"))
CONFIG = RunConfig(scenario="own", dataset="ml-latest-small", personas=8, days=1, seed=2,
                   taste_dims=8, calibrate=False)


def run(config, out, **options):
    raise NotImplementedError
"""


def test_a_target_a_scenario_registers_resolves_in_the_ab_workers(tmp_path):
    from simulator.scenario import load_scenario

    name = f"knn20-{tmp_path.name}"
    path = tmp_path / "own_arms.py"
    path.write_text(textwrap.dedent(SCENARIO.format(name=name)))
    module = load_scenario(str(path))
    assert target_origin(name) == ("file", str(path.resolve())) and target_origin("itemknn") is None
    run = simulate_ab(module.CONFIG, {"knn": "itemknn", "mine": name}, tmp_path / "ab", workers=2)
    assert run.complete
    events = load_events(Path(run.arms["mine"]))
    assert set(events["target"].drop_nulls()) == {name}
