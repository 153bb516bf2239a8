"""Anthology backstories: facts, mismatch, the check against a fake and the real local model."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from personas.anthology import (
    check_backstories,
    extract_facts,
    whole_sentences,
    write_backstory,
)
from personas.backstory_facts import (
    ATTRIBUTES,
    PersonaFacts,
    extraction_model,
    mismatch,
    persona_facts,
)
from personas.backstory_prompts import backstory_messages
from personas.backstory_report import BackstoryReport, with_backstories
from personas.builder import build_personas
from personas.datasets import RatingScale
from personas.datasets.dataset import GENRES_LATEST
from personas.io import load_personas, save_personas
from personas.schema import Persona, Provenance
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import Prepared
from simulator.llm import LLM, EmbeddedServer, ResponseCache
from simulator.llm.answers import response_format_for
from simulator.llm.config import LLMConfig
from simulator.llm.server import LOCAL_API_KEY

GENRES = GENRES_LATEST  # ml-latest-small

T = TypeVar("T")


def run(llm: LLM, coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a fresh loop, then let litellm's logging worker finish on it."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(llm.aclose())
        loop.close()


def persona(
    *,
    sessions_per_day: float = 1.0,
    items_per_session: float = 10.0,
    mean: float = 3.6,
    diversity: float = 0.7,
    affinity: dict[str, float] | None = None,
    pid: str = "p-1",
) -> Persona:
    return Persona.model_validate(
        {
            "id": pid,
            "traits": {
                "sessions_per_day": sessions_per_day,
                "items_per_session": items_per_session,
                "conformity": 0.5,
                "diversity": diversity,
                "patience": 0.5,
            },
            "taste": {
                "genre_affinity": affinity
                if affinity is not None
                else {"Drama": 0.4, "Comedy": 0.3, "Horror": -0.5, "War": 0.35, "IMAX": 0.1}
            },
            "rating": {"mean": mean, "bias": 0.0, "spread": 0.9},
            "provenance": {"source": "dataset", "dataset": "ml-latest-small", "user_id": 1},
        }
    )


# -- facts --------------------------------------------------------------------------


def test_top_genres_are_the_three_highest_affinities_as_a_set() -> None:
    facts = persona_facts(persona(), GENRES)
    assert facts.top_genres == ("Comedy", "Drama", "War")
    # Names outside the vocabulary are ignored; ties break by name.
    tied = persona(affinity={"Zombie": 9.0, "War": 0.2, "Action": 0.2, "Drama": 0.2, "Crime": 0.1})
    assert persona_facts(tied, GENRES).top_genres == ("Action", "Drama", "War")


@pytest.mark.parametrize(
    ("sessions", "items", "activity"),
    [(1.0, 19.9, "occasional"), (1.0, 20.0, "regular"), (2.0, 24.9, "regular"), (1, 50, "heavy")],
)
def test_activity_thresholds(sessions: float, items: float, activity: str) -> None:
    p = persona(sessions_per_day=sessions, items_per_session=items)
    assert persona_facts(p, GENRES).activity == activity


@pytest.mark.parametrize(
    ("mean", "style"),
    [(3.42, "harsh"), (3.43, "balanced"), (3.87, "balanced"), (3.88, "generous"), (5, "generous")],
)
def test_rating_style_from_the_mean_on_the_scale(mean: float, style: str) -> None:
    assert persona_facts(persona(mean=mean), GENRES).rating_style == style


def test_rating_style_follows_the_scale() -> None:
    # 3.6 is balanced on 0.5-5 but harsh on 1-10.
    p = persona(mean=3.6)
    assert persona_facts(p, GENRES).rating_style == "balanced"
    ten = RatingScale(low=1.0, high=10.0, step=1.0)
    assert persona_facts(p, GENRES, scale=ten).rating_style == "harsh"


def test_openness_from_diversity() -> None:
    assert persona_facts(persona(diversity=0.79), GENRES).openness == "narrow"
    assert persona_facts(persona(diversity=0.8), GENRES).openness == "broad"


def test_facts_of_built_personas(prepared: Prepared, small_config: RunConfig) -> None:
    users = sorted(set(prepared.split.train["user_id"].to_list()))[:30]
    built = build_personas(
        prepared.dataset,
        prepared.split.train,
        users,
        space=prepared.space,
        split_label=small_config.split_label,
    )
    for p in built:
        facts = persona_facts(p, prepared.dataset.genres, scale=prepared.dataset.rating_scale)
        assert len(facts.top_genres) == 3
        assert set(facts.top_genres) <= set(prepared.dataset.genres)
        floor = min(p.taste.genre_affinity[g] for g in facts.top_genres)
        others = set(p.taste.genre_affinity) - set(facts.top_genres)
        assert all(p.taste.genre_affinity[g] <= floor for g in others)
        messages = backstory_messages(p, prepared.dataset.genres)
        assert [m["role"] for m in messages] == ["system", "user"]
        assert all(g in messages[1]["content"] for g in facts.top_genres)


# -- mismatch -------------------------------------------------------------------------

facts_strategy = st.builds(
    PersonaFacts,
    top_genres=st.lists(st.sampled_from(GENRES), max_size=3, unique=True).map(tuple),
    activity=st.sampled_from(["occasional", "regular", "heavy"]),
    rating_style=st.sampled_from(["generous", "balanced", "harsh"]),
    openness=st.sampled_from(["narrow", "broad"]),
)


@settings(max_examples=300, deadline=None)
@given(a=facts_strategy, b=facts_strategy)
def test_mismatch_bounded_symmetric_and_zero_iff_equal(a: PersonaFacts, b: PersonaFacts) -> None:
    m = mismatch(a, b)
    assert set(m) == {*ATTRIBUTES, "overall"}
    assert all(0.0 <= v <= 1.0 for v in m.values())
    assert m == mismatch(b, a)
    assert (m["overall"] == 0.0) == (a == b)
    for name in ATTRIBUTES[1:]:
        assert m[name] == (0.0 if getattr(a, name) == getattr(b, name) else 1.0)
    assert m["overall"] == pytest.approx(sum(m[n] for n in ATTRIBUTES) / 4)
    assert mismatch(a, a)["overall"] == 0.0


@pytest.mark.parametrize(
    ("found", "expected_rate"),
    [
        (("Drama", "Comedy", "War"), 0.0),
        (("War", "Drama", "Horror"), 1 / 3),
        (("Drama", "Action", "Horror"), 2 / 3),
        (("Action", "Crime", "Horror"), 1.0),
        (("Drama", "Drama", "Drama"), 2 / 3),  # a repeated genre counts once
    ],
)
def test_genre_mismatch_is_one_minus_overlap_over_three(
    found: tuple[str, ...], expected_rate: float
) -> None:
    expected = persona_facts(persona(), GENRES)
    other = expected.model_copy(update={"top_genres": found})
    other = PersonaFacts.model_validate(other.model_dump())
    assert mismatch(expected, other)["top_genres"] == pytest.approx(expected_rate)


# -- structured answer and helpers -------------------------------------------------------


def test_extraction_model_is_closed_and_enumerated() -> None:
    model = extraction_model(GENRES)
    schema = response_format_for(model)["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(ATTRIBUTES)
    text = json.dumps(schema)
    assert all(f'"{g}"' in text for g in GENRES)
    good = {
        "top_genres": ["Drama", "War", "Comedy"],
        "activity": "heavy",
        "rating_style": "harsh",
        "openness": "broad",
    }
    assert model.model_validate(good)
    for bad in (
        {**good, "top_genres": ["Drama", "Vampire", "Comedy"]},
        {**good, "top_genres": ["Drama", "War"]},
        {**good, "activity": "sometimes"},
        {**good, "mood": "happy"},
    ):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_whole_sentences() -> None:
    assert whole_sentences("  I grew up. I like films, and ") == "I grew up."
    assert whole_sentences("I grew up! Then") == "I grew up!"
    assert whole_sentences("No end at all") == "No end at all"
    assert whole_sentences('She said "yes." And') == 'She said "yes."'
    assert whole_sentences("Ends well.") == "Ends well."


def test_old_persona_files_load_without_backstory_by(tmp_path: Path) -> None:
    p = persona()
    record = p.model_dump(mode="json")
    del record["provenance"]["backstory_by"]
    assert Persona.model_validate(record) == p
    assert Provenance(source="hand").backstory_by is None


# -- the check against the real local model -------------------------------------------------


# -- the check against a scripted server ----------------------------------------------------

from fakellm import FakeLLMServer, Ok  # noqa: E402

STORY = "I grew up in Leeds and teach maths. I love Drama, Comedy and Horror. I watch now and then."
ANSWER = json.dumps(
    {
        "top_genres": ["Drama", "Comedy", "Horror"],
        "activity": "occasional",
        "rating_style": "balanced",
        "openness": "narrow",
    }
)


def fake_llm(server: FakeLLMServer, repairs: int = 1) -> LLM:
    config = LLMConfig(model="openai/fake", repairs=repairs, retries=0, concurrency=1, cache=False)
    return LLM(config, model="openai/fake", api_base=server.api_base, api_key="sk-fake")


def test_check_against_a_scripted_model() -> None:
    with FakeLLMServer([Ok(STORY + " And th"), Ok(ANSWER)]) as server:
        llm = fake_llm(server)
        report = run(llm, check_backstories(llm, [persona()], seed=3, genres=GENRES))
        write, extract = (r.body for r in server.received)
    assert write["max_tokens"] == 180
    assert "response_format" not in write
    assert extract["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
    assert STORY in extract["messages"][-1]["content"]
    assert (report.n, report.checked, report.failures, report.calls) == (1, 1, [], 2)
    (result,) = report.results
    assert result.backstory == STORY  # cut after the last full sentence
    assert result.found is not None and result.found.top_genres == ("Comedy", "Drama", "Horror")
    assert report.rates["top_genres"] == pytest.approx(1 / 3)
    assert report.rates["activity"] == report.rates["rating_style"] == 0.0
    assert report.rates["overall"] == pytest.approx(1 / 12)
    assert report.strict == report.rates
    assert report.chance["overall"] is None  # one persona: no other to compare with
    assert BackstoryReport.model_validate_json(report.model_dump_json()) == report


def test_an_invalid_answer_is_a_reported_failure() -> None:
    with FakeLLMServer([Ok(STORY)], default="invalid") as server:
        llm = fake_llm(server)
        report = run(llm, check_backstories(llm, [persona()], seed=0, genres=GENRES))
        assert len(server.received) == 1 + 2  # the story, the answer and one repair
    assert (report.n, report.checked) == (1, 0)
    (failure,) = report.failures
    assert failure.stage == "extract" and failure.error.startswith("InvalidAnswer")
    assert report.results[0].backstory == STORY
    assert report.rates["overall"] is None
    assert report.strict["overall"] == 1.0


def test_an_empty_story_is_a_reported_failure_and_keeps_the_template(tmp_path: Path) -> None:
    people = [persona(pid="a"), persona(pid="b")]
    with FakeLLMServer(default=Ok("")) as server:
        llm = fake_llm(server)
        report = run(llm, check_backstories(llm, people, seed=0, genres=GENRES))
    assert [f.stage for f in report.failures] == ["write", "write"]
    assert with_backstories(people, report) == people


def test_personas_get_their_stories_and_provenance(tmp_path: Path) -> None:
    people = [persona(pid="a")]
    with FakeLLMServer([Ok(STORY), Ok(ANSWER)]) as server:
        llm = fake_llm(server)
        report = run(llm, check_backstories(llm, people, seed=5, genres=GENRES))
    (updated,) = with_backstories(people, report)
    assert updated.backstory == STORY
    label = updated.provenance.backstory_by
    assert label is not None and label.startswith(f"llm {llm.identity} seed=5 prompt=")
    assert updated.model_copy(update={"backstory": "", "provenance": people[0].provenance}) == (
        people[0].model_copy(update={"backstory": ""})
    )
    save_personas([updated], tmp_path / "p.yaml")
    assert load_personas(tmp_path / "p.yaml") == [updated]


# -- the real embedded model ---------------------------------------------------------------


def local_llm(server: EmbeddedServer, cache: Path) -> LLM:
    return LLM(
        LLMConfig(concurrency=server.slots),
        model=server.model,
        api_base=server.api_base,
        api_key=LOCAL_API_KEY,
        cache=ResponseCache(cache),
        cache_identity=server.identity,
    )


def test_write_and_check_with_the_real_model(
    embedded_server: EmbeddedServer,
    prepared: Prepared,
    small_config: RunConfig,
    tmp_path: Path,
) -> None:
    genres, scale = prepared.dataset.genres, prepared.dataset.rating_scale
    users = sorted(set(prepared.split.train["user_id"].to_list()))[:3]
    people = build_personas(
        prepared.dataset,
        prepared.split.train,
        users,
        space=prepared.space,
        split_label=small_config.split_label,
    )
    llm = local_llm(embedded_server, tmp_path / "cache.sqlite")
    # Short stories keep the test quick; the length bound is all that differs from a real check.
    check = check_backstories(llm, people, seed=1, genres=genres, scale=scale, max_tokens=48)
    loop = asyncio.new_event_loop()
    try:
        first = loop.run_until_complete(check)
        again = loop.run_until_complete(
            check_backstories(llm, people, seed=1, genres=genres, scale=scale, max_tokens=48)
        )
        story = loop.run_until_complete(
            write_backstory(llm, people[0], seed=1, genres=genres, scale=scale, max_tokens=48)
        )
        read = first.results[0].backstory
        facts = (
            loop.run_until_complete(
                extract_facts(llm, read, seed=1, genres=genres, persona_id=people[0].id)
            )
            if read and first.results[0].found is not None
            else None
        )
    finally:
        loop.run_until_complete(llm.aclose())
        loop.close()
        llm.close()

    assert first.n == 3 and first.model == embedded_server.identity
    assert first.checked + len(first.failures) == 3  # every persona is accounted for
    assert first.cache_hits == 0 and first.calls >= 3
    for table in (first.rates, first.strict, first.chance):
        assert set(table) == {*ATTRIBUTES, "overall"}
        assert all(v is None or 0.0 <= v <= 1.0 for v in table.values())
    assert first.strict["overall"] is not None
    for result in first.results:
        assert result.failure is not None or (result.backstory and result.found is not None)
    # The same questions again: every answer from the cache, the same report.
    assert again.calls == again.cache_hits == first.calls
    assert again.results == first.results
    assert story == first.results[0].backstory
    if facts is not None:
        assert facts == first.results[0].found
    updated = with_backstories(people, first)
    assert all(p.backstory for p in updated)


def test_cli_writes_personas_and_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from simulator.cli.personas import app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    out = tmp_path / "people.yaml"
    with FakeLLMServer(content=ANSWER) as server:  # the "story" is the answer's text
        args = ["backstories", "--personas", "3", "--seed", "2", "--out", str(out)]
        args += ["--model", "openai/fake", "--api-base", server.api_base, "--no-cache"]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "top_genres" in result.output and "overall" in result.output
    people = load_personas(out)
    assert len(people) == 3 and all(p.backstory == ANSWER for p in people)
    assert all(
        (p.provenance.backstory_by or "").startswith("llm openai/fake seed=2") for p in people
    )
    report = BackstoryReport.model_validate_json((tmp_path / "people.report.json").read_text())
    assert (report.n, report.checked, report.calls) == (3, 3, 6)
    assert [r.persona_id for r in report.results] == [p.id for p in people]


def test_a_backstories_file_feeds_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from personas.io import save_personas
    from simulator.cli import app as main_app
    from simulator.cli.personas import app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    out = tmp_path / "people.yaml"
    with FakeLLMServer(content=ANSWER) as server:
        args = ["backstories", "--personas", "3", "--seed", "2", "--out", str(out)]
        args += ["--model", "openai/fake", "--api-base", server.api_base, "--no-cache"]
        assert CliRunner().invoke(app, args).exit_code == 0
    week = Path(__file__).parents[1] / "scenarios" / "movielens_week.py"
    run = ["run", str(week), "--personas-file", str(out), "--days", "1", "--seed", "2"]
    result = CliRunner().invoke(main_app, [*run, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    used = json.loads((tmp_path / "run" / "personas.json").read_text())["personas"]
    assert [p["backstory"] for p in used] == [ANSWER] * 3
    assert [p["id"] for p in used] == [p.id for p in load_personas(out)]
    # A persona of other data, or of another taste space, is refused with the reason.
    people = load_personas(out)
    moved = people[0].model_copy(
        update={"provenance": people[0].provenance.model_copy(update={"dataset_sha256": "0" * 64})}
    )
    save_personas([moved, *people[1:]], tmp_path / "other.yaml")
    refused = CliRunner().invoke(
        main_app, ["run", str(week), "--personas-file", str(tmp_path / "other.yaml"),
                   "--days", "1", "--out", str(tmp_path / "r2")]
    )  # fmt: skip
    assert refused.exit_code != 0
    assert f"persona {people[0].id!r} was built from other data" in str(refused.exception or "")
    # Nothing ran: the folder is free for the next try, and the run's count is the file's.
    fixed = CliRunner().invoke(main_app, [*run, "--out", str(tmp_path / "r2")])
    assert fixed.exit_code == 0, fixed.output
    manifest = json.loads((tmp_path / "r2" / "manifest.json").read_text())
    assert manifest["config"]["personas"] == manifest["personas"]["count"] == 3
