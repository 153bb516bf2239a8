"""Your own interaction logs: the mapping file, the four table formats, and MovieLens through it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from personas.datasets import DatasetError, load_dataset
from personas.datasets.export import write_log
from personas.datasets.mapping import MAPPING_FILE

FORMATS = ("csv", "tsv", "parquet", "jsonl")
OTHER_NAMES = {"user": "customer", "item": "sku", "time": "when", "rating": "score"}


@pytest.fixture(scope="module")
def bundled():  # type: ignore[no-untyped-def]
    return load_dataset("ml-latest-small")


@pytest.mark.parametrize("fmt", FORMATS)
def test_movielens_written_as_a_log_reads_back_the_same(bundled, tmp_path, fmt):
    folder = write_log(bundled, tmp_path / fmt, fmt, columns=OTHER_NAMES)
    again = load_dataset(folder)
    assert again.format == "log" and again.name == bundled.name
    for frame in ("items", "ratings", "users"):
        assert_frame_equal(getattr(again, frame), getattr(bundled, frame))
    assert again.genres == bundled.genres and again.rating_scale == bundled.rating_scale
    assert again.content_sha256 == bundled.content_sha256
    assert again.sha256 != bundled.sha256  # other files: the manifest still tells them apart


def _log(folder: Path, mapping: dict[str, Any], files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return folder


def _podcasts() -> tuple[dict[str, Any], dict[str, str]]:
    mapping = {
        "version": 1,
        "name": "pods",
        "interactions": {
            "file": "listens.csv",
            "user": "listener",
            "item": "episode",
            "time": {"column": "at", "unit": "iso"},
            "rating": {"column": "stars", "low": 1, "high": 5, "step": 1},
        },
        "items": {
            "file": "episodes.jsonl",
            "item": "id",
            "title": "name",
            "categories": {"column": "topics"},
        },
        "words": {"item": "episode", "items": "episodes", "consume": "listen to",
                  "consumed": "listened to"},
    }  # fmt: skip
    listens = (
        "listener,episode,at,stars\n"
        "ann,e1,2024-01-01T10:00:00Z,4\n"
        "ann,e2,2024-01-02T10:00:00,5\n"
        "bob,e1,2024-01-03 11:00:00+01:00,2\n"
    )
    episodes = "".join(
        json.dumps(row) + "\n"
        for row in (
            {"id": "e1", "name": "Deep sea", "topics": ["science", "nature", "science"]},
            {"id": "e2", "name": "Markets", "topics": ["economics"]},
            {"id": "e3", "name": "Unheard", "topics": []},
        )
    )
    return mapping, {"listens.csv": listens, "episodes.jsonl": episodes}


def test_string_ids_times_categories_and_words_come_from_the_data(tmp_path):
    mapping, files = _podcasts()
    ds = load_dataset(_log(tmp_path / "pods", mapping, files))
    assert ds.keys["user"]["key"].to_list() == ["ann", "bob"]
    assert ds.keys["item"]["key"].to_list() == ["e1", "e2", "e3"]
    # ISO times: Z, no zone (read as UTC) and an offset all become unix seconds.
    assert ds.ratings["timestamp"].to_list() == [1704103200, 1704189600, 1704276000]
    assert ds.items["genres"].to_list() == [["science", "nature"], ["economics"], []]
    assert ds.genres == ("economics", "nature", "science")
    assert (ds.words.item, ds.words.consumed) == ("episode", "listened to")
    assert ds.users["age"].null_count() == ds.users.height  # no user table: no demographics


def test_a_mapping_file_elsewhere_reads_tables_under_simfolk_data(tmp_path, monkeypatch):
    mapping, files = _podcasts()
    _log(tmp_path / "root" / "pods", mapping, files)
    (tmp_path / "root" / "pods" / MAPPING_FILE).unlink()
    elsewhere = tmp_path / "scenarios" / "pods.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(yaml.safe_dump(mapping | {"folder": "${SIMFOLK_DATA}/pods"}))
    monkeypatch.setenv("SIMFOLK_DATA", str(tmp_path / "root"))
    assert load_dataset(str(elsewhere)).ratings.height == 3
    monkeypatch.delenv("SIMFOLK_DATA")
    with pytest.raises(DatasetError, match=r"pods\.yaml, key folder: .*SIMFOLK_DATA.*not set"):
        load_dataset(str(elsewhere))


def _edit(mapping: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    edited = json.loads(json.dumps(mapping))
    *parents, last = dotted.split(".")
    node = edited
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return edited


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("version", 2, r"key version: Input should be 1"),
        ("interactions.user", None, r"key interactions\.user: Field required"),
        ("interactions.colour", "x", r"key interactions\.colour: Extra inputs"),
        ("interactions.time.unit", "days", r"key interactions\.time\.unit: Input should be"),
        ("interactions.rating.high", 0, r"key interactions\.rating: .*high \(0\) must be above"),
        ("interactions.file", "listens.xlsx", r"key interactions\.file: cannot tell the format"),
        ("interactions.file", "../listens.csv", r"must be a file in the data folder"),
        ("interactions.weight", {"column": "stars"}, r"key interactions: .*rating .* or weight"),
        ("interactions.weight", {"col": "n"}, r"key interactions\.weight\.column: Field required"),
        ("items.categories.vocabulary", ["a", "a"], r"vocabulary lists a category twice"),
    ],
)
def test_a_bad_mapping_names_the_file_the_key_and_the_reason(tmp_path, dotted, value, message):
    mapping, files = _podcasts()
    folder = _log(tmp_path / "pods", _edit(mapping, dotted, value), files)
    with pytest.raises(DatasetError, match=message) as caught:
        load_dataset(folder)
    assert str(folder / MAPPING_FILE) in str(caught.value)


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("listens.csv", ("stars", "starz"), r"no column 'stars' \(the mapping's interactions\.rat"),
        ("listens.csv", (",4\n", ",4.5\n"), r"row 1, column 'stars': rating 4.5 is not on"),
        ("listens.csv", (",5\n", ",five\n"), r"row 2, column 'stars': not a number: 'five'"),
        ("listens.csv", ("2024-01-02T10", "yesterday"), r"row 2, column 'at': not an ISO 8601"),
        ("listens.csv", ("bob,", " ,"), r"row 3, column 'listener': an id is empty"),
        ("listens.csv", ("bob,e1", "bob,e9"), r"listens\.csv, row 3: item 'e9' is not in"),
        ("episodes.jsonl", ('"e3"', '"e2"'), r"episodes\.jsonl, row 3: duplicate item_id"),
        ("episodes.jsonl", ("{", "[", ), r"episodes\.jsonl: not a valid JSONL file"),
    ],
)  # fmt: skip
def test_a_bad_table_names_the_file_the_row_the_column_and_the_reason(
    tmp_path, file, edit, message
):
    mapping, files = _podcasts()
    files[file] = files[file].replace(*edit, 1)
    with pytest.raises(DatasetError, match=message):
        load_dataset(_log(tmp_path / "pods", mapping, files))


def test_milliseconds_and_text_categories_need_saying_so(tmp_path):
    mapping, files = _podcasts()
    files["listens.csv"] = "listener,episode,at,stars\nann,e1,1704103200000,4\n"
    timed = _edit(mapping, "interactions.time", {"column": "at", "unit": "seconds"})
    with pytest.raises(DatasetError, match=r"after the year 2100.*unit: milliseconds"):
        load_dataset(_log(tmp_path / "a", timed, files))
    timed = _edit(mapping, "interactions.time", {"column": "at", "unit": "milliseconds"})
    assert load_dataset(_log(tmp_path / "b", timed, files)).ratings["timestamp"][0] == 1704103200
    files["episodes.csv"] = "id,name,topics\ne1,Deep sea,science|nature\n"
    texts = _edit(timed, "items.file", "episodes.csv")
    with pytest.raises(DatasetError, match=r"column 'topics': categories are text here"):
        load_dataset(_log(tmp_path / "c", texts, files))
    split = _edit(texts, "items.categories.separator", "|")
    assert load_dataset(_log(tmp_path / "d", split, files)).genres == ("nature", "science")
    fixed = _edit(split, "items.categories.vocabulary", ["science"])
    with pytest.raises(DatasetError, match=r"row 1, column 'topics': category 'nature' is not in"):
        load_dataset(_log(tmp_path / "e", fixed, files))


def test_a_headerless_latin1_tsv_is_read_by_the_names_given(tmp_path):
    mapping, files = _podcasts()
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "plays.dat").write_bytes("caf\xe9\te1\t1704103200\t3\n".encode("latin-1"))
    table = {"file": "plays.dat", "format": "tsv", "header": False, "encoding": "latin-1"}
    table |= {"names": ["who", "what", "when", "stars"], "quote": None, "user": "who"}
    table |= {"item": "what", "time": {"column": "when", "unit": "seconds"}}
    table |= {"rating": mapping["interactions"]["rating"]}
    ds = load_dataset(_log(tmp_path / "t", mapping | {"interactions": table}, files))
    assert ds.keys["user"]["key"].to_list() == ["café"]
    del table["names"]
    with pytest.raises(DatasetError, match=r"key interactions: .*needs names"):
        load_dataset(_log(tmp_path / "t", mapping | {"interactions": table}, files))


@pytest.mark.skipif(not os.environ.get("SIMFOLK_DATA"), reason="needs SIMFOLK_DATA (ml-100k)")
def test_ml100k_as_a_log_gives_byte_identical_personas_and_events(tmp_path, monkeypatch):
    from simulator import RunConfig, simulate

    real = load_dataset("ml-100k")
    # The same name under another root: the config is the same, so only the reader differs.
    write_log(real, tmp_path / "root" / "ml-100k", "csv", columns=OTHER_NAMES)
    config = RunConfig(scenario="t", dataset="ml-100k", personas=25, days=2, seed=4,
                       target="itemknn", taste_dims=8)  # fmt: skip
    runs = {}
    for label, root in (("movielens", os.environ["SIMFOLK_DATA"]), ("log", tmp_path / "root")):
        monkeypatch.setenv("SIMFOLK_DATA", str(root))
        runs[label] = simulate(config, tmp_path / label).run_dir
    manifests = {k: json.loads((v / "manifest.json").read_text()) for k, v in runs.items()}
    assert [m["dataset"]["format"] for m in manifests.values()] == ["ml-100k", "log"]
    same = ["personas.json", "calibration.json", *sorted(
        str(p.relative_to(runs["movielens"])) for p in (runs["movielens"] / "events").iterdir()
    )]  # fmt: skip
    assert len(same) > 3
    for name in same:
        assert (runs["movielens"] / name).read_bytes() == (runs["log"] / name).read_bytes(), name


# -- properties -----------------------------------------------------------------------------------

IDS = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), min_size=1, max_size=8)
    .map(str.strip)
    .filter(bool),
)


@st.composite
def logs(draw: st.DrawFn) -> dict[str, Any]:
    users = draw(st.lists(IDS, min_size=1, max_size=5, unique=True))
    items = draw(st.lists(IDS, min_size=1, max_size=6, unique=True))
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(users),
                st.sampled_from(items),
                st.integers(0, 4_000_000_000),
                st.sampled_from([0.5, 1.0, 2.5, 5.0]),
            ),
            min_size=1,
            max_size=20,
            unique_by=lambda r: (r[0], r[1], r[2]),
        )
    )
    names = draw(
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=4, max_size=4,
                 unique=True)
    )  # fmt: skip
    return {"rows": rows, "names": names, "fmt": draw(st.sampled_from(FORMATS))}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(log={"rows": [("7", "1", 0, 1.0), ("007", "1", 5, 2.5)], "names": ["u", "i", "t", "r"],
              "fmt": "csv"})  # fmt: skip
@given(log=logs())
def test_any_log_reads_back_what_was_written(tmp_path_factory, log):
    folder = tmp_path_factory.mktemp("log")
    user, item, time, rating = log["names"]
    frame = pl.DataFrame(log["rows"], schema=[user, item, time, rating], orient="row")
    frame = frame.with_columns(pl.col(user, item).cast(pl.String))
    fmt = log["fmt"]
    path = folder / f"log.{fmt}"
    if fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_csv(path, separator="\t" if fmt == "tsv" else ",")
    mapping = {
        "version": 1,
        "interactions": {
            "file": path.name, "user": user, "item": item,
            "time": {"column": time, "unit": "seconds"},
            "rating": {"column": rating, "low": 0.5, "high": 5, "step": 0.5},
        },
    }  # fmt: skip
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping), encoding="utf-8")
    ds = load_dataset(folder)

    def key(kind: str, ids: pl.Series) -> list[str]:
        if kind in ds.keys:
            lookup = dict(ds.keys[kind].iter_rows())
            return [lookup[i] for i in ids.to_list()]
        return [str(i) for i in ids.to_list()]

    got = sorted(
        zip(
            key("user", ds.ratings["user_id"]),
            key("item", ds.ratings["item_id"]),
            ds.ratings["timestamp"].to_list(),
            ds.ratings["rating"].to_list(),
            strict=True,
        )
    )
    assert got == sorted(log["rows"])
    assert ds.items.height == len({r[1] for r in log["rows"]})


# -- the domain's words ---------------------------------------------------------------------------

PODCAST_WORDS = {"item": "episode", "items": "episodes", "consume": "listen to",
                 "consumed": "listened to"}  # fmt: skip


def test_the_domains_words_reach_backstories_and_prompts(prepared):
    import dataclasses

    from personas.backstory_prompts import backstory_messages, extract_messages
    from personas.builder import build_personas
    from personas.datasets import FILM_WORDS, Words
    from simulator.prompts import render

    words = Words(**PODCAST_WORDS)
    pods = dataclasses.replace(prepared.dataset, words=words)
    users = prepared.split.train["user_id"].unique().sort()[:2].to_list()
    for dataset, opening in (
        (pods, "I listen to a lot of episodes. I pick episodes "),
        (prepared.dataset, "I watch a lot of movies. I pick movies "),
    ):
        built = build_personas(dataset, prepared.split.train, users, space=prepared.space,
                               split_label="t")  # fmt: skip
        assert all(p.backstory.startswith(opening) for p in built), built[0].backstory
    asked = backstory_messages(built[0], prepared.dataset.genres, words=words)[1]["content"]
    assert "episodes" in asked and "movie" not in asked and "film" not in asked
    messages = extract_messages("A story.", ["news"], words)
    assert "episode habits" in messages[0]["content"]
    assert "how many episodes the narrator says they listen to" in messages[1]["content"]

    system = render("decide_system", backstory="b", likes="l", dislikes="d", usual=3, words=words)
    assert "browsing a episode site" in system
    page = render("decide_page", memories=[], page=0, clicks=2, items=["1: x"], priors=True,
                  rate=True, words=words)  # fmt: skip
    assert "you have listened to 2 so far" in page and 'Pick one id to listen to, or "none"' in page
    listed = render("list_task", items=["1: x"], priors=False, words=FILM_WORDS)
    assert listed.startswith("Here are 1 movies:") and "Which of them would you watch?" in listed
    assert "You have listened to these episodes:" in render("rate_items", items=[], words=words)


def test_the_own_log_scenario_runs_on_a_log_of_string_ids_and_milliseconds(tmp_path):
    from simulator.scenario import load_scenario

    module = load_scenario(str(Path(__file__).parents[1] / "scenarios" / "own_log.py"))
    config = module.CONFIG.model_copy(update={"personas": 6, "days": 1})
    result = module.run(config, tmp_path / "run")
    assert result.complete and result.events > 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["dataset"]["format"] == "log" and manifest["dataset"]["name"] == "listens"
    personas = json.loads((tmp_path / "run" / "personas.json").read_text())["personas"]
    assert all(p["backstory"].startswith("I listen to a lot of episodes.") for p in personas)
    from typer.testing import CliRunner

    from simulator.cli import app

    compared = CliRunner().invoke(app, ["compare", str(tmp_path / "run"), "--json"])
    assert compared.exit_code == 0, compared.output
    assert {row["metric"] for row in json.loads(compared.output)["rows"]} >= {"rating"}


def _parquet_log(folder: Path, frame: pl.DataFrame, unit: str = "seconds") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / "log.parquet")
    mapping = {
        "version": 1,
        "interactions": {
            "file": "log.parquet", "user": "u", "item": "i",
            "time": {"column": "t", "unit": unit},
            "rating": {"column": "r", "low": 1, "high": 5, "step": 1},
        },
    }  # fmt: skip
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return folder


def test_parquet_as_pandas_writes_it_datetimes_and_float_ids(tmp_path):
    from datetime import datetime

    # A naive datetime column (read as UTC), and ids stored as floats because one is missing.
    frame = pl.DataFrame(
        {
            "u": [1.0, 2.0, 2.0],
            "i": [10.0, 10.0, 11.0],
            "t": [datetime(2024, 5, 1, 10), datetime(2024, 5, 2), datetime(2024, 5, 3)],  # noqa: DTZ001
            "r": [4.0, 5.0, 3.0],
        }
    )
    ds = load_dataset(_parquet_log(tmp_path / "a", frame, unit="iso"))
    assert ds.keys == {} and ds.ratings["user_id"].to_list() == [1, 2, 2]
    assert ds.ratings["timestamp"][0] == 1714557600
    listed = frame.with_columns(pl.col("u").cast(pl.Int64).cast(pl.String).map_elements(
        lambda u: [u], return_dtype=pl.List(pl.String)))  # fmt: skip
    with pytest.raises(DatasetError, match=r"log\.parquet, column 'u': holds lists"):
        load_dataset(_parquet_log(tmp_path / "b", listed, unit="iso"))


@pytest.mark.parametrize(
    ("rating", "message"),
    [
        ({"low": 1, "high": 5, "step": 3}, r"step \(3\) must divide high - low \(4\)"),
        ({"low": float("nan"), "high": 5, "step": 1}, r"interactions\.rating\.low: .*finite"),
        ({"low": 1, "high": float("inf"), "step": 1}, r"interactions\.rating\.high: .*finite"),
    ],
)
def test_a_rating_scale_must_be_finite_and_whole(tmp_path, rating, message):
    mapping, files = _podcasts()
    bad = _edit(mapping, "interactions.rating", {"column": "stars", **rating})
    with pytest.raises(DatasetError, match=message):
        load_dataset(_log(tmp_path / "pods", bad, files))


def test_a_string_id_log_written_out_keeps_its_ids(tmp_path):
    mapping, files = _podcasts()
    ds = load_dataset(_log(tmp_path / "pods", mapping, files))
    again = load_dataset(write_log(ds, tmp_path / "out", "csv"))
    assert again.keys["user"]["key"].to_list() == ["ann", "bob"]
    assert again.content_sha256 == ds.content_sha256


def test_simfolk_data_in_folder_must_end_a_path_part(tmp_path, monkeypatch):
    mapping, files = _podcasts()
    monkeypatch.setenv("SIMFOLK_DATA", str(tmp_path))
    folder = _log(tmp_path / "pods", mapping | {"folder": "${SIMFOLK_DATA}-old"}, files)
    with pytest.raises(DatasetError, match=r"key folder: \$\{SIMFOLK_DATA\} must be followed by /"):
        load_dataset(folder)
