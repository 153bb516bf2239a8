"""The LLM and hybrid brains without a server: schemas, typed actions, replaceable nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from simulator.core.protocols import Failure
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import ActionSpace, Click, Leave, Rate
from simulator.domains.recsys.brains.llm import HybridBrain, LLMBrain
from simulator.domains.recsys.brains.schemas import list_schema, page_schema, ratings_schema
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.interfaces import Decision, DecisionRequest, SessionState
from simulator.domains.recsys.perception import Perception, PerceptionConfig
from simulator.llm import InvalidAnswer
from simulator.minds.memory import Recall


@pytest.fixture(scope="module")
def persona(prepared):
    from personas.builder import build_personas

    user = int(prepared.split.train["user_id"][0])
    return build_personas(
        prepared.dataset, prepared.split.train, [user], space=prepared.space, split_label="t"
    )[0]


@pytest.fixture(scope="module")
def page(prepared, persona):
    slate = prepared.catalog.item_ids[200:210].tolist()
    perception = Perception(PerceptionConfig(), prepared.catalog)
    observation = perception.perceive(
        persona, slate, t=1000.0, page=0, rng=Streams(1).generator("p", "perception")
    )
    space = ActionSpace(item_ids=tuple(slate), rating_scale=prepared.dataset.rating_scale)
    return observation, space


def _request(observation, space, **extra: Any) -> DecisionRequest:
    fields: dict[str, Any] = {"priors": {}, "expected": {}, "fallback": []} | extra
    return DecisionRequest(
        persona_id="p",
        t=observation.t,
        observation=observation,
        session=SessionState(session=0, page=0, clicks=0),
        space=space,
        seed=1,
        **fields,
    )


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_answer_the_schema_allows_is_a_valid_action_sequence(prepared, page, data):
    observation, space = page
    examined = [v.item_id for v in observation.examined_items()]
    schema = page_schema(examined, rate=True)
    answer = schema.model_validate(
        {
            "watch": data.draw(st.sampled_from([*map(str, examined), "none"])),
            "rating": data.draw(st.integers(1, 5)),
            "review": data.draw(st.text(max_size=60)),
            "leave": data.draw(st.booleans()),
        }
    )
    brain = LLMBrain(prepared.catalog, UtilityParams(), llm=None)  # type: ignore[arg-type]
    decision = brain.actions(_request(observation, space), answer)
    space.validate_sequence(decision.actions)  # raises if the page does not allow it
    watched = answer.model_dump()["watch"] != "none"
    assert sum(isinstance(a, Click) for a in decision.actions) == int(watched)
    leaves = [a for a in decision.actions if isinstance(a, Leave)]
    assert len(leaves) == int(answer.model_dump()["leave"])


def test_schemas_refuse_what_the_page_does_not_show(page):
    observation, _ = page
    examined = [v.item_id for v in observation.examined_items()]
    schema = page_schema(examined, rate=True)
    good = {"watch": str(examined[0]), "rating": 3, "review": "ok", "leave": False}
    schema.model_validate(good)
    for bad in (
        {**good, "watch": "999999999"},  # not on the page
        {**good, "rating": 6},
        {**good, "review": "x" * 61},
        {**good, "extra": 1},
        {**good, "watch": int(examined[0])},  # strict: no coercion
    ):
        with pytest.raises(ValidationError):
            schema.model_validate(bad)
    json_schema = schema.model_json_schema()
    assert json_schema["additionalProperties"] is False
    assert set(json_schema["properties"]["watch"]["enum"]) == {*map(str, examined), "none"}
    with pytest.raises(ValidationError):
        list_schema([1, 2]).model_validate({"watch": ["3"]})
    with pytest.raises(ValidationError):
        ratings_schema(3).model_validate({"ratings": [1, 2]})


def test_the_hybrid_keeps_the_calibrated_rating_and_the_utility_leave(prepared, page):
    observation, space = page
    item = observation.examined_items()[0].item_id
    brain = HybridBrain(prepared.catalog, UtilityParams(), llm=None)  # type: ignore[arg-type]
    request = _request(
        observation, space, expected={item: 4.5}, fallback=[Leave(reason="satisfied")]
    )
    answer = page_schema([item], rate=False).model_validate(
        {"watch": str(item), "review": "fine", "leave": False}
    )
    decision = brain.actions(request, answer)
    assert decision.actions == [
        Click(item_id=item, position=space.item_ids.index(item)),
        Rate(item_id=item, rating=4.5),
        Leave(reason="satisfied"),
    ]
    assert decision.reviews == {item: "fine"}


def test_hybrid_routine_pages_need_no_model(prepared, persona, page):
    observation, space = page
    brain = HybridBrain(prepared.catalog, UtilityParams(intercept=-30.0), llm=None)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    decided = brain.prepare(
        persona, observation, _no_recall(observation), SessionState(0, 0, 0), space, rng
    )
    assert isinstance(decided, list)  # nothing tempts: decided on the clock, no request


class _Refusing:
    """An LLM whose every answer is invalid."""

    async def structured(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidAnswer("schema", "not an id on the page", attempts=3)


def test_a_failed_answer_is_a_failure_not_a_default(prepared, persona, page):
    observation, space = page
    brain = LLMBrain(prepared.catalog, UtilityParams(), llm=_Refusing())  # type: ignore[arg-type]
    outcome = asyncio.run(brain.deliberate(_request(observation, space), persona, None))
    assert outcome == Failure(reason="schema", detail="not an id on the page")


def test_graph_nodes_are_replaceable_by_name(prepared, persona, page):
    observation, space = page
    first = observation.examined_items()[0]

    async def decide(state: dict[str, Any]) -> dict[str, Any]:
        assert state["items"]  # perceive ran before
        actions = [Click(item_id=first.item_id, position=first.position)]
        return {"outcome": Decision(actions=actions, reviews={})}

    brain = LLMBrain(
        prepared.catalog,
        UtilityParams(),
        llm=None,  # type: ignore[arg-type]
        nodes={"decide": decide},
    )
    outcome = asyncio.run(brain.deliberate(_request(observation, space), persona, None))
    assert isinstance(outcome, Decision) and outcome.actions[0].item_id == first.item_id
    with pytest.raises(ValueError, match="unknown graph nodes"):
        LLMBrain(prepared.catalog, UtilityParams(), llm=None, nodes={"think": decide})  # type: ignore[arg-type,dict-item]


def _no_recall(observation) -> Recall:
    return Recall(entries=(), familiarity=np.zeros(len(observation.examined_items())))
