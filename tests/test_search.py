"""Search users: the engines, the fitted searcher, its sessions and the bench."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.search_compare import METRICS, compare_sessions, step_tasks
from analysis.splithalf import ComparisonRow
from personas.datasets.trec import (
    Click,
    Query,
    Result,
    SearchSession,
    load_trec_sessions,
    write_trec_sessions,
)
from simulator.cli import app
from simulator.core.rng import Streams
from simulator.domains.search.collection import Collection
from simulator.domains.search.engines import ENGINES, BM25Engine, RerankedEngine
from simulator.domains.search.interfaces import SearchClick, SearchContext, SearchEngine
from simulator.domains.search.model import (
    PAGE,
    content_terms,
    fit_searcher,
    reformulate,
    reformulation,
)
from simulator.domains.search.searcher import simulate_session

DATA = os.environ.get("SIMFOLK_DATA")
needs_data = pytest.mark.skipif(not DATA, reason="SIMFOLK_DATA is not set")
CONTEXT = SearchContext(user="u", t=0.0, session=0, query_number=1)

DOCS = [
    ("d1", "Causes of the American Civil War", "slavery, states' rights and the economy"),
    ("d2", "Civil War battles", "Gettysburg, Antietam and other battles of the civil war"),
    ("d3", "Scooter reviews", "the most reliable scooter brands, reviewed"),
    ("d4", "Heart attack symptoms", "chest pain and other symptoms of a heart attack"),
    ("d5", "Cheap scooters", "where to buy a cheap scooter"),
]


def _collection() -> Collection:
    return Collection(
        doc_ids=tuple(d for d, _, _ in DOCS),
        titles=tuple(t for _, t, _ in DOCS),
        snippets=tuple(s for _, _, s in DOCS),
        urls=tuple(f"http://x/{d}" for d, _, _ in DOCS),
    )


def test_bm25_ranks_the_matching_documents_first_and_only_them():
    engine = BM25Engine(_collection())
    assert isinstance(engine, SearchEngine)
    found = [r.doc_id for r in engine.search("civil war battles", 10, CONTEXT)]
    assert found[0] == "d2" and set(found) == {"d1", "d2"}
    assert [r.doc_id for r in engine.search("scooter", 1, CONTEXT)] == ["d3"]  # k is a cap
    assert engine.search("zebra", 10, CONTEXT) == []  # no term known: no page
    assert engine.search("civil war", 10, CONTEXT) == engine.search("civil war", 10, CONTEXT)


def test_the_reranked_engine_reorders_only_what_bm25_found():
    from simulator.minds.embeddings import default_embedder

    collection = _collection()
    plain, reranked = BM25Engine(collection), RerankedEngine(collection, default_embedder())
    for query in ("civil war", "scooter brands", "heart"):
        ours = [r.doc_id for r in reranked.search(query, 10, CONTEXT)]
        theirs = [r.doc_id for r in plain.search(query, 10, CONTEXT)]
        assert sorted(ours) == sorted(theirs)
    assert ENGINES.names() == ("bm25", "bm25-minilm")
    with pytest.raises(ValueError, match="choose one of: bm25, bm25-minilm"):
        ENGINES.check("google")


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("civil war", "civil war causes", "add"),
        ("civil war causes", "civil war", "drop"),
        ("civil war causes", "civil war battles", "replace"),
        ("civil war", "war civil", "repeat"),
        ("civil war", "scooter", "new"),
    ],
)
def test_reformulations_are_told_apart(before, after, kind):
    assert reformulation(before.split(), after.split()) == kind


def test_content_terms_leave_out_stopwords_and_the_task_wording():
    need = "You want to know about the causes of heart attacks. Find documents on heart attacks."
    assert content_terms(need) == ["causes", "heart", "attacks"]


def _sessions(n: int) -> list[SearchSession]:
    out = []
    for i in range(n):
        results = tuple(
            Result(rank=r + 1, doc_id=DOCS[r % 5][0], url="", title=DOCS[r % 5][1], snippet="")
            for r in range(5)
        )
        clicks = (Click(rank=1, start=10.0, end=30.0),) if i % 2 else ()
        queries = (
            Query(1, "civil war", 5.0, results, clicks),
            Query(2, "civil war causes", 40.0, results, ()),
        )
        out.append(SearchSession(str(i), str(i % 3), "the causes of the civil war", queries))
    return out


def test_a_simulated_session_is_keyed_well_formed_and_writes_as_trec(tmp_path):
    model = fit_searcher(_sessions(12))
    engine = BM25Engine(_collection())

    def live(key: str) -> SearchSession:
        rng = Streams(3).generator(key, "search")
        return simulate_session(model, key, "1", "the causes of the civil war", engine, rng)

    assert live("a") == live("a")
    many = [live(f"p{i}") for i in range(40)]
    assert len({tuple(q.text for q in s.queries) for s in many}) > 1
    for session in many:
        assert session.queries and len(session.queries) <= 30
        starts = [q.start for q in session.queries]
        assert starts == sorted(starts)
        for query in session.queries:
            assert [r.rank for r in query.results] == list(range(1, len(query.results) + 1))
            assert len(query.results) <= PAGE
            assert all(1 <= c.rank <= len(query.results) for c in query.clicks)
            assert all(c.start >= query.start and c.end and c.end >= c.start for c in query.clicks)
    back = load_trec_sessions(write_trec_sessions(many, tmp_path / "sim.xml"))
    assert list(back.sessions) == many


def test_too_few_sessions_or_none_with_results_is_refused_and_thin_evidence_fits():
    with pytest.raises(ValueError, match="at least 5 sessions"):
        fit_searcher(_sessions(3))
    bare = [SearchSession(str(i), "1", "need", (Query(1, "q", 0.0, (), ()),)) for i in range(5)]
    with pytest.raises(ValueError, match="show results"):
        fit_searcher(bare)
    # One query each and no current query: nothing says when a new query is the last one.
    single = [SearchSession(s.id, s.topic, s.need, s.queries[:1]) for s in _sessions(6)]
    model = fit_searcher(single)
    assert model.final.intercept == 0.0 and model.final.coefficients == (0.0,)
    assert model.stop.p(np.array([[0.0, 0.0]]))[0] > 0.99  # every real session stopped


def test_a_one_term_query_is_never_cut_to_nothing():
    model = fit_searcher(_sessions(12))
    rng = np.random.default_rng(0)
    for _ in range(200):
        after = reformulate(model, ["war"], {"civil": 1, "war": 1}, ["battles"], rng)
        assert after and (after == ["war"] or reformulation(["war"], after) in ("add", "new"))


class _Listening(BM25Engine):
    def __init__(self, collection: Collection) -> None:
        super().__init__(collection)
        self.heard: list[SearchClick] = []

    def feedback(self, click: SearchClick) -> None:
        self.heard.append(click)


def test_the_engine_hears_every_click():
    model = fit_searcher(_sessions(12))
    engine = _Listening(_collection())
    sessions = [
        simulate_session(model, str(i), "1", "the civil war", engine, np.random.default_rng(i))
        for i in range(30)
    ]
    clicks = [(s.id, c.rank) for s in sessions for q in s.queries for c in q.clicks]
    assert clicks and len(engine.heard) == len(clicks)
    assert {h.user for h in engine.heard} <= {s.id for s in sessions}


@needs_data
def test_the_searcher_fitted_on_trec_clicks_the_top_more_and_compares_on_every_metric():
    log = load_trec_sessions("trec-session-2013")
    sessions = list(log.sessions)
    fit, held = sessions[::2], sessions[1::2]
    model = fit_searcher(fit)
    assert model.click.coefficients[0] < 0  # position bias: the data says so
    assert model.click.coefficients[1] > 0  # a result showing the query's terms draws clicks
    assert 0 < model.from_snippets < 1
    engine = BM25Engine(Collection.from_sessions(log))
    streams = Streams(0)
    sim = [
        simulate_session(model, s.id, s.topic, s.need, engine, streams.generator(s.id, "search"))
        for s in held
    ]
    ranks = np.array([c.rank for s in sim for q in s.queries for c in q.clicks])
    assert (ranks <= 3).sum() > (ranks >= 8).sum()
    rows = compare_sessions(sim, held)
    assert [r.metric for r in rows] == [m.name for m in METRICS]
    assert all(math.isfinite(r.ratio) for r in rows)
    steps = step_tasks(model, fit, held)
    assert steps.results > 1000 and steps.queries == sum(len(s.queries) for s in held)
    assert 0 < steps.click_f1 < 1
    # Stop prediction is scored against the real last queries: one per session that ends
    # without a logged current query.
    assert steps.queries - round(steps.stop_accuracy * steps.queries) <= steps.queries // 2


@needs_data
def test_bench_search_prints_the_table_and_the_step_tasks():
    result = CliRunner().invoke(app, ["bench", "search", "--replicates", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["fitted_sessions"] + data["heldout_sessions"] == 133
    assert data["simulated_sessions"] == data["heldout_sessions"]
    rows = [ComparisonRow.from_dict(row) for row in data["rows"]]
    assert rows[0].as_dict() == data["rows"][0]
    assert set(data["step_tasks"]) >= {"click_accuracy", "click_f1", "stop_accuracy"}
    table = CliRunner().invoke(app, ["bench", "search", "--replicates", "1"])
    assert table.exit_code == 0, table.output
    assert "click_rank" in table.output and "USimAgent" in table.output
    bad = CliRunner().invoke(app, ["bench", "search", "--sessions", str(Path("/nonexistent"))])
    assert bad.exit_code != 0 and "no such file" in bad.output


def test_your_own_engine_by_module_and_attribute(tmp_path, monkeypatch):
    from simulator.domains.search.engines.spec import make_engine

    (tmp_path / "myengine.py").write_text(
        "from simulator.domains.search.engines.bm25 import BM25Engine\n"
        "class Mine(BM25Engine):\n"
        "    name = 'mine'\n"
        "    def __init__(self, collection, streams):\n"
        "        super().__init__(collection)\n"
        "class Broken:\n"
        "    name = 'broken'\n"
        "    def search(self, query, k):\n"
        "        return []\n"
    )
    monkeypatch.chdir(tmp_path)
    engine = make_engine("myengine:Mine", _collection(), Streams(0))
    assert engine.name == "mine" and engine.search("scooter", 1, CONTEXT)[0].doc_id == "d3"
    with pytest.raises(ValueError, match="is not a search engine") as broken:
        make_engine("myengine:Broken", _collection(), Streams(0))
    message = str(broken.value)
    assert "search(query: str, k: int, context: SearchContext), not search(query, k)" in message
    assert "a method feedback(click: SearchClick)" in message
    with pytest.raises(ValueError, match=r"engine http://127.0.0.1:9: GET /v1/info: .*"):
        make_engine("http://127.0.0.1:9?retries=0", _collection(), Streams(0))
    with pytest.raises(ValueError, match="choose one of: bm25, bm25-minilm"):
        make_engine("google", _collection(), Streams(0))


@needs_data
def test_sessions_export_as_a_dataset_one_row_per_query(tmp_path):
    import polars as pl

    from analysis.search_export import export_sessions, sessions_frame

    log = load_trec_sessions("trec-session-2013")
    frame = sessions_frame(log.sessions)
    assert frame.height == 401 + sum(s.final_query is not None for s in log.sessions)
    assert frame.filter(pl.col("final"))["results"].list.len().sum() == 0
    clicks = frame.select(pl.col("clicks").list.len().sum()).item()
    assert clicks == 586
    first = frame.row(0, named=True)
    assert first["query"] == "US civil war causes"
    assert first["clicks"][0]["doc_id"] == first["results"][0]["doc_id"]  # rank 1, its document
    written = export_sessions(log.sessions, tmp_path / "out")
    parquet = pl.read_parquet(written["sessions.parquet"])
    assert parquet.equals(frame)
    assert pl.read_ndjson(written["sessions.jsonl"], schema=frame.schema).equals(frame)


@needs_data
def test_bench_search_exports_the_simulated_sessions(tmp_path):
    result = CliRunner().invoke(
        app, ["bench", "search", "--replicates", "1", "--json", "--export", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sorted(data["exported"]) == ["sessions.jsonl", "sessions.parquet", "sessions.xml"]
    back = load_trec_sessions(tmp_path / "sessions.xml")
    assert len(back.sessions) == data["simulated_sessions"]


@pytest.mark.parametrize("spread", [0.0, 1.5])
def test_the_page_effect_click_model_recovers_how_clicks_bunch(spread):
    from simulator.domains.search.clicks import PageLogit

    rng = np.random.default_rng(4)
    pages, width = 600, 2
    x = rng.normal(size=(pages * 10, width))
    page = np.repeat(np.arange(pages), 10)
    effect = rng.normal(size=pages)[page]
    z = -1.5 + x @ np.array([0.8, -0.5]) + spread * effect
    y = rng.random(len(z)) < 1 / (1 + np.exp(-z))
    fitted = PageLogit.fit(x.tolist(), y.tolist(), page.tolist(), width)
    assert abs(fitted.spread - spread) < 0.35
    assert fitted.coefficients[0] > 0.5 and fitted.coefficients[1] < -0.3
    # The marginal probability is the mean over page effects, not the one at effect 0.
    draws = np.mean([fitted.p(x[:5], e) for e in rng.normal(size=20_000)], axis=0)
    assert np.allclose(fitted.marginal(x[:5]), draws, atol=0.01)
