"""The doors besides the page: their fits recover what made the data, and runs use them."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from analysis.ab import analyse_ab_dir
from analysis.ab_arms import persona_table
from analysis.frames import load_events
from analysis.run_compare import compare_run
from personas.io import load_personas
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.exposure import CHANNELS, ExposureConfig
from simulator.domains.recsys.exposure.config import INTENT_FEATURES, IntentParams, with_doors
from simulator.domains.recsys.exposure.fit import em_mix, fit_intent, persona_mix
from simulator.domains.recsys.exposure.model import Ledger
from simulator.domains.recsys.exposure.social import (
    degree_ks,
    graph_stats,
    homophily_graph,
    taste_overlap,
)
from simulator.domains.recsys.run import simulate

# --- configuration ------------------------------------------------------------------------


def test_an_unknown_door_is_named():
    with pytest.raises(ValidationError, match=r"unknown door.*'search'"):
        ExposureConfig(mix={"intent": 1.0, "search": 1.0})


def test_with_doors_validates_the_page_share():
    assert with_doors(ExposureConfig(), True, 0.3).page_share == 0.3
    with pytest.raises(ValidationError, match="page_share"):
        with_doors(ExposureConfig(), True, 1.5)


# --- the ledger ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.integers(0, 4), st.floats(0, 100)),
        max_size=40,
    ),
    st.floats(0, 100),
    st.floats(0, 100),
)
def test_ledger_windows_count_what_is_in_them(ratings, start, end):
    ledger = Ledger(5)
    for user, row, t in sorted(ratings, key=lambda r: r[2]):
        ledger.add(user, row, t)
    inside = [(u, r) for u, r, t in ratings if start <= t < end]
    expected = np.bincount([r for _, r in inside], minlength=5)
    assert ledger.window_counts(start, end).tolist() == expected.tolist()
    friends = ledger.friends_counts(["a", "b"], start, end)
    per_friend = {(u, r) for u, r in inside if u in "ab"}
    assert friends.tolist() == np.bincount([r for _, r in per_friend], minlength=5).tolist()


def test_the_ledger_refuses_time_running_backwards():
    ledger = Ledger(2)
    ledger.add("a", 0, 5.0)
    with pytest.raises(ValueError, match="runs forwards"):
        ledger.add("a", 1, 4.0)


# --- the fits recover what generated the data --------------------------------------------


def test_em_recovers_a_known_mix():
    rng = np.random.default_rng(3)
    n_items = 200
    doors = np.stack([rng.dirichlet(np.full(n_items, 0.3)) for _ in range(3)])
    truth = np.array([0.6, 0.1, 0.3])
    door = rng.choice(3, size=20_000, p=truth)
    items = np.array([rng.choice(n_items, p=doors[d]) for d in door])
    share, _ = em_mix(np.log(doors[:, items].T))
    assert np.abs(share - truth).max() < 0.04


def test_the_conditional_logit_recovers_its_weights():
    rng = np.random.default_rng(5)
    truth = np.array([1.5, 0.0, -0.8, 0.5, 0.3])
    x = rng.normal(size=(6000, 31, len(INTENT_FEATURES)))
    utility = x @ truth + rng.gumbel(size=(6000, 31))
    chosen = utility.argmax(axis=1)
    # The fit expects the choice first, as the sampled alternatives are laid out.
    order = np.argsort(np.arange(31)[None, :] != chosen[:, None], axis=1, kind="stable")
    fitted = fit_intent(np.take_along_axis(x, order[:, :, None], axis=1))
    assert np.abs(np.array(fitted.vector()) - truth).max() < 0.1


def test_a_persona_mix_leans_on_its_own_items_as_evidence_grows():
    population = np.array([0.5, 0.25, 0.25])
    assert persona_mix(np.zeros((0, 3)), population, 20.0).tolist() == population.tolist()
    social = np.log(np.array([[0.001, 0.9, 0.001]]))
    few = persona_mix(np.repeat(social, 5, axis=0), population, 20.0)
    many = persona_mix(np.repeat(social, 500, axis=0), population, 20.0)
    assert population[1] < few[1] < many[1] and abs(many.sum() - 1) < 1e-9


# --- the graph ----------------------------------------------------------------------------


def _two_camps(n: int = 200) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    camp = np.repeat([[1.0, 0.0], [0.0, 1.0]], n // 2, axis=0)
    return [f"p{i}" for i in range(n)], camp + 0.3 * rng.normal(size=(n, 2))


def test_homophily_draws_friends_from_the_same_camp():
    ids, vectors = _two_camps()

    def same_camp_share(h: float) -> float:
        g = homophily_graph(
            ids,
            vectors,
            mean_degree=8,
            homophily=h,
            sociability=0.0,
            rng=np.random.default_rng(1),
        )
        assert g.number_of_edges() == 800 and set(g.nodes) == set(ids)
        return np.mean([(int(a[1:]) < 100) == (int(b[1:]) < 100) for a, b in g.edges])

    assert abs(same_camp_share(0.0) - 0.5) < 0.06
    assert same_camp_share(8.0) > 0.85


def test_sociability_spreads_the_degrees():
    ids, vectors = _two_camps()
    flat, spread = (
        graph_stats(
            homophily_graph(
                ids,
                vectors,
                mean_degree=8,
                homophily=0.0,
                sociability=s,
                rng=np.random.default_rng(2),
            )
        )
        for s in (0.0, 1.5)
    )
    assert spread.degree_cv > 2 * flat.degree_cv


def test_the_same_stream_draws_the_same_graph():
    ids, vectors = _two_camps(60)

    def draw() -> nx.Graph:
        return homophily_graph(
            ids,
            vectors,
            mean_degree=5,
            homophily=3.0,
            sociability=1.0,
            rng=np.random.default_rng(9),
        )

    assert sorted(draw().edges) == sorted(draw().edges)


def test_graph_measures_on_known_graphs():
    triangle = nx.complete_graph(["a", "b", "c"])
    stats = graph_stats(triangle)
    assert (stats.edges, stats.mean_degree, stats.clustering, stats.degree_cv) == (3, 2.0, 1.0, 0.0)
    assert degree_ks(triangle, triangle) == 0.0
    assert degree_ks(triangle, nx.empty_graph(["x", "y", "z"])) == 1.0
    items = {"a": frozenset({1, 2}), "b": frozenset({1, 2}), "c": frozenset({9})}
    pair = nx.Graph([("a", "b")])
    pair.add_node("c")
    overlap = taste_overlap(pair, items, np.random.default_rng(0), 2000)
    assert overlap["friends"] == 1.0 and overlap["lift"] > 1.0


# --- runs ---------------------------------------------------------------------------------


def _doors(config, **kw):  # type: ignore[no-untyped-def]
    return config.model_copy(update={"exposure": ExposureConfig(enabled=True, **kw)})


def test_every_exposure_names_its_door_and_doors_never_repeat_an_item(
    small_config, prepared, tmp_path
):
    config = _doors(small_config.model_copy(update={"target": "itemknn"}), page_share=0.3)
    run = simulate(config, tmp_path / "r")
    events = load_events(run.run_dir)
    shown = events.filter(pl.col("event").is_in(["impression", "click", "rate"]))
    assert set(shown["channel"].unique().to_list()) <= set(CHANNELS)
    doors = shown.filter((pl.col("event") == "impression") & (pl.col("channel") != "recommender"))
    assert doors.height > 0
    # A door shows nothing the persona rated in train or earlier in the run.
    user_of = {p.id: p.provenance.user_id for p in load_personas(run.run_dir / "personas.json")}
    train = prepared.split.train
    seen = {
        u: set(f["item_id"].to_list())
        for (u,), f in train.partition_by("user_id", as_dict=True).items()
    }
    rated_at = {
        (r["persona_id"], r["item_id"]): r["t"]
        for r in events.filter(pl.col("event") == "rate").iter_rows(named=True)
    }
    for row in doors.iter_rows(named=True):
        assert row["item_id"] not in seen[user_of[row["persona_id"]]]
        assert rated_at.get((row["persona_id"], row["item_id"]), np.inf) >= row["t"]
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    fitted = manifest["calibration"]["exposure"]
    assert abs(sum(fitted["mix"].values()) - 1.0) < 1e-6 and fitted["events"] > 0
    assert manifest["exposure"]["edges"] > 0
    # The graph is kept beside the trace, and compare holds it against sim and real.
    edges = pl.read_parquet(run.run_dir / "friends.parquet")
    assert edges.height == manifest["exposure"]["edges"]
    assert set(edges["persona_a"]) | set(edges["persona_b"]) <= set(user_of)
    assert (edges["persona_a"] < edges["persona_b"]).all()
    friends = compare_run(run.run_dir).simulated["friends"]
    assert set(friends) == {"sim", "real"}
    assert {"friends", "strangers", "lift"} <= set(friends["sim"])


def test_a_page_share_of_one_is_the_run_without_doors(small_config, tmp_path):
    plain = simulate(small_config, tmp_path / "plain")
    paged = simulate(_doors(small_config, page_share=1.0), tmp_path / "paged")
    # The same events; the parts' bytes differ only in the run id (another config).
    assert load_events(plain.run_dir).equals(load_events(paged.run_dir))


def test_a_run_with_doors_resumes_exactly(small_config, tmp_path, event_digests):
    config = _doors(small_config.model_copy(update={"days": 3}), page_share=0.0)
    whole = simulate(config, tmp_path / "whole")
    simulate(config, tmp_path / "r", until_day=1)
    resumed = simulate(config, tmp_path / "r", resume=True)
    assert resumed.resumed and event_digests(whole.run_dir) == event_digests(resumed.run_dir)


def test_ab_reports_the_recommender_share(small_config, tmp_path):
    small_config = small_config.model_copy(update={"calibrate": False})  # the doors' priors
    config = _doors(small_config, page_share=0.5)
    run = simulate_ab(config, {"pop": "popularity", "knn": "itemknn"}, tmp_path / "ab")
    table = persona_table(run.arms["pop"])
    assert (table["page_clicks"] <= table["clicks"]).all()
    result = analyse_ab_dir(run.run_dir)
    share = {m.arm: m.value for m in result.metrics if m.metric == "recommender_share"}
    assert all(0.0 < v < 1.0 for v in share.values())
    plain = simulate_ab(small_config, {"pop": "popularity", "knn": "itemknn"}, tmp_path / "p")
    assert all(
        m.value == 1.0
        for m in analyse_ab_dir(plain.run_dir).metrics
        if m.metric == "recommender_share"
    )


def test_intent_params_are_in_feature_order():
    params = IntentParams(affinity=1, recent_affinity=2, genre=3, popularity=4, recent=5)
    assert params.vector() == (1, 2, 3, 4, 5)
