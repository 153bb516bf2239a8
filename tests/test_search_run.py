"""Search runs on the core: the trace, the same sessions as off the clock, resume, compare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trecfixture import small_log as _log
from typer.testing import CliRunner

from analysis.frames import load_events
from analysis.search_runs import compare_search_run, sessions_from_run
from personas.datasets.trec import (
    load_trec_sessions,
)
from simulator.cli import app
from simulator.core.rng import Streams
from simulator.core.rundir import RunDirError
from simulator.core.statecodec import decode, encode
from simulator.domains import DOMAINS
from simulator.domains.search.collection import Collection
from simulator.domains.search.config import SearchConfig
from simulator.domains.search.engines.bm25 import BM25Engine
from simulator.domains.search.interfaces import SearchError, SearchResult
from simulator.domains.search.model import fit_searcher
from simulator.domains.search.population import draw_searchers, split_topics
from simulator.domains.search.run import SEARCHERS_FILE, simulate_search
from simulator.domains.search.searcher import checked_page, simulate_session

runner = CliRunner()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _log(tmp_path_factory.mktemp("trec") / "sessions.xml")


def _config(log: Path, **update: object) -> SearchConfig:
    return SearchConfig(dataset=str(log), **update)  # type: ignore[arg-type]


def test_a_search_run_is_a_closed_ordered_trace_on_the_core(log, tmp_path):
    result = simulate_search(_config(log, personas=30), tmp_path / "r")
    assert result.complete and result.sessions == result.ended == 30
    assert DOMAINS.of_run(tmp_path / "r").name == "search"
    events = load_events(tmp_path / "r")
    assert events["seq"].to_list() == list(range(events.height))
    for (who,), rows in events.group_by(["persona_id"]):
        kinds = rows["event"].to_list()
        assert kinds[0] == "session_start" and kinds[-1] == "session_end"
        assert kinds.count("session_start") == kinds.count("session_end") == 1
        assert rows["t"].to_list() == sorted(rows["t"].to_list()), who
        for _page, on_page in rows.filter(rows["page"].is_not_null()).group_by(["page"]):
            shown = on_page.filter(on_page["event"] == "impression")
            assert shown["position"].to_list() == list(range(shown.height)) and shown.height <= 10
            clicked = on_page.filter(on_page["event"] == "click")
            assert set(clicked["doc_id"]) <= set(shown["doc_id"])
            assert (clicked["dwell"] > 0).all()
    assert result.queries == events.filter(events["event"] == "query").height


def test_on_the_clock_the_searchers_live_the_sessions_they_live_off_it(log, tmp_path):
    config = _config(log, personas=20, seed=3)
    simulate_search(config, tmp_path / "r")
    read = {s.id.split("/")[0]: s for s in sessions_from_run(tmp_path / "r")}
    streams = Streams(3)

    split = split_topics(load_trec_sessions(log), streams)
    engine = BM25Engine(Collection.from_sessions(load_trec_sessions(log)))
    model = fit_searcher(split.fit)
    for searcher in draw_searchers(split.heldout, 20):
        pid = searcher.persona_id
        off = simulate_session(model, pid, searcher.topic, searcher.need, engine,
                               streams.generator(pid, "search"))  # fmt: skip
        on = read[pid]
        assert [q.text for q in on.queries] == [q.text for q in off.queries]
        assert [q.results for q in on.queries] == [q.results for q in off.queries]
        assert [[c.rank for c in q.clicks] for q in on.queries] == [
            [c.rank for c in q.clicks] for q in off.queries
        ]
        assert [q.start for q in on.queries] == pytest.approx([q.start for q in off.queries])
        assert on.final_query == off.final_query


def test_a_paused_run_resumes_to_the_same_event_files(log, tmp_path, event_digests):
    config = _config(log, personas=40, checkpoint_every_s=120.0, part_rows=200)
    whole = simulate_search(config, tmp_path / "whole")
    paused = simulate_search(config, tmp_path / "r", until=600.0)
    assert not paused.complete and paused.status == "paused"
    resumed = simulate_search(config, tmp_path / "r", resume=True)
    assert resumed.resumed and resumed.complete
    assert len(event_digests(whole.run_dir)) > 2
    assert event_digests(tmp_path / "r") == event_digests(whole.run_dir)


@dataclass
class Learner:
    """An engine that learns: documents clicked before come first (its state is the counts)."""

    collection: Collection
    name: str = "learner"

    def __post_init__(self) -> None:
        self.clicks: dict[str, int] = {}
        self.bm25 = BM25Engine(self.collection)

    def search(self, query: str, k: int, context: object) -> list[SearchResult]:
        found = self.bm25.search(query, 3 * k, context)  # type: ignore[arg-type]
        found.sort(key=lambda r: -self.clicks.get(r.doc_id, 0))
        return found[:k]

    def feedback(self, click: object) -> None:
        doc = click.doc_id  # type: ignore[attr-defined]
        self.clicks[doc] = self.clicks.get(doc, 0) + 1

    def get_state(self) -> dict[str, object]:
        return {"clicks": dict(self.clicks)}

    def set_state(self, state: dict[str, object]) -> None:
        self.clicks = dict(state["clicks"])  # type: ignore[call-overload]


def test_an_engine_that_learns_continues_from_its_checkpoint(log, tmp_path, event_digests):

    collection = Collection.from_sessions(load_trec_sessions(log))
    config = _config(log, personas=40, checkpoint_every_s=120.0)
    whole = simulate_search(config, tmp_path / "whole", engine=Learner(collection))
    simulate_search(config, tmp_path / "r", engine=Learner(collection), until=900.0)
    forgetful = Learner(collection)
    resumed = simulate_search(config, tmp_path / "r", engine=forgetful, resume=True)
    assert resumed.complete and forgetful.clicks  # it heard the clicks from before the pause
    assert event_digests(tmp_path / "r") == event_digests(whole.run_dir)
    assert sum(forgetful.clicks.values()) == resumed.clicks


def test_the_world_state_round_trips_through_the_checkpoint_codec(log, tmp_path):
    from simulator.domains.search.world import SearchWorld
    from simulator.trace import TraceWriter

    config = _config(log, personas=40, checkpoint_every_s=30.0, arrival_window_s=60.0)
    simulate_search(config, tmp_path / "r", until=60.0)
    from simulator.core.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "r")
    assert state is not None
    sessions = load_trec_sessions(log)
    split = split_topics(sessions, Streams(0))

    def world(out: Path) -> SearchWorld:
        return SearchWorld(config=config, searchers=draw_searchers(split.heldout, 40),
                           engine=BM25Engine(Collection.from_sessions(sessions)),
                           model=fit_searcher(split.fit), trace=TraceWriter(out, 100, "x"),
                           streams=Streams(0))  # fmt: skip

    fresh = world(tmp_path / "w")
    fresh.set_state(decode(encode(state)))
    assert encode(fresh.get_state()) == encode(state)
    phases = {a.state.phase for a in fresh.population}
    assert phases - {"done", "idle"}, "the pause caught no session open"


class Broken:
    """An engine whose answers break the protocol in turn."""

    name = "broken"

    def __init__(self, collection: object, streams: object) -> None:
        self.calls = 0

    def search(self, query: str, k: int, context: object) -> list[SearchResult]:
        self.calls += 1
        doc = SearchResult("d", "t", "s")
        answers: list[object] = [[doc, doc], "not a list", [doc] * (k + 1)]
        if self.calls % 4 == 0:
            raise SearchError("the index is down", reason="unavailable")
        return answers[self.calls % 4 - 1]  # type: ignore[return-value]

    def feedback(self, click: object) -> None: ...

    def get_state(self) -> dict[str, object]:
        return {}

    def set_state(self, state: dict[str, object]) -> None: ...


def test_an_engine_that_breaks_the_protocol_ends_those_sessions_and_the_run_goes_on(log, tmp_path):
    result = simulate_search(_config(log, personas=8), tmp_path / "r", engine=Broken(None, None))
    assert result.complete and result.ended == 8
    events = load_events(tmp_path / "r")
    errors = events.filter(events["event"] == "target_error")
    assert errors.height == 8
    said = " ".join(errors["text"].to_list())
    assert "twice" in said and "not a list" in said and "at most 10" in said
    assert "the index is down" in said and "unavailable" in set(errors["reason"])
    ends = events.filter(events["event"] == "session_end")["reason"]
    assert set(ends) == {"target_error"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), max_size=8), st.integers(1, 8))
def test_a_page_is_taken_only_with_distinct_documents_within_k(ids, k):
    answer = [SearchResult(d, f"title {d}", f"snippet {d}") for d in ids]
    if len(set(ids)) == len(ids) and len(ids) <= k:
        page = checked_page(answer, k)
        assert [r.doc_id for r in page] == ids
        assert [r.rank for r in page] == list(range(1, len(ids) + 1))
    else:
        with pytest.raises(SearchError):
            checked_page(answer, k)


def test_resume_refuses_a_changed_searcher_file_and_compare_a_changed_dataset(log, tmp_path):
    config = _config(log, personas=10)
    simulate_search(config, tmp_path / "r", until=200.0)
    path = tmp_path / "r" / SEARCHERS_FILE
    kept = path.read_bytes()
    path.write_bytes(kept.replace(b'"need": "', b'"need": "x'))
    with pytest.raises(RunDirError, match="persona file changed"):
        simulate_search(config, tmp_path / "r", resume=True)
    path.write_bytes(kept)
    simulate_search(config, tmp_path / "r", resume=True)
    copy = tmp_path / "copy.xml"
    copy.write_bytes(log.read_bytes())
    moved = _config(copy, personas=10)
    simulate_search(moved, tmp_path / "c")
    copy.write_bytes(log.read_bytes().replace(b"</sessiontrack2013>", b"\n</sessiontrack2013>"))
    with pytest.raises(ValueError, match="changed since the run"):
        compare_search_run(tmp_path / "c")
    assert compare_search_run(tmp_path / "c", against=log).real_sessions == 32


def test_run_and_compare_from_the_command_line(log, tmp_path):
    scenario = Path(__file__).parents[1] / "scenarios" / "search_sessions.py"
    out = tmp_path / "r"
    args = ["run", str(scenario), "--dataset", str(log), "--personas", "16", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "16/16 sessions ended" in result.output and "sessions/s" in result.output
    result = runner.invoke(app, ["compare", str(out), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["simulated_sessions"] == 16 and payload["real_sessions"] > 0
    assert {row["metric"] for row in payload["rows"]} >= {"queries_per_session", "click_rank"}
    assert sum(payload["end_reasons"].values()) == pytest.approx(1.0)
    result = runner.invoke(app, ["export", "sessions", str(out), "--out", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    lived = sessions_from_run(out)
    assert list(load_trec_sessions(tmp_path / "x" / "sessions.xml").sessions) == lived
    rows = pl.read_parquet(tmp_path / "x" / "sessions.parquet")
    assert rows.height == sum(len(s.texts()) for s in lived)
    assert rows["clicks"].list.len().sum() == sum(len(q.clicks) for s in lived for q in s.queries)
    result = runner.invoke(app, [*args[:-1], str(tmp_path / "d"), "--days", "2"])
    assert result.exit_code != 0 and "takes no --days" in str(result.exception)


def test_a_killed_search_run_resumes_to_the_same_events(tmp_path, event_digests):
    big = _log(tmp_path / "big.xml", topics=10, per_topic=6)
    config = _config(big, personas=3000)  # the scenario's config with these two options
    reference = simulate_search(config, tmp_path / "reference")
    scenario = Path(__file__).parents[1] / "scenarios" / "search_sessions.py"
    out = tmp_path / "killed"
    args = [sys.executable, "-m", "simulator.cli", "run", str(scenario), "--out", str(out),
            "--dataset", str(big), "--personas", "3000"]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "checkpoint.msgpack").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running", "the run finished before it could be killed"
    resumed = simulate_search(config, out, resume=True)
    assert resumed.resumed and resumed.complete
    assert event_digests(out) == event_digests(reference.run_dir)


def test_a_search_ab_pairs_the_searchers_and_reports_in_a_browser(log, tmp_path):
    from test_report import _render_in_browser

    from analysis.ab import analyse_ab_dir
    from analysis.report import write_report
    from analysis.search_ab import METRICS, PRIMARY
    from simulator.domains.search.ab import simulate_search_ab

    arms = {"plain": "bm25", "again": "bm25", "minilm": "bm25-minilm"}
    result = simulate_search_ab(_config(log, personas=24), arms, tmp_path / "ab")
    assert result.complete and result.control == "plain"
    lived = {
        name: sorted(sessions_from_run(path), key=lambda s: s.id)
        for name, path in result.arms.items()
    }
    assert lived["again"] == lived["plain"]  # the same engine: the same draws, the same sessions
    firsts = [(a.queries[0].text, b.queries[0].text) for a, b in zip(lived["plain"],
              lived["minilm"], strict=True)]  # fmt: skip
    assert len(firsts) == 24 and all(a == b for a, b in firsts)  # worded before any page
    stats = analyse_ab_dir(tmp_path / "ab")
    assert stats.primary == PRIMARY and stats.personas == 24
    assert {m.metric for m in stats.metrics} <= set(METRICS)
    assert {d.arm for d in stats.differences} == {"again", "minilm"}
    assert all(d.diff == 0 for d in stats.differences if d.arm == "again")
    html_path = write_report(tmp_path / "ab", tmp_path / "report.html")
    html = html_path.read_text(encoding="utf-8")
    for title in ("Click rate by rank", "Why sessions ended", "How each query came"):
        assert title in html
    assert "<td>query_terms</td>" in html  # each arm held against the held-out sessions
    rendered, errors, outside = _render_in_browser(html_path, tmp_path / "report.png")
    assert rendered == html.count('class="plotly-graph-div"') >= 6
    assert errors == [] and outside == []


def test_one_search_run_has_a_report_held_against_its_held_out_sessions(log, tmp_path):
    from analysis.report import write_report

    simulate_search(_config(log, personas=12), tmp_path / "r")
    html = write_report(tmp_path / "r", tmp_path / "report.html").read_text(encoding="utf-8")
    for title in ("Click rate by rank", "Why sessions ended", "Human vs simulated"):
        assert title in html
    rows = compare_search_run(tmp_path / "r").rows
    assert rows and all(f"<td>{row.metric}</td>" in html for row in rows)


def test_search_ab_from_the_command_line_refuses_what_it_cannot_take(log, tmp_path):
    scenario = Path(__file__).parents[1] / "scenarios" / "ab_search_engines.py"
    base = ["ab", str(scenario), "--dataset", str(log), "--personas", "8"]
    result = runner.invoke(app, [*base, "--days", "2", "--out", str(tmp_path / "a")])
    assert "takes no --days" in str(result.exception)
    result = runner.invoke(app, [*base, "--arm", "a=bm25", "--arm", "b=bm26",
                                 "--out", str(tmp_path / "b")])  # fmt: skip
    assert "unknown search engine 'bm26'" in str(result.exception)
    result = runner.invoke(app, [*base, "--arm", "a=bm25", "--arm", "b=bm25",
                                 "--out", str(tmp_path / "c")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sat_click" in result.output and "paired by persona" in result.output


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """`app` on uvicorn on a free loopback port, in a thread, for the block."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(5)


def test_an_engine_served_over_http_writes_the_events_it_writes_in_process(
    log, tmp_path, event_digests
):
    from simulator.domains.search.engines.http.server import search_app

    collection = Collection.from_sessions(load_trec_sessions(log))
    here = simulate_search(_config(log, personas=30), tmp_path / "here")
    with _served(search_app(lambda: BM25Engine(collection))) as url:
        there = simulate_search(_config(log, personas=30, engine=url), tmp_path / "there")
    assert there.complete and there.clicks == here.clicks > 0
    assert load_events(tmp_path / "there").equals(load_events(tmp_path / "here"))
    assert event_digests(tmp_path / "there") == event_digests(tmp_path / "here")


def test_a_paused_run_resumes_against_the_service_to_the_same_events(log, tmp_path):
    from simulator.domains.search.engines.http.server import search_app

    collection = Collection.from_sessions(load_trec_sessions(log))
    config = _config(log, personas=40, checkpoint_every_s=120.0)
    whole = simulate_search(config, tmp_path / "whole", engine=Learner(collection))
    with _served(search_app(lambda: Learner(collection))) as url:
        remote = config.model_copy(update={"engine": url})
        paused = simulate_search(remote, tmp_path / "r", until=900.0)
        assert not paused.complete
        resumed = simulate_search(remote, tmp_path / "r", resume=True)
    assert resumed.complete and resumed.resumed
    assert load_events(tmp_path / "r").equals(load_events(whole.run_dir))


def test_a_service_that_answers_nonsense_ends_those_sessions(log, tmp_path):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def info(request: Any) -> JSONResponse:
        return JSONResponse({"protocol": "simfolk-search/1", "name": "odd", "version": ""})

    async def search(request: Any) -> JSONResponse:
        return JSONResponse({"results": "not a list"})

    app = Starlette(routes=[Route("/v1/info", info), Route("/v1/runs/{run}/search", search,
                                                           methods=["POST"])])  # fmt: skip
    with _served(app) as url:
        result = simulate_search(_config(log, personas=5, engine=url), tmp_path / "r")
    events = load_events(tmp_path / "r")
    errors = events.filter(events["event"] == "target_error")
    assert result.complete and errors.height == 5
    assert set(errors["reason"]) == {"bad_answer"}
    assert "not a SearchAnswer" in errors["text"][0]
    with pytest.raises(ValueError, match="unknown setting 'speed'"):
        simulate_search(_config(log, engine=url + "?speed=2"), tmp_path / "s")
