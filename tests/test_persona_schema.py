"""The Persona record: frozen, closed to unknown fields, and validated field by field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from personas.schema import Persona


def valid_persona(**provenance: Any) -> dict[str, Any]:
    """A plain dict that validates as a Persona; tests mutate one field of a fresh copy."""
    return {
        "id": "hand-1",
        "demographics": {"age": 30, "gender": "F", "occupation": "writer"},
        "big_five": {
            "openness": 0.5,
            "conscientiousness": 0.5,
            "extraversion": 0.5,
            "agreeableness": 0.5,
            "neuroticism": 0.5,
        },
        "traits": {
            "sessions_per_day": 1.5,
            "items_per_session": 3.0,
            "conformity": 0.4,
            "diversity": 0.6,
            "patience": 0.7,
        },
        "taste": {
            "genre_affinity": {"Drama": 0.3, "Comedy": -0.2},
            "factors": [0.1, -0.2, 0.3],
            "factor_space": "svd3:abc",
        },
        "rating": {"mean": 3.6, "bias": 0.1, "spread": 0.9},
        "goals": ["find a comedy for tonight"],
        "backstory": "I watch films on Sundays.",
        "provenance": provenance or {"source": "hand"},
    }


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        record = record[key]
    record[last] = value


def test_the_helper_builds_a_valid_persona() -> None:
    persona = Persona.model_validate(valid_persona())
    assert persona.id == "hand-1"
    assert persona.traits.conformity == 0.4
    assert persona.taste.factors == (0.1, -0.2, 0.3)
    assert persona.goals == ("find a comedy for tonight",)


def test_record_is_frozen() -> None:
    persona = Persona.model_validate(valid_persona())
    with pytest.raises(ValidationError, match="frozen"):
        persona.id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        persona.traits.conformity = 0.9  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        persona.provenance.user_id = 3  # type: ignore[misc]
    assert persona.id == "hand-1"
    assert persona.traits.conformity == 0.4


@pytest.mark.parametrize(
    "path",
    ["nickname", "traits.mood", "taste.colour", "rating.scale", "provenance.url", "demographics.x"],
)
def test_unknown_fields_are_rejected(path: str) -> None:
    record = valid_persona()
    set_path(record, path, 1)
    with pytest.raises(ValidationError) as info:
        Persona.model_validate(record)
    errors = info.value.errors()
    assert [e["type"] for e in errors] == ["extra_forbidden"]
    assert errors[0]["loc"] == tuple(path.split("."))


# (field path, bad value, loc of the error, words the error must contain)
BAD_FIELDS: list[tuple[str, Any, tuple[str, ...], tuple[str, ...]]] = [
    ("traits.conformity", 1.01, ("traits", "conformity"), ("traits.conformity",)),
    ("traits.conformity", -0.1, ("traits", "conformity"), ("traits.conformity",)),
    ("traits.diversity", 2.0, ("traits", "diversity"), ("traits.diversity",)),
    ("traits.patience", -0.5, ("traits", "patience"), ("traits.patience",)),
    ("traits.sessions_per_day", 0.0, ("traits", "sessions_per_day"), ("sessions_per_day",)),
    ("traits.sessions_per_day", -1.0, ("traits", "sessions_per_day"), ("sessions_per_day",)),
    ("traits.sessions_per_day", 49.0, ("traits", "sessions_per_day"), ("sessions_per_day",)),
    ("traits.items_per_session", 0.99, ("traits", "items_per_session"), ("items_per_session",)),
    ("traits.items_per_session", 0.0, ("traits", "items_per_session"), ("items_per_session",)),
    ("rating.spread", -0.5, ("rating", "spread"), ("rating.spread",)),
    ("rating.spread", 0.0, ("rating", "spread"), ("rating.spread",)),
    ("big_five.openness", 1.5, ("big_five", "openness"), ("big_five.openness",)),
    ("demographics.age", -1, ("demographics", "age"), ("demographics.age",)),
    ("demographics.age", 121, ("demographics", "age"), ("demographics.age",)),
    ("id", "has space", ("id",), ("id",)),
    ("id", "", ("id",), ("id",)),
    ("id", "-leading-dash", ("id",), ("id",)),
    ("id", "slash/inside", ("id",), ("id",)),
    ("id", "trailing-newline\n", ("id",), ("id",)),
    ("id", "x" * 129, ("id",), ("id",)),
    ("goals", ["ok", "   "], ("goals",), ("goals",)),
    ("taste.factor_space", None, ("taste",), ("factor_space",)),
    ("taste.factor_space", "", ("taste",), ("factor_space",)),
    ("taste.factors", [0.1, float("nan")], ("taste", "factors", 1), ("factors", "finite")),
    ("taste.factors", [float("inf")], ("taste", "factors", 0), ("factors", "finite")),
    ("rating.mean", float("nan"), ("rating", "mean"), ("mean", "finite")),
    (
        "taste.genre_affinity",
        {"Drama": float("inf")},
        ("taste", "genre_affinity", "Drama"),
        ("finite",),
    ),
    ("provenance", {"source": "dataset", "dataset": "ml-100k"}, ("provenance",), ("user_id",)),
    ("provenance", {"source": "dataset", "user_id": 1}, ("provenance",), ("dataset",)),
    ("provenance", {"source": "sampler", "sampler": "gauss"}, ("provenance",), ("seed",)),
    ("provenance", {"source": "sampler", "seed": 3}, ("provenance",), ("sampler",)),
    ("provenance", {"source": "scraped"}, ("provenance", "source"), ("provenance.source",)),
    ("provenance", {"source": "hand", "n_train": -1}, ("provenance", "n_train"), ("n_train",)),
]


@pytest.mark.parametrize(
    ("path", "value", "loc", "words"),
    BAD_FIELDS,
    ids=[f"{p}={v!r}"[:40] for p, v, _, _ in BAD_FIELDS],
)
def test_bad_field_raises_naming_it(
    path: str, value: Any, loc: tuple[str, ...], words: tuple[str, ...]
) -> None:
    record = valid_persona()
    set_path(record, path, copy.deepcopy(value))
    with pytest.raises(ValidationError) as info:
        Persona.model_validate(record)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    assert errors[0]["loc"] == loc
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("traits.conformity", 1.0),
        ("traits.conformity", 0.0),
        ("traits.sessions_per_day", 48.0),
        ("traits.items_per_session", 1.0),
        ("demographics.age", 0),
        ("demographics.age", 120),
        ("id", "a"),
        ("id", "ml-100k:user_7.v2"),
        ("id", "x" * 128),
        ("taste.factors", []),
        ("big_five", None),
    ],
)
def test_boundary_values_are_accepted(path: str, value: Any) -> None:
    record = valid_persona()
    set_path(record, path, value)
    Persona.model_validate(record)


def test_factors_without_space_are_fine_when_empty() -> None:
    record = valid_persona()
    record["taste"] = {"genre_affinity": {}, "factors": [], "factor_space": None}
    assert Persona.model_validate(record).taste.factors == ()


@pytest.mark.parametrize(
    ("provenance", "expected"),
    [
        ({"source": "dataset", "dataset": "ml-100k", "user_id": 42}, "42"),
        ({"source": "dataset", "dataset": "ml-100k", "user_id": 0}, "0"),
        ({"source": "sampler", "sampler": "gauss", "seed": 7}, "someone-9"),
        ({"source": "hand"}, "someone-9"),
    ],
)
def test_target_user(provenance: dict[str, Any], expected: str) -> None:
    record = valid_persona(**provenance)
    record["id"] = "someone-9"
    assert Persona.model_validate(record).target_user == expected
