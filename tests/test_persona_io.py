"""Persona files: YAML/JSON round trips, and errors naming file, field and reason."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from personas.io import PersonaFileError, load_personas, save_personas
from personas.schema import ITEMS_PER_SESSION_MAX, PERSONA_SCHEMA_VERSION, Persona

# ---------------------------------------------------------------------------
# Strategies for valid persona records


def unit() -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0, allow_nan=False)


def finite(low: float | None = None, high: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}", fullmatch=True)
words = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() != "")

demographics = st.fixed_dictionaries(
    {},
    optional={
        "age": st.none() | st.integers(0, 120),
        "gender": st.none() | st.text(max_size=10),
        "occupation": st.none() | st.text(max_size=20),
    },
)
big_five = st.none() | st.fixed_dictionaries(
    {
        k: unit()
        for k in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
    }
)
traits = st.fixed_dictionaries(
    {
        "sessions_per_day": st.floats(0.0, 48.0, exclude_min=True, allow_nan=False),
        "items_per_session": finite(1.0, ITEMS_PER_SESSION_MAX),
        "conformity": unit(),
        "diversity": unit(),
        "patience": unit(),
    }
)
factors = st.lists(finite(-1e3, 1e3), max_size=8)


@st.composite
def tastes(draw: st.DrawFn) -> dict[str, Any]:
    drawn = draw(factors)
    # Factors need a space to pair with; without factors the space is optional.
    space = draw(ids) if drawn else draw(st.none() | ids)
    affinity = draw(st.dictionaries(st.text(max_size=15), finite(-5.0, 5.0), max_size=6))
    return {"genre_affinity": affinity, "factors": drawn, "factor_space": space}


rating = st.fixed_dictionaries(
    {
        "mean": finite(-10.0, 10.0),
        "bias": finite(-10.0, 10.0),
        "spread": st.floats(0.0, 10.0, exclude_min=True, allow_nan=False),
    }
)
provenance = st.one_of(
    st.fixed_dictionaries(
        {
            "source": st.just("dataset"),
            "dataset": st.sampled_from(["ml-100k", "ml-latest-small"]),
            "user_id": st.integers(0, 10**6),
        },
        optional={
            "dataset_sha256": st.text("0123456789abcdef", min_size=64, max_size=64),
            "split": st.text(max_size=30),
            "n_train": st.integers(0, 10**5),
            "train_until": st.integers(0, 2**31),
        },
    ),
    st.fixed_dictionaries(
        {"source": st.just("sampler"), "sampler": words, "seed": st.integers(-(2**63), 2**63)}
    ),
    st.fixed_dictionaries({"source": st.just("hand")}),
)


persona_records = st.fixed_dictionaries(
    {
        "id": ids,
        "traits": traits,
        "taste": tastes(),
        "rating": rating,
        "provenance": provenance,
    },
    optional={
        "demographics": demographics,
        "big_five": big_five,
        "goals": st.lists(words, max_size=3),
        "speaking_style": st.none() | st.text(max_size=30),
        "backstory": st.text(max_size=200),
    },
)
persona_lists = st.lists(persona_records, max_size=4, unique_by=lambda r: r["id"]).map(
    lambda records: [Persona.model_validate(r) for r in records]
)


@settings(max_examples=30, deadline=None)
@given(personas=persona_lists, suffix=st.sampled_from([".yaml", ".yml", ".json"]))
def test_round_trip(personas: list[Persona], suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"people{suffix}"
        assert save_personas(personas, path) == path
        loaded = load_personas(path)
        assert loaded == personas
        assert [p.model_dump() for p in loaded] == [p.model_dump() for p in personas]
        # Saving what was loaded gives the same bytes: the format is stable.
        first = path.read_bytes()
        save_personas(loaded, path)
        assert path.read_bytes() == first
        assert sorted(p.name for p in Path(tmp).iterdir()) == [path.name]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_of_a_rich_persona(tmp_path: Path, suffix: str) -> None:
    person = Persona.model_validate(
        record(
            "u-1",
            backstory="Ich schaue gern Filme. 映画\n\t»ok« \u2028 ~ null: yes",
            goals=["no", "1.0", "- dash", "#hash", "1e5"],
            # "0E0" is a number to the loader (YAML 1.2), so the dumper must quote it
            taste={
                "genre_affinity": {
                    "Sci-Fi": -0.0,
                    "ünï": 1e-300,
                    "null": 5e-324,
                    "": 2.0,
                    "0E0": 1.0,
                }
            },
        )
    )
    path = save_personas([person, Persona.model_validate(record("p2"))], tmp_path / f"x{suffix}")
    assert load_personas(path) == [person, Persona.model_validate(record("p2"))]


# ---------------------------------------------------------------------------
# Files written by hand, and the errors they raise


def record(persona_id: str = "p1", **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": persona_id,
        "traits": {
            "sessions_per_day": 1.0,
            "items_per_session": 2.0,
            "conformity": 0.5,
            "diversity": 0.5,
            "patience": 0.5,
        },
        "taste": {"genre_affinity": {"Drama": 0.2}},
        "rating": {"mean": 3.5, "bias": 0.0, "spread": 1.0},
        "provenance": {"source": "hand"},
    }
    out.update(overrides)
    return out


def write_yaml(path: Path, payload: Any) -> Path:
    path.write_text(yaml.safe_dump(payload, sort_keys=False), encoding="utf-8")
    return path


def write_json(path: Path, payload: Any) -> Path:
    path.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(PersonaFileError) as info:
        load_personas(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_bare_list_and_versioned_file_load_the_same(tmp_path: Path) -> None:
    records = [record("a"), record("b")]
    bare = load_personas(write_yaml(tmp_path / "bare.yaml", records))
    versioned = load_personas(
        write_json(tmp_path / "v.json", {"schema_version": 1, "personas": records})
    )
    assert [p.id for p in bare] == ["a", "b"]
    assert bare == versioned


def test_bad_value_in_second_persona_names_file_field_and_reason(tmp_path: Path) -> None:
    bad = record("p2")
    bad["traits"]["conformity"] = 1.5
    path = write_yaml(tmp_path / "people.yaml", {"schema_version": 1, "personas": [record(), bad]})
    message = load_error(path)
    assert "personas[1].traits.conformity" in message
    assert "less than or equal to 1" in message


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        (lambda r: r["rating"].pop("spread"), "personas[1].rating.spread", "required"),
        (lambda r: r.update(mood="sunny"), "personas[1].mood", "not permitted"),
        (lambda r: r["taste"].update(factors=[1.0]), "personas[1].taste", "factor_space"),
        (
            lambda r: r["taste"]["genre_affinity"].update(Drama="lots"),
            "personas[1].taste.genre_affinity.Drama",
            "valid number",
        ),
        (lambda r: r.update(goals=["", "x"]), "personas[1].goals", "blank"),
    ],
)
def test_more_bad_values_in_json(tmp_path: Path, mutate: Any, field: str, reason: str) -> None:
    bad = record("p2")
    mutate(bad)
    path = write_json(tmp_path / "people.json", {"personas": [record(), bad]})
    message = load_error(path)
    assert f": {field}: " in message
    assert reason in message


@pytest.mark.parametrize(
    ("mutate", "field", "reason"),
    [
        # Strict: a string or a boolean is not taken for a number, a float not for an id.
        (lambda r: r["traits"].update(sessions_per_day="5"), "traits.sessions_per_day", "number"),
        (lambda r: r["traits"].update(conformity=True), "traits.conformity", "number"),
        (lambda r: r["rating"].update(mean="3.5"), "rating.mean", "number"),
        (
            lambda r: r.update(provenance={"source": "dataset", "dataset": "d", "user_id": 7.0}),
            "provenance.user_id",
            "integer",
        ),
        # Bounds: 64-bit ids, a sitting of at most ITEMS_PER_SESSION_MAX items.
        (
            lambda r: r.update(provenance={"source": "dataset", "dataset": "d", "user_id": 2**70}),
            "provenance.user_id",
            "less than or equal",
        ),
        (lambda r: r["traits"].update(items_per_session=1e308), "traits.items_per_session", "less"),
    ],
)
def test_types_are_strict_and_values_bounded(
    tmp_path: Path, mutate: Any, field: str, reason: str
) -> None:
    bad = record("p2")
    mutate(bad)
    for path in (
        write_json(tmp_path / "people.json", {"personas": [record(), bad]}),
        write_yaml(tmp_path / "people.yaml", {"personas": [record(), bad]}),
    ):
        message = load_error(path)
        assert f": personas[1].{field}: " in message and reason in message


def test_whole_numbers_still_load_as_floats(tmp_path: Path) -> None:
    good = record("p2")
    good["traits"]["sessions_per_day"] = 2
    assert load_personas(write_json(tmp_path / "p.json", [good]))[0].traits.sessions_per_day == 2.0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "line 1: not UTF-8 text"),
        ("[{'id': 'caf\u00e9'}]".encode("latin-1"), "line 1: not UTF-8 text"),
        (b'{"personas": []}\x00', "NUL bytes"),
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 32 deep"),
    ],
)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_file_that_is_not_text_or_nests_too_deep_is_named(
    tmp_path: Path, content: bytes, reason: str, suffix: str
) -> None:
    path = tmp_path / f"people{suffix}"
    path.write_bytes(content)
    assert reason in load_error(path)


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "uses YAML aliases" in load_error(path)


def test_a_yaml_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    bad = record()
    bad["rating"]["bias"] = float("nan")
    write_yaml(path, [bad])
    assert "personas[0]: a value is not a finite number" in load_error(path)


def test_record_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "people.yaml", {"personas": [record(), "just a name"]})
    message = load_error(path)
    assert ": personas[1]: " in message


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("schema_version: 1\npersonas:\n  - id: p1\n   traits: [\n", encoding="utf-8")
    message = load_error(path)
    assert "not valid YAML" in message
    assert "line 4" in message


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n "schema_version": 1,\n "personas": [,]\n}\n', encoding="utf-8")
    message = load_error(path)
    assert "line 3" in message
    assert "not valid JSON" in message


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_schema_version(tmp_path: Path, version: Any) -> None:
    path = write_yaml(tmp_path / "v.yaml", {"schema_version": version, "personas": [record()]})
    message = load_error(path)
    assert "schema_version" in message
    assert repr(version) in message
    assert f"version {PERSONA_SCHEMA_VERSION}" in message


@pytest.mark.parametrize(
    "payload",
    [
        {"schema_version": 1, "personas": {"p1": record()}},
        {"schema_version": 1, "personas": "p1"},
        {"schema_version": 1},
        "p1",
        None,
    ],
)
def test_personas_not_a_list(tmp_path: Path, payload: Any) -> None:
    path = write_yaml(tmp_path / "people.yaml", payload)
    message = load_error(path)
    assert "personas" in message
    assert "expected a list" in message


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write_json(tmp_path / "dup.json", [record("a"), record("b"), record("a")])
    message = load_error(path)
    assert "duplicate id 'a'" in message


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "people.txt"
    path.write_text(json.dumps([record()]), encoding="utf-8")
    message = load_error(path)
    assert ".yaml" in message
    assert ".json" in message


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nowhere.yaml")
    assert "no such persona file" in message


def test_a_folder_is_not_a_persona_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert "no such persona file" in load_error(folder)


# ---------------------------------------------------------------------------
# Saving


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_is_atomic_and_replaces_the_old_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"people{suffix}"
    save_personas([Persona.model_validate(record("old"))], path)
    save_personas(
        [Persona.model_validate(record("new1")), Persona.model_validate(record("new2"))], path
    )
    assert [p.id for p in load_personas(path)] == ["new1", "new2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_saved_file_carries_the_schema_version(tmp_path: Path) -> None:
    path = save_personas([Persona.model_validate(record())], tmp_path / "people.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == PERSONA_SCHEMA_VERSION
    assert [p["id"] for p in data["personas"]] == ["p1"]


def test_save_with_unknown_suffix_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "people.txt"
    with pytest.raises(PersonaFileError) as info:
        save_personas([Persona.model_validate(record())], path)
    assert str(path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_yaml_exponent_floats_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump([record()]).replace("conformity: 0.5", "conformity: 1e-3"))
    assert load_personas(path)[0].traits.conformity == 0.001
