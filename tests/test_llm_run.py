"""Runs with brains that think in words: the real embedded model, and a fault-injecting fake."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
import typer
from fakellm import FakeLLMServer

from analysis.frames import load_events
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate
from simulator.llm import read_calls
from simulator.llm.config import LLMConfig

SECRET = "sk-test-never-written-0123456789"


def _config(base: RunConfig, brain: str = "llm", **llm: object) -> RunConfig:
    """The suite's small config as a short LLM run."""
    update = {
        "scenario": "llm-test",
        "personas": 4,
        "days": 1,
        "seed": 3,
        "calibrate": False,
        "brain": brain,
        # Everyone arrives together an hour in, so one short day gives a few batched sessions.
        "launch_at": 3600.0,
        "utility": UtilityParams(max_pages=4),  # short sessions: the suite runs on two cores
        "llm": LLMConfig(**llm),  # type: ignore[arg-type]
    }
    return base.model_copy(update=update)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SIMFOLK_CACHE_DIR", str(folder))
    return folder


def _sessions_closed(events: pl.DataFrame) -> None:
    starts = events.filter(pl.col("event") == "session_start").height
    ends = events.filter(pl.col("event") == "session_end").height
    assert starts == ends > 0


@pytest.fixture(scope="module")
def warm_pair(
    tmp_path_factory: pytest.TempPathFactory, small_config: RunConfig
) -> tuple[Path, Path, Path]:
    """The same two-day --brain llm run of two personas three times on one cache: cold;
    warm; warm, paused after day one and resumed."""
    root = tmp_path_factory.mktemp("warm")
    config = _config(small_config).model_copy(update={"days": 2, "personas": 2})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIMFOLK_CACHE_DIR", str(root / "cache"))
        first = simulate(config, root / "cold")
        second = simulate(config, root / "warm")
        paused = simulate(config, root / "resumed", until_day=1)
        resumed = simulate(config, root / "resumed", resume=True)
    assert first.complete and second.complete and not paused.complete and resumed.complete
    return first.run_dir, second.run_dir, resumed.run_dir


def test_warm_cache_replays_the_run_exactly_with_no_calls(warm_pair, event_digests):
    cold, warm, resumed = warm_pair
    assert event_digests(cold) and event_digests(cold) == event_digests(warm)
    assert event_digests(resumed) == event_digests(cold)  # minds and waiting pages resume too
    cold_calls, warm_calls = read_calls(cold), read_calls(warm)
    assert cold_calls.filter(~pl.col("cache_hit")).height > 0
    assert warm_calls.height > 0
    assert warm_calls.filter(~pl.col("cache_hit")).height == 0  # zero LLM calls the second time


def test_llm_run_is_a_valid_trace_with_words(warm_pair):
    cold, _, _ = warm_pair
    events = load_events(cold)
    _sessions_closed(events)
    decisions = read_calls(cold).filter(pl.col("purpose") == "decide")
    pages = events.filter(pl.col("event") == "impression").select("persona_id", "session", "page")
    # Every page but a session's forced last one was decided by the model.
    assert 0 < decisions.select("persona_id", "t").unique().height <= pages.unique().height
    clicks = events.filter(pl.col("event") == "click")
    rates = events.filter(pl.col("event") == "rate")
    reviews = events.filter(pl.col("event") == "review")
    assert rates.height == clicks.height  # the model rates what it watches
    assert reviews.height <= rates.height
    assert reviews["text"].null_count() == 0
    manifest = json.loads((cold / "manifest.json").read_text())
    assert manifest["brain"] == "llm"
    assert set(manifest["llm"]["prompts"]) >= {"decide_system", "decide_page", "reflect"}
    assert manifest["llm"]["model"].startswith("smollm2")


@pytest.mark.slow  # ~90 s of real model calls; the hybrid without a server is test_llm_brain's
def test_hybrid_asks_only_where_something_tempts(tmp_path, cache_dir, small_config):
    result = simulate(_config(small_config, "hybrid"), tmp_path / "run")
    events = load_events(result.run_dir)
    _sessions_closed(events)
    pages = events.filter(pl.col("event") == "impression").select("persona_id", "session", "page")
    asked = read_calls(result.run_dir).filter(pl.col("purpose") == "decide")
    decided_pages = asked.select("persona_id", "t").unique().height
    assert 0 < decided_pages < pages.unique().height  # routine pages made no call
    assert result.status == "complete"


def test_budget_ends_the_run_cleanly(tmp_path, cache_dir, small_config):
    budget = 1200
    result = simulate(_config(small_config, budget_tokens=budget, cache=False), tmp_path / "run")
    assert result.status == "budget_exhausted"
    events = load_events(result.run_dir)
    _sessions_closed(events)
    assert events.sort("seq")["event"][-1] == "budget_exhausted"
    calls = read_calls(result.run_dir).filter(~pl.col("cache_hit"))
    spent = int((calls["prompt_tokens"] + calls["completion_tokens"]).sum())
    biggest = int((calls["prompt_tokens"] + calls["completion_tokens"]).max())
    assert budget <= spent <= budget + biggest  # over by at most one call
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "budget_exhausted"


@pytest.mark.slow  # 4 LLM runs; the budget's stop and the warm replay have their own tests here
def test_a_budgeted_run_replays_and_resumes_the_same(tmp_path, cache_dir, small_config):
    # Cache hits count at their recorded cost: a warm rerun and a resume spend as the cold run did.
    config = _config(small_config, budget_tokens=1500).model_copy(update={"days": 2})
    cold = simulate(config, tmp_path / "cold")
    warm = simulate(config, tmp_path / "warm")
    simulate(config, tmp_path / "resumed", until_day=1)
    resumed = simulate(config, tmp_path / "resumed", resume=True)
    assert cold.status == warm.status == resumed.status == "budget_exhausted"
    reference = load_events(cold.run_dir)
    assert load_events(warm.run_dir).equals(reference)
    assert load_events(resumed.run_dir).equals(reference)
    asked = read_calls(warm.run_dir).filter(~pl.col("cache_hit") & (pl.col("purpose") != "probe"))
    assert asked.height == 0


@pytest.mark.slow  # a real kill -9 of a run; test_llm_faults kills the ledger's journal step
def test_a_killed_run_keeps_a_ledger_row_for_every_request_made(tmp_path, cache_dir):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    with FakeLLMServer(default="slow", slow_s=0.05) as fake:
        args = [
            sys.executable, "-m", "simulator.cli", "run", "movielens_week", "--out", str(out),
            "--personas", "30", "--days", "3", "--seed", "3", "--brain", "llm",
            "--model", "openai/fake", "--api-base", fake.api_base, "--no-cache",
        ]  # fmt: skip
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while len(fake.received) < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        received = len(fake.received)
    calls = read_calls(out)
    assert received >= 12, "the run never got going"
    concurrency = LLMConfig().concurrency
    # Every request the server saw has its row; at most the ones then in flight had no answer.
    assert received <= calls.height <= received + concurrency
    assert calls.filter(pl.col("error") != "interrupted").height <= received


def test_a_run_whose_decisions_failed_exits_non_zero_saying_how_many(tmp_path, cache_dir):
    import subprocess
    import sys

    def run(out: str, *extra: str) -> subprocess.CompletedProcess[str]:
        with FakeLLMServer(["ok"], default="malformed") as fake:  # the probe passes, then faults
            args = [
                sys.executable, "-m", "simulator.cli", "run", "movielens_week",
                "--out", str(tmp_path / out), "--personas", "3", "--days", "1", "--brain", "llm",
                "--model", "openai/fake", "--api-base", fake.api_base, "--no-cache", *extra,
            ]  # fmt: skip
            env = {**os.environ, "COLUMNS": "10000"}
            return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)

    failing = run("strict")
    said = failing.stdout + failing.stderr
    assert failing.returncode == 1 and "Traceback" not in said
    assert re.search(r"LLM: 0 answers, [1-9]\d* failed decisions \(100\.0%\)", said), said
    assert "more than the 5.0% allowed" in said
    # The same run allowed every failure passes: the judgement, in process this time.
    from simulator.cli.run import _judge_llm_failures

    _judge_llm_failures(tmp_path / "strict", 1.0)  # returns, where 5 % raised an exit
    with pytest.raises(typer.Exit):
        _judge_llm_failures(tmp_path / "strict", 0.05)


def test_failed_decisions_are_events_and_end_the_session(
    tmp_path, cache_dir, monkeypatch, small_config
):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeLLMServer(["ok"], default="malformed") as fake:  # the probe passes, then faults
        config = _config(
            small_config, model="openai/fake", api_base=fake.api_base, retries=0, repairs=1
        )
        result = simulate(config, tmp_path / "run")
        received = len(fake.received)
    events = load_events(result.run_dir)
    _sessions_closed(events)
    failures = events.filter(pl.col("event") == "llm_failure")
    ends = events.filter(pl.col("event") == "session_end")
    assert failures.height == ends.filter(pl.col("reason") == "llm_failure").height > 0
    assert events.filter(pl.col("event").is_in(["click", "rate"])).height == 0
    calls = read_calls(result.run_dir)
    assert calls.height == received  # every request the server saw is in the ledger
    assert calls.filter(pl.col("ok"))["purpose"].to_list() == ["probe"]
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    "brain",
    # One archetype asks 3 calls for every list; the llm asks one per list (and per rating).
    [
        pytest.param("llm", marks=pytest.mark.slow),
        pytest.param("hybrid", marks=pytest.mark.slow),
        "archetype",
    ],
)
def test_fidelity_bench_scores_deliberate_brains(brain, cache_dir):
    from analysis.fidelity import fidelity
    from analysis.fidelity_population import population
    from simulator.domains.recsys.brains.archetypes import ArchetypeConfig

    config = RunConfig(
        scenario="bench-fidelity",
        dataset="ml-latest-small",
        seed=0,
        brain=brain,
        taste_dims=8,
        archetypes=ArchetypeConfig(count=1),
    )
    report = fidelity(config, users=3, ratios=(1,), macro=False)
    micro = report.micro[0]
    # Each list is answered or counted as failed; nothing is guessed.
    assert micro.lists + report.failed["lists"] == 3
    c = micro.confusion
    assert 0 < c.total <= 20 * micro.lists
    assert c.tp + c.fn == c.fp + c.tn  # 1:1 lists: as many negatives as positives
    heldout = population(config, 3).heldout.height
    assert report.ratings.as_dict()["n"] + report.failed["ratings"] == heldout > 0
    if brain != "llm":
        assert report.failed["ratings"] == 0  # the calibrated model rates; no call to fail
