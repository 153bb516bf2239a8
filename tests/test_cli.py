import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.scenario import ScenarioError, load_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.py"))
WEEK = Path(__file__).parents[1] / "scenarios" / "movielens_week.py"
runner = CliRunner()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_runs_on_a_small_population(path, tmp_path):
    module = load_scenario(str(path))
    # The bundled dataset, so a checkout without real data runs every scenario too.
    small = {"personas": 5, "days": 1, "max_turns": 3, "dataset": "ml-latest-small"}
    fields = type(module.CONFIG).model_fields
    config = module.CONFIG.model_copy(update={k: v for k, v in small.items() if k in fields})
    result = module.run(config, tmp_path / "run")
    assert result.complete and result.events > 0


def test_run_then_compare_json(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "run",
            str(WEEK),
            "--personas",
            "20",
            "--days",
            "2",
            "--target",
            "popularity",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "events/s" in result.output and "peak memory" in result.output
    result = runner.invoke(app, ["compare", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    metrics = [row["metric"] for row in payload["rows"]]
    assert "rating" in metrics and "items_per_session" in metrics and "genre_share" in metrics
    for row in payload["rows"]:
        assert {"metric", "distance", "floor", "ratio"} <= row.keys()
        if row["distance"] is not None and row["floor"]:
            assert row["ratio"] == pytest.approx(row["distance"] / row["floor"])
    assert 0 < payload["simulated"]["ctr"] < 1
    table = runner.invoke(app, ["compare", str(out)])
    assert table.exit_code == 0 and "floor" in table.output


def test_bad_options_fail_with_the_fix(tmp_path):
    result = runner.invoke(
        app, ["run", str(WEEK), "--target", "nope", "--out", str(tmp_path / "x")]
    )
    assert result.exit_code != 0
    assert "choose one of" in str(result.exception)
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario("no_such_scenario")
