import numpy as np
import pytest

from personas.datasets import RatingScale
from simulator.core.rng import Streams
from simulator.domains.recsys.actions import ActionSpace, Click, InvalidAction, Leave, Rate
from simulator.domains.recsys.brains import make_brain
from simulator.domains.recsys.brains.utility import UtilityBrain, UtilityParams
from simulator.domains.recsys.interfaces import SessionState
from simulator.domains.recsys.perception import Perception, PerceptionConfig
from simulator.minds.memory import Recall


@pytest.fixture(scope="module")
def persona(prepared):
    from personas.builder import build_personas

    user = int(prepared.split.train["user_id"][0])
    return build_personas(
        prepared.dataset, prepared.split.train, [user], space=prepared.space, split_label="t"
    )[0]


def slate(prepared, n=10):
    return prepared.catalog.item_ids[100 : 100 + n].tolist()


def test_examination_falls_with_position_and_stops_at_the_span(prepared, persona):
    perception = Perception(PerceptionConfig(position_decay=0.7), prepared.catalog)
    rng = Streams(0).generator("x", "perception")
    seen = np.array(
        [
            perception.perceive(persona, slate(prepared), t=0, page=0, rng=rng).examined
            for _ in range(2000)
        ]
    )
    rates = seen.mean(axis=0)
    span = perception.span(persona)
    assert rates[0] > 0.95
    assert all(rates[k] > rates[k + 1] - 0.03 for k in range(span - 1))
    assert rates[1] < 0.75
    assert not seen[:, span:].any()


def test_hidden_fields_do_not_reach_the_brain(prepared, persona):
    perception = Perception(PerceptionConfig(fields=("title",)), prepared.catalog)
    obs = perception.perceive(
        persona, slate(prepared), t=0, page=0, rng=Streams(0).generator("x", "p")
    )
    assert all(v.title and v.genres is None and v.year is None for v in obs.items)


def test_action_space_rejects_what_the_page_does_not_allow():
    space = ActionSpace(item_ids=(10, 20), rating_scale=RatingScale(1, 5, 1))
    space.validate(Click(item_id=20, position=1))
    space.validate(Rate(item_id=10, rating=3))
    for bad in [
        Click(item_id=20, position=0),
        Click(item_id=99, position=5),
        Rate(item_id=99, rating=3),
        Rate(item_id=10, rating=3.5),
        Rate(item_id=10, rating=6),
    ]:
        with pytest.raises(InvalidAction):
            space.validate(bad)
    with pytest.raises(ValueError):
        Leave(reason="whatever")  # type: ignore[arg-type]
    with pytest.raises(InvalidAction, match="not an action"):
        space.validate({"kind": "click", "item_id": 10, "position": 0})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Rate(item_id="10", rating="4")  # type: ignore[arg-type]  # strict: no coercion


@pytest.mark.parametrize(
    "actions, error",
    [
        ([Rate(item_id=10, rating=3)], "before any click"),
        ([Leave(reason="bored"), Click(item_id=10, position=0)], "followed by more"),
        ([Click(item_id=10, position=0), Rate(item_id=20, rating=3)], "before any click"),
    ],
)
def test_action_order_is_checked(actions, error):
    space = ActionSpace(item_ids=(10, 20), rating_scale=RatingScale(1, 5, 1))
    with pytest.raises(InvalidAction, match=error):
        space.validate_sequence(actions)
    good = [Click(item_id=20, position=1), Rate(item_id=20, rating=5), Leave(reason="satisfied")]
    assert space.validate_sequence(good) == good


def _click_rate(brain, persona, prepared, items, n=400):
    from simulator.domains.recsys.perception import ItemView, Observation

    views = tuple(
        ItemView(item_id=i, position=0, title=None, year=None, genres=None) for i in items
    )
    rng = Streams(1).generator("x", "choice")
    space = ActionSpace(item_ids=tuple(items), rating_scale=prepared.dataset.rating_scale)
    clicks = 0
    for _ in range(n):
        obs = Observation(t=0, page=0, items=views[:1], examined=(True,))
        actions = brain.decide(
            persona, obs, Recall((), np.zeros(1)), SessionState(0, 0, 0), space, rng
        )
        clicks += any(isinstance(a, Click) for a in actions)
        for action in actions:
            space.validate(action)
    return clicks / n


def test_taste_match_raises_the_click_rate(prepared, persona):
    brain = UtilityBrain(prepared.catalog, UtilityParams(popularity=0.0, taste=3.0))
    predicted = prepared.catalog.factors @ np.asarray(persona.taste.factors)
    best = int(prepared.catalog.item_ids[np.argmax(predicted)])
    worst = int(prepared.catalog.item_ids[np.argmin(predicted)])
    assert (
        _click_rate(brain, persona, prepared, [best])
        > _click_rate(brain, persona, prepared, [worst]) + 0.2
    )


def test_ratings_are_on_the_scale_and_follow_the_taste(prepared, persona):
    brain = UtilityBrain(prepared.catalog)
    space = ActionSpace(item_ids=(1,), rating_scale=prepared.dataset.rating_scale)
    low = [brain.rate(persona, -2.0, space, d) for d in np.linspace(-2, 2, 21)]
    high = [brain.rate(persona, 2.0, space, d) for d in np.linspace(-2, 2, 21)]
    assert all(space.rating_scale.contains(r) for r in low + high)
    assert np.mean(high) > np.mean(low)


def test_brain_registry_says_the_fix(prepared):
    with pytest.raises(ValueError, match="unknown brain 'llm-please'; choose one of: ") as error:
        make_brain("llm-please", prepared.catalog, UtilityParams())
    named = str(error.value).split("choose one of: ")[1].split(", ")
    assert named == sorted(named) and {"archetype", "hybrid", "llm", "utility"} <= set(named)
