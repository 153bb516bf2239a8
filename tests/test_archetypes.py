"""LLM archetypes: personas and items clustered, the model asked once per (archetype, call)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from simulator.core.protocols import Failure
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import ActionSpace, Click
from simulator.domains.recsys.brains.archetype_brain import ArchetypeBrain
from simulator.domains.recsys.brains.archetypes import ArchetypeConfig, Archetypes, Shelves
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.interfaces import Decision, SessionState
from simulator.domains.recsys.perception import Perception, PerceptionConfig
from simulator.domains.recsys.run import simulate
from simulator.llm import InvalidAnswer, read_calls
from simulator.minds.memory import Recall


@pytest.fixture(scope="module")
def personas(prepared):  # type: ignore[no-untyped-def]
    from personas.builder import build_personas

    users = prepared.split.train["user_id"].unique().sort().head(40).to_list()
    return build_personas(
        prepared.dataset, prepared.split.train, users, space=prepared.space, split_label="t"
    )


def test_archetypes_are_a_function_of_the_personas(personas):
    first = Archetypes.fit(personas, 6, seed=3)
    again = Archetypes.fit(list(reversed(personas)), 6, seed=3)
    assert len(first) == 6 and sum(first.sizes) == len(personas)
    # Each medoid belongs to the archetype it speaks for, and every persona to one.
    assert [first.of(m) for m in first.medoids] == list(range(6))
    members = [first.of(p) for p in personas]
    assert sorted(set(members)) == list(range(6))
    # The order personas come in moves no one to another kind of persona.
    by_id = {p.id: first.medoids[first.of(p)].id for p in personas}
    assert by_id == {p.id: again.medoids[again.of(p)].id for p in personas}
    # Fewer distinct personas than asked for: as many archetypes as there are.
    assert len(Archetypes.fit(personas[:3], 16, seed=3)) == 3
    with pytest.raises(ValueError, match="empty"):
        Archetypes.fit([], 4, seed=3)


def test_shelves_cover_the_catalogue_and_show_their_own_hits(prepared):
    catalog = prepared.catalog
    shelves = Shelves.fit(catalog, 12, 3, seed=0)
    assert len(shelves) == 12 and len(shelves.of_row) == len(catalog)
    for shelf, examples in enumerate(shelves.examples):
        rows = catalog.index(list(examples))
        assert 1 <= len(examples) <= 3 and set(shelves.of_row[rows]) == {shelf}
        members = np.flatnonzero(shelves.of_row == shelf)
        # The titles that show a shelf are its most popular members.
        assert catalog.popularity[rows].min() >= np.sort(catalog.popularity[members])[-3:].min()
    assert np.array_equal(shelves.of_row, Shelves.fit(catalog, 12, 3, seed=0).of_row)


@pytest.fixture(scope="module")
def page(prepared, personas):  # type: ignore[no-untyped-def]
    slate = prepared.catalog.item_ids[100:110].tolist()
    observation = Perception(PerceptionConfig(), prepared.catalog).perceive(
        personas[0], slate, t=500.0, page=0, rng=Streams(1).generator("p", "perception")
    )
    space = ActionSpace(item_ids=tuple(slate), rating_scale=prepared.dataset.rating_scale)
    return observation, space


def _brain(prepared, personas, llm: Any = None, **config: Any) -> ArchetypeBrain:  # type: ignore[no-untyped-def]
    settings = ArchetypeConfig(count=4, shelves=6, per_call=3, **config)
    return ArchetypeBrain(prepared.catalog, UtilityParams(), llm, personas, settings, seed=0)


def _known(brain: ArchetypeBrain, stars: float) -> None:
    """Every (archetype, call) answered already: `stars` for every shelf."""
    for a in range(len(brain.archetypes)):
        for call in range(math.ceil(len(brain.shelves) / brain.config.per_call)):
            brain._answers[(a, call)] = np.full(brain.config.per_call, stars)


def _decide(brain: ArchetypeBrain, persona, page) -> Decision | Failure:  # type: ignore[no-untyped-def]
    observation, space = page
    recall = Recall(entries=(), familiarity=np.zeros(len(observation.examined_items())))
    request = brain.prepare(
        persona, observation, recall, SessionState(0, 0, 0), space, np.random.default_rng(5)
    )
    assert not isinstance(request, list)  # every page goes to the broker
    return asyncio.run(brain.deliberate(request, persona, None))


def test_the_archetype_moves_clicks_by_its_stars_and_nothing_else(prepared, personas, page):
    persona = personas[0]
    plain = _brain(prepared, personas, weight=0.0)
    _known(plain, 2.0)
    keen = _brain(prepared, personas, weight=8.0)
    _known(keen, 0.0)
    shelf = keen.shelves.of_row[prepared.catalog.index([page[0].examined_items()[0].item_id])[0]]
    call = int(shelf) // keen.config.per_call
    keen._answers[(keen.archetype_of(persona), call)][int(shelf) % keen.config.per_call] = 2.0
    # No word from the model: the persona's own draws over the utility brain's log-odds.
    decided = _decide(plain, persona, page)
    assert isinstance(decided, Decision) and decided.reviews == {}
    observation, space = page
    recall = Recall(entries=(), familiarity=np.zeros(len(observation.examined_items())))
    logits, expected = plain.utility.scores(persona, observation, recall, 0)
    seed = int(np.random.default_rng(5).integers(2**31 - 1))
    session = SessionState(0, 0, 0)
    alone = plain.utility.choose(
        persona, observation, logits, expected, session, space, np.random.default_rng(seed)
    )
    assert decided.actions == alone
    # Two stars above the archetype's usual with weight 8: +8 log-odds, a sure click.
    keener = _decide(keen, persona, page)
    assert isinstance(keener, Decision)
    first = page[0].examined_items()[0].item_id
    assert Click(item_id=first, position=page[0].examined_items()[0].position) in keener.actions


class _Refusing:
    """An LLM whose every answer is invalid, counting the calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def structured(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise InvalidAnswer("schema", "not five stars", attempts=3)


def test_a_failed_call_is_a_failed_decision_and_is_asked_again(prepared, personas, page):
    llm = _Refusing()
    brain = _brain(prepared, personas, llm=llm)
    first = _decide(brain, personas[0], page)
    assert isinstance(first, Failure) and first.reason == "schema"
    asked = llm.calls
    assert asked >= 1 and brain._answers == {}
    assert isinstance(_decide(brain, personas[0], page), Failure) and llm.calls == 2 * asked


def test_an_archetype_run_asks_each_pair_once_and_resumes_from_its_answers(
    tmp_path: Path, small_config: RunConfig, event_digests, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMFOLK_CACHE_DIR", str(tmp_path / "cache"))
    config = small_config.model_copy(
        update={"brain": "archetype", "personas": 6, "calibrate": False, "launch_at": 3600.0,
                "archetypes": ArchetypeConfig(count=2, shelves=8, per_call=8)}
    )  # fmt: skip
    cold = simulate(config, tmp_path / "cold")
    simulate(config, tmp_path / "resumed", until_day=1)
    resumed = simulate(config, tmp_path / "resumed", resume=True)
    assert cold.complete and resumed.complete
    calls = read_calls(cold.run_dir).filter(pl.col("purpose") != "probe")
    assert set(calls["purpose"]) == {"archetype"}
    # Two archetypes, one call each, for the whole run: however many pages it decided.
    assert calls.filter(pl.col("ok")).height == 2
    assert calls["persona_id"].n_unique() == 2
    events = pl.read_parquet(cold.run_dir / "events" / "*.parquet")
    pages = events.filter(pl.col("event") == "impression").select("persona_id", "session", "page")
    assert pages.unique().height > 2
    # The resumed run asks again (the answers live in the cache) and decides the same.
    assert event_digests(resumed.run_dir) == event_digests(cold.run_dir)
    again = read_calls(resumed.run_dir).filter(pl.col("purpose") == "archetype")
    assert again.filter(~pl.col("cache_hit")).height == 0
