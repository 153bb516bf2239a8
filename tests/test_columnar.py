"""The columnar engine: the per-agent engine's rules by the array, reproducible and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.interfaces import (
    Interactions,
    RecContext,
    RecContexts,
    TargetError,
)
from simulator.domains.recsys.run import Prepared, simulate, train_interactions
from simulator.domains.recsys.targets.itemknn import ItemKNNRecommender


@pytest.fixture(scope="module")
def config(small_config: RunConfig) -> RunConfig:
    return small_config.model_copy(
        update={"personas": 120, "days": 3, "target": "itemknn", "engine": "columnar",
                "part_rows": 2000, "calibrate": False}
    )  # fmt: skip


@pytest.fixture(scope="module")
def whole_run(config: RunConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("columnar") / "run"
    simulate(config, out)
    return out


def test_a_run_stopped_and_resumed_writes_the_same_files(  # type: ignore[no-untyped-def]
    config, whole_run, tmp_path, event_digests
) -> None:
    # Two processes' worth of work from one seed, one of them interrupted: the same bytes.
    simulate(config, tmp_path / "c", until_day=1)
    resumed = simulate(config, tmp_path / "c", resume=True)
    assert resumed.resumed and resumed.complete
    digests = event_digests(whole_run)
    assert len(digests) > 2
    assert digests == event_digests(tmp_path / "c")


def test_the_trace_follows_the_page_rules(config, whole_run) -> None:  # type: ignore[no-untyped-def]
    events = pl.read_parquet(whole_run / "events")
    kinds = events["event"].value_counts()
    assert set(kinds["event"]) >= {"session_start", "impression", "click", "rate", "session_end"}
    starts = events.filter(pl.col("event") == "session_start").height
    ends = events.filter(pl.col("event") == "session_end").height
    assert 0 < ends <= starts
    # Every click is of an item the persona examined on that page, followed by its rating.
    shown = events.filter(pl.col("event") == "impression", pl.col("examined"))
    clicks = events.filter(pl.col("event") == "click")
    keys = ["persona_id", "session", "page", "item_id"]
    assert clicks.join(shown, on=keys, how="anti").height == 0
    # A rating falls after its click; past the horizon nothing happens, so only the last
    # clicks of the run may lack theirs.
    rates = events.filter(pl.col("event") == "rate").height
    assert 0 <= clicks.height - rates <= config.personas
    assert events["t"].max() < config.horizon
    assert events.filter(pl.col("event") == "impression")["target"].unique().to_list() == [
        "itemknn"
    ]


@pytest.mark.slow  # two engines × 400 personas; bench scale reports the full split-half ratios
def test_engines_behave_alike(small_config: RunConfig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = small_config.model_copy(update={"personas": 400, "days": 3, "target": "itemknn"})
    rates = {}
    for engine in ("agents", "columnar"):
        simulate(base.model_copy(update={"engine": engine}), tmp_path / engine)
        ev = pl.read_parquet(tmp_path / engine / "events")
        n = ev["event"].value_counts()
        count = dict(zip(n["event"], n["count"], strict=True))
        rates[engine] = (count["session_start"], count["click"] / count["impression"])
    (s_a, ctr_a), (s_c, ctr_c) = rates["agents"], rates["columnar"]
    assert abs(s_c - s_a) / s_a < 0.2
    assert abs(ctr_c - ctr_a) / ctr_a < 0.2


def test_batched_pages_are_the_single_pages(prepared: Prepared) -> None:
    target = ItemKNNRecommender(prepared.catalog)
    target.fit(train_interactions(prepared.split))
    users = [str(u) for u in prepared.split.train["user_id"].unique().sort()[:60]] + ["new"]
    rng = np.random.default_rng(0)
    contexts = [
        RecContext(t=0.0, session=0, page=0,
                   exclude=frozenset(int(x) for x in rng.choice(prepared.catalog.item_ids, 4)))
        for _ in users
    ]  # fmt: skip
    single = [target.recommend(u, 10, c) for u, c in zip(users, contexts, strict=True)]
    many = target.recommend_many(users, 10, contexts)
    assert [list(row) for row in many] == single
    # The same batch by the array, as the columnar engine sends it.
    shown = [np.array(sorted(c.exclude), dtype=np.int64) for c in contexts]
    pointers = np.concatenate([[0], np.cumsum([len(s) for s in shown])])
    zeros = np.zeros(len(users))
    arrays = RecContexts(zeros, zeros.astype(np.int64), zeros.astype(np.int64), pointers,
                         np.concatenate(shown))  # fmt: skip
    assert list(arrays) == contexts
    assert [
        [i for i in row if i >= 0] for row in target.recommend_many(users, 10, arrays)
    ] == single


class _Picky:
    """Item-kNN without batches, failing one persona's pages: only that one loses sessions."""

    def __init__(self, catalog: Any, streams: Any) -> None:
        self.inner = ItemKNNRecommender(catalog)
        self.name = "picky"
        self.bad: str | None = None

    def fit(self, interactions: pl.DataFrame) -> None:
        self.inner.fit(interactions)

    def recommend(self, user: str, k: int, context: RecContext) -> list[int]:
        self.bad = self.bad or user
        if user == self.bad:
            raise TargetError("not this one")
        return self.inner.recommend(user, k, context)

    def feedback(self, event: Any) -> None:
        self.inner.feedback(event)

    def get_state(self) -> dict[str, Any]:
        return {"inner": self.inner.get_state(), "bad": self.bad}

    def set_state(self, state: dict[str, Any]) -> None:
        self.inner.set_state(state["inner"])
        self.bad = state["bad"]


def test_a_target_failing_one_persona_ends_only_its_sessions(config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    simulate(config, tmp_path / "run", target=_Picky)
    events = pl.read_parquet(tmp_path / "run" / "events")
    errors = events.filter(pl.col("event") == "target_error")
    assert errors.height >= 1 and errors["persona_id"].n_unique() == 1
    bad = errors["persona_id"][0]
    assert events.filter(pl.col("event") == "impression", pl.col("persona_id") == bad).height == 0
    assert events.filter(pl.col("event") == "impression").height > 0


@pytest.mark.parametrize(
    ("update", "match"),
    [({"brain": "llm"}, "utility brain"), ({"exposure": {"enabled": True}}, "exposure doors")],
)
def test_what_it_does_not_run_is_refused(config, tmp_path, update, match) -> None:  # type: ignore[no-untyped-def]
    bad = RunConfig.model_validate({**config.model_dump(), **update})
    with pytest.raises(ValueError, match=match):
        simulate(bad, tmp_path / "run")
    assert not (tmp_path / "run" / "events").exists()


def test_bench_scale_measures_both_engines_and_their_likeness() -> None:
    import json

    from typer.testing import CliRunner

    from simulator.cli import app

    argv = ["bench", "scale", "--personas", "40", "--personas", "60", "--days", "1",
            "--agents-max", "40", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # each run is also said on stderr as it ends
    ran = [(r["personas"], r["engine"]) for r in data["runs"]]
    assert ran == [(40, "agents"), (40, "columnar"), (60, "columnar")]
    for run in data["runs"]:
        assert run["events"] > 0 and run["trace_bytes"] > 0 and run["peak_rss_mb"] > 0
        assert run["events_per_second"] == pytest.approx(run["events"] / run["run_seconds"])
    assert set(data["engines_alike"]) == {"40"}  # only where both engines ran
    assert {row["metric"] for row in data["engines_alike"]["40"]} >= {"sessions_per_day"}
    assert data["columnar_seconds_per_persona_week"] is not None
    bad = CliRunner().invoke(app, ["bench", "scale", "--engine", "gpu"])
    assert bad.exit_code == 2 and "choose agents or columnar" in bad.output


def test_feedback_by_the_array_is_feedback_one_by_one(prepared: Prepared) -> None:
    rng = np.random.default_rng(1)
    n = 200
    events = Interactions(
        user=np.array([f"u{u}" for u in rng.integers(0, 20, n)], dtype=object),
        item_id=rng.choice(prepared.catalog.item_ids, n),
        kind=np.where(rng.random(n) < 0.5, "click", "rate").astype(object),
        t=np.sort(rng.random(n)),
        rating=rng.integers(1, 6, n).astype(float),
    )
    assert [events[i].rating is None for i in range(n)] == (events.kind == "click").tolist()
    batched, single = (ItemKNNRecommender(prepared.catalog) for _ in range(2))
    batched.feedback_many(events)
    for i in range(len(events)):
        single.feedback(events[i])
    users = sorted(set(events.user.tolist()))
    assert [batched.history.of(u) for u in users] == [single.history.of(u) for u in users]
    assert sum(len(single.history.of(u)) for u in users) > 0
