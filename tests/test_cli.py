import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.domains import DOMAINS
from simulator.scenario import ScenarioError, load_scenario

SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.py"))
WEEK = Path(__file__).parents[1] / "scenarios" / "movielens_week.py"
runner = CliRunner()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_runs_on_a_small_population(path, tmp_path):
    module = load_scenario(str(path))
    # The bundled dataset, so a checkout without real data runs every scenario too.
    small = {"personas": 5, "days": 1, "max_turns": 3, "dataset": "ml-latest-small"}
    if DOMAINS.for_config(module.CONFIG).name == "search":  # TREC sessions are not bundled
        if not os.environ.get("SIMFOLK_DATA"):
            pytest.skip("SIMFOLK_DATA is not set: no TREC sessions to search for")
        small = {"personas": 5}
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


def test_help_loads_no_numeric_stack():
    import subprocess
    import sys

    # Every command's help answers without scipy, scikit-learn or the LLM client.
    probe = (
        "import sys, contextlib, io\n"
        "from simulator.cli import app\n"
        "for args in ([], ['run'], ['ab'], ['bench'], ['bench', 'validity'], ['personas']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        app([*args, '--help'])\n"
        "heavy = ('scipy', 'sklearn', 'litellm', 'implicit')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_list_names_what_each_registry_knows():
    from simulator.domains.recsys.brains import brain_names
    from simulator.domains.recsys.targets import target_names

    for what, names in (("targets", target_names()), ("brains", brain_names())):
        result = runner.invoke(app, ["list", what])
        assert result.exit_code == 0 and result.stdout.split() == list(names)
    assert runner.invoke(app, ["list", "recipes"]).exit_code != 0


def test_commands_dispatch_through_the_domain_registry(tmp_path):
    from simulator.core.manifest import MANIFEST_VERSION, write_manifest
    from simulator.domains import DOMAINS
    from simulator.domains.chat.config import ChatConfig
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.search.config import SearchConfig

    assert DOMAINS.names() == ("chat", "recsys", "search")
    assert DOMAINS.for_config(RunConfig(scenario="x")).name == "recsys"
    assert DOMAINS.for_config(ChatConfig(scenario="x")).name == "chat"
    assert DOMAINS.for_config(SearchConfig(scenario="x")).name == "search"
    with pytest.raises(ValueError, match="no domain's config"):
        DOMAINS.for_config({"scenario": "x"})
    # A manifest from before runs said their kind is a browsing run's.
    write_manifest(tmp_path, {"manifest_version": MANIFEST_VERSION, "config": {}})
    assert DOMAINS.of_run(tmp_path).name == "recsys"
    write_manifest(tmp_path, {"manifest_version": MANIFEST_VERSION, "kind": "search"})
    assert DOMAINS.of_run(tmp_path).name == "search"
    write_manifest(tmp_path, {"manifest_version": MANIFEST_VERSION, "kind": "video"})
    with pytest.raises(ValueError, match="kind 'video'"):
        DOMAINS.of_run(tmp_path)
    chat = Path(__file__).parents[1] / "scenarios" / "support_chat.py"
    result = runner.invoke(app, ["run", str(chat), "--days", "3", "--brain", "llm"])
    assert result.exit_code != 0
    assert "chat scenario: it takes no --brain, --days" in str(result.exception)


def test_bench_chat_takes_a_chat_scenario_by_name_or_path():
    from simulator.experiments.chat_bench import bench_chat

    common = dict(personas=1, against=[], out=None, slots=1, seed=0, cache=True)
    with pytest.raises(ValueError, match="needs a chat scenario"):
        bench_chat(scenario=str(WEEK), **common)
    with pytest.raises(ValueError, match="not found"):
        bench_chat(scenario="no_such_scenario", **common)
