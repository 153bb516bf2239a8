"""MovieLens readers, name resolution and the bundled ml-latest-small."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from personas.datasets import (
    Dataset,
    DatasetError,
    RatingScale,
    data_root,
    known_datasets,
    load_dataset,
)

GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
GENRES_1M = GENRES_100K[1:]
GENRES_LATEST = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
AGES_1M = (1, 18, 25, 35, 45, 50, 56)
OCCUPATIONS_1M = (
    "other or not specified",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
)
FORMATS = ("ml-100k", "ml-1m", "ml-latest")
YEAR = re.compile(r"\(([0-9]{4})\)\s*$")


# ---------------------------------------------------------------------------
# A dataset as plain Python values, and writers for each format


@dataclass
class Item:
    item_id: int
    title: str  # as written, maybe with surrounding whitespace
    release: str  # ml-100k release date, e.g. "01-Jan-1995" or ""
    genres: tuple[str, ...]  # in vocabulary order


@dataclass
class User:
    user_id: int
    age: int  # ml-100k: years; ml-1m: an age code
    gender: str
    occupation: str  # ml-100k: a name; ml-1m: the code as a string


@dataclass
class Raw:
    fmt: str
    items: list[Item]
    users: list[User]
    ratings: list[tuple[int, int, float, int]]
    genre_file: bool = True  # ml-100k: write u.genre


def write(raw: Raw, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if raw.fmt == "ml-100k":
        _write_100k(raw, folder)
    elif raw.fmt == "ml-1m":
        _write_1m(raw, folder)
    else:
        _write_latest(raw, folder)
    return folder


def _write_100k(raw: Raw, folder: Path) -> None:
    lines = []
    for it in raw.items:
        flags = [
            "1" if g in it.genres or (g == "unknown" and not it.genres) else "0"
            for g in GENRES_100K
        ]
        url = "http://us.imdb.com/M/title-exact?x"
        lines.append("|".join([str(it.item_id), it.title, it.release, "", url, *flags]))
    _put(folder / "u.item", lines, "latin-1")
    _put(
        folder / "u.user",
        [f"{u.user_id}|{u.age}|{u.gender}|{u.occupation}|0{u.user_id}" for u in raw.users],
        "latin-1",
    )
    _put(folder / "u.data", [f"{u}\t{i}\t{int(r)}\t{t}" for u, i, r, t in raw.ratings], "latin-1")
    if raw.genre_file:
        genre_lines = [f"{g}|{k}" for k, g in enumerate(GENRES_100K)]
        _put(folder / "u.genre", [*genre_lines, ""], "latin-1")


def _write_1m(raw: Raw, folder: Path) -> None:
    _put(
        folder / "movies.dat",
        [f"{it.item_id}::{it.title}::{'|'.join(it.genres)}" for it in raw.items],
        "latin-1",
    )
    _put(
        folder / "users.dat",
        [f"{u.user_id}::{u.gender}::{u.age}::{u.occupation}::55455" for u in raw.users],
        "latin-1",
    )
    _put(
        folder / "ratings.dat",
        [f"{u}::{i}::{int(r)}::{t}" for u, i, r, t in raw.ratings],
        "latin-1",
    )


def _write_latest(raw: Raw, folder: Path) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["movieId", "title", "genres"])
    for it in raw.items:
        writer.writerow([it.item_id, it.title, "|".join(it.genres) or "(no genres listed)"])
    (folder / "movies.csv").write_bytes(buf.getvalue().encode("utf-8"))
    _put(
        folder / "ratings.csv",
        ["userId,movieId,rating,timestamp", *(f"{u},{i},{r},{t}" for u, i, r, t in raw.ratings)],
        "utf-8",
    )


def _put(path: Path, lines: list[str], encoding: str) -> None:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))


# ---------------------------------------------------------------------------
# What loading a Raw must give


def expected_items(raw: Raw) -> pl.DataFrame:
    rows = []
    for it in raw.items:
        title = it.title.strip()
        match = YEAR.search(title)
        year = int(match.group(1)) if match else None
        if year is None and raw.fmt == "ml-100k" and it.release:
            year = int(it.release[-4:])
        rows.append((it.item_id, title, year, list(it.genres)))
    return pl.DataFrame(
        rows,
        schema={
            "item_id": pl.Int64,
            "title": pl.String,
            "year": pl.Int32,
            "genres": pl.List(pl.String),
        },
        orient="row",
    ).sort("item_id")


def expected_ratings(raw: Raw) -> pl.DataFrame:
    return pl.DataFrame(
        raw.ratings,
        schema={
            "user_id": pl.Int64,
            "item_id": pl.Int64,
            "rating": pl.Float64,
            "timestamp": pl.Int64,
        },
        orient="row",
    )


def expected_users(raw: Raw) -> pl.DataFrame:
    rated = {u for u, _, _, _ in raw.ratings}
    schema = {"user_id": pl.Int64, "age": pl.Int32, "gender": pl.String, "occupation": pl.String}
    rows: list[tuple[int, int | None, str | None, str | None]]
    if raw.fmt == "ml-latest":
        rows = [(u, None, None, None) for u in sorted(rated)]
    else:
        rows = [
            (
                u.user_id,
                u.age,
                u.gender,
                OCCUPATIONS_1M[int(u.occupation)] if raw.fmt == "ml-1m" else u.occupation,
            )
            for u in sorted(raw.users, key=lambda u: u.user_id)
            if u.user_id in rated
        ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def assert_sorted_by(frame: pl.DataFrame, keys: list[str]) -> None:
    assert_frame_equal(frame.select(keys), frame.select(keys).sort(keys))


# ---------------------------------------------------------------------------
# Random datasets

_TITLE_CHARS = st.one_of(
    st.sampled_from(list(",:\"'()| éñÿ")),
    st.characters(codec="latin-1", categories=("L", "N", "P", "S", "Zs")),
)


@st.composite
def raw_datasets(draw: st.DrawFn, fmt: str) -> Raw:
    item_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=8, unique=True))
    user_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=5, unique=True))
    vocab = {"ml-100k": GENRES_100K[1:], "ml-1m": GENRES_1M, "ml-latest": GENRES_LATEST}[fmt]
    items = []
    for item_id in item_ids:
        base = draw(st.text(_TITLE_CHARS, max_size=20))
        if fmt == "ml-100k":
            base = base.replace("|", "/")  # '|' separates u.item's fields
        year = draw(st.none() | st.integers(1000, 2099))
        title = base + (f" ({year})" if year is not None else "")
        title += draw(st.sampled_from(["", " ", "  "]))
        release = draw(st.sampled_from(["", "01-Jan-1995", "27-Jun-1997"]))
        chosen = draw(st.sets(st.sampled_from(vocab), max_size=4))
        genres = tuple(g for g in vocab if g in chosen)
        items.append(Item(item_id, title, release, genres))
    users = []
    for user_id in user_ids:
        if fmt == "ml-1m":
            age = draw(st.sampled_from(AGES_1M))
            occupation = str(draw(st.integers(0, len(OCCUPATIONS_1M) - 1)))
        else:
            age = draw(st.integers(7, 80))
            occupation = draw(st.sampled_from(["writer", "other", "none", "K-12 student"]))
        users.append(User(user_id, age, draw(st.sampled_from("MF")), occupation))
    steps = range(1, 11) if fmt == "ml-latest" else range(2, 11, 2)
    scale = [x / 2 for x in steps]
    rating = st.tuples(
        st.sampled_from(user_ids),
        st.sampled_from(item_ids),
        st.sampled_from(scale),
        st.integers(0, 2**31) | st.sampled_from([0, 1000, 1001]),  # ties are likely
    )
    # Re-ratings of a pair are allowed; the very same row twice is refused (its own test).
    ratings = draw(st.lists(rating, min_size=1, max_size=30, unique=True))
    genre_file = draw(st.booleans())
    return Raw(fmt, items, users, ratings, genre_file)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt: str) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw=raw_datasets(fmt))
    def check(raw: Raw) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            folder = write(raw, Path(tmp) / "data")
            ds = load_dataset(folder)
        assert ds.format == fmt
        assert ds.name == "data"
        assert_frame_equal(ds.items, expected_items(raw))
        assert_sorted_by(ds.ratings, ["user_id", "timestamp", "item_id"])
        # Ties on all three keys may come in any order: compare as multisets.
        everything = ["user_id", "timestamp", "item_id", "rating"]
        assert_frame_equal(ds.ratings.sort(everything), expected_ratings(raw).sort(everything))
        assert_frame_equal(ds.users, expected_users(raw))
        vocab = {"ml-100k": GENRES_1M, "ml-1m": GENRES_1M, "ml-latest": GENRES_LATEST}[fmt]
        assert ds.genres == vocab
        for value in ds.ratings["rating"]:
            assert ds.rating_scale.contains(value)

    check()


# ---------------------------------------------------------------------------
# Malformed input


def small(fmt: str) -> Raw:
    items = [
        Item(1, "Toy Story (1995)", "01-Jan-1995", ("Animation", "Comedy")),
        Item(2, "Misérables, Les (1995)", "01-Jan-1995", ("Drama",)),
        Item(3, 'Heidi Fleiss: Hollywood "Madam" (1995) ', "", ()),
    ]
    if fmt == "ml-1m":
        users = [User(1, 25, "F", "10"), User(2, 56, "M", "16")]
    else:
        users = [User(1, 24, "M", "technician"), User(2, 53, "F", "other")]
    ratings = [(1, 1, 5.0, 874965758), (1, 2, 3.0, 876893171), (2, 3, 4.0, 888550871)]
    return Raw(fmt, items, users, ratings)


RATINGS_FILE = {"ml-100k": "u.data", "ml-1m": "ratings.dat", "ml-latest": "ratings.csv"}
ITEMS_FILE = {"ml-100k": "u.item", "ml-1m": "movies.dat", "ml-latest": "movies.csv"}
SEP = {"u.data": "\t", "ratings.dat": "::", "ratings.csv": ",", "u.item": "|", "movies.dat": "::"}
HEADER = {"ratings.csv": 1, "movies.csv": 1}  # lines before the data


def corrupt(path: Path, row: int, edit: dict[int, str] | None = None, drop: bool = False) -> int:
    """Rewrite data row `row` (0-based) of a file; return its 1-based line number."""
    encoding = "utf-8" if path.suffix == ".csv" else "latin-1"
    lines = path.read_bytes().decode(encoding).split("\n")
    line = row + HEADER.get(path.name, 0)
    fields = lines[line].split(SEP[path.name])
    for index, value in (edit or {}).items():
        fields[index] = value
    if drop:
        fields = fields[:-1]
    lines[line] = SEP[path.name].join(fields)
    path.write_bytes("\n".join(lines).encode(encoding))
    return line + 1


FIELD_NAMES = {
    "ml-100k": ("user id", "item id", "rating", "timestamp"),
    "ml-1m": ("UserID", "MovieID", "Rating", "Timestamp"),
    "ml-latest": ("userId", "movieId", "rating", "timestamp"),
}

# case: (file, data row, {field index: new value}, drop last field, reason, field named)
CASES = {
    "ratings: too few fields": ("ratings", 1, {}, True, "expected 4 fields", None),
    "ratings: too many fields": ("ratings", 2, {3: "1{sep}7"}, False, "expected 4 fields", None),
    "ratings: non-integer user id": ("ratings", 2, {0: "u7"}, False, "not an integer", 0),
    "ratings: non-integer item id": ("ratings", 1, {1: "2.5"}, False, "not an integer", 1),
    "ratings: off-scale rating": ("ratings", 1, {2: "6"}, False, "not on the scale", 2),
    "ratings: off-grid rating": ("ratings", 2, {2: "3.25"}, False, "not on the scale", 2),
    "ratings: not a number": ("ratings", 0, {2: "five"}, False, "not a number", 2),
    "ratings: negative timestamp": ("ratings", 2, {3: "-5"}, False, "negative timestamp", 3),
    "ratings: unknown item": ("ratings", 2, {1: "999"}, False, "item 999 is not in", None),
    "items: non-integer id": ("items", 1, {0: "two"}, False, "not an integer", None),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_names_file_and_line(fmt: str, case: str, tmp_path: Path) -> None:
    which, row, edit, drop, reason, field = CASES[case]
    folder = write(small(fmt), tmp_path / "bad")
    name = RATINGS_FILE[fmt] if which == "ratings" else ITEMS_FILE[fmt]
    if fmt == "ml-latest" and which == "items":
        # movies.csv is quoted CSV: rewrite the row whole.
        lines = (folder / name).read_text("utf-8").split("\n")
        lines[row + 1] = "two,Jumanji (1995),Comedy"
        (folder / name).write_text("\n".join(lines), "utf-8")
        line = row + 2
    else:
        edit = {k: v.format(sep=SEP[name]) for k, v in edit.items()}
        line = corrupt(folder / name, row, edit, drop)
    with pytest.raises(DatasetError) as err:
        load_dataset(folder)
    message = str(err.value)
    assert str(folder / name) in message
    assert f"line {line}" in message
    assert reason in message
    if field is not None:
        assert f"field {FIELD_NAMES[fmt][field]!r}" in message


def test_items_wrong_field_count(tmp_path: Path) -> None:
    for fmt in FORMATS:
        folder = write(small(fmt), tmp_path / fmt)
        path = folder / ITEMS_FILE[fmt]
        lines = path.read_bytes().decode("latin-1").split("\n")
        lines[HEADER.get(path.name, 0) + 2] = "3"
        path.write_bytes("\n".join(lines).encode("latin-1"))
        with pytest.raises(
            DatasetError, match=re.escape(f"{path}, line {HEADER.get(path.name, 0) + 3}")
        ):
            load_dataset(folder)


def test_titles_with_colons_and_quotes(tmp_path: Path) -> None:
    for fmt in FORMATS:
        raw = small(fmt)
        raw.items[0] = Item(1, "Foo:: Bar: (1999):", "", ("Comedy",))
        if fmt == "ml-100k":
            raw.items[0] = Item(1, 'Foo: "Bar", baz (1999)', "", ("Comedy",))
        ds = load_dataset(write(raw, tmp_path / fmt))
        assert_frame_equal(ds.items, expected_items(raw))


def test_1m_codes_and_bad_occupation(tmp_path: Path) -> None:
    folder = write(small("ml-1m"), tmp_path / "m")
    ds = load_dataset(folder)
    assert ds.users.row(0) == (1, 25, "F", "K-12 student")
    assert ds.users.row(1) == (2, 56, "M", "self-employed")
    lines = (folder / "users.dat").read_text("latin-1").split("\n")
    lines[1] = "2::M::56::21::55455"
    (folder / "users.dat").write_text("\n".join(lines), "latin-1")
    with pytest.raises(DatasetError, match=r"users\.dat, line 2, field 'Occupation'"):
        load_dataset(folder)


def test_unknown_genre_and_rated_user_missing(tmp_path: Path) -> None:
    folder = write(small("ml-latest"), tmp_path / "g")
    text = (folder / "movies.csv").read_text("utf-8").replace("Drama", "Dramedy")
    (folder / "movies.csv").write_text(text, "utf-8")
    with pytest.raises(DatasetError, match=r"movies\.csv, line 3, field 'genres': unknown genre"):
        load_dataset(folder)
    folder = write(small("ml-100k"), tmp_path / "u")
    with (folder / "u.data").open("a") as out:
        out.write("9\t1\t3\t5\n")
    with pytest.raises(DatasetError, match=r"u\.data, line 4: user 9 is not in .*u\.user"):
        load_dataset(folder)


def test_duplicates_pairs_are_kept_but_duplicate_items_are_not(tmp_path: Path) -> None:
    raw = small("ml-100k")
    raw.ratings.append((1, 1, 2.0, 874965758))
    ds = load_dataset(write(raw, tmp_path / "dup"))
    assert ds.ratings.height == 4
    raw.items.append(Item(2, "Again (2000)", "", ()))
    folder = write(raw, tmp_path / "dup-items")
    with pytest.raises(DatasetError, match=r"u\.item, line 4: duplicate item_id 2"):
        load_dataset(folder)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_repeated_rating_row_is_refused_naming_both_lines(tmp_path: Path, fmt: str) -> None:
    raw = small(fmt)
    raw.ratings.append(raw.ratings[0])
    with pytest.raises(DatasetError, match=r"line \d+: the same rating again .*first on line"):
        load_dataset(write(raw, tmp_path / "twice"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_ratings_and_timestamps_past_2100_are_refused(tmp_path: Path, fmt: str) -> None:
    raw = small(fmt)
    raw.ratings.clear()
    with pytest.raises(DatasetError, match="no ratings: a dataset needs at least one"):
        load_dataset(write(raw, tmp_path / "none"))
    raw = small(fmt)
    user, item, rating, _ = raw.ratings[0]
    raw.ratings[0] = (user, item, rating, 32_503_680_000)  # the year 3000
    with pytest.raises(DatasetError, match="after the year 2100: unix seconds are expected"):
        load_dataset(write(raw, tmp_path / "later"))


def test_missing_files_and_unknown_folder(tmp_path: Path) -> None:
    folder = write(small("ml-100k"), tmp_path / "x")
    (folder / "u.user").unlink()
    with pytest.raises(DatasetError, match=re.escape(str(folder / "u.user"))):
        load_dataset(folder)
    (folder / "u.genre").unlink()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError) as err:
        load_dataset(empty)
    for marker in ("u.data", "ratings.dat", "ratings.csv"):
        assert marker in str(err.value)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere")


def test_ml_100k_without_u_genre_uses_documented_names(tmp_path: Path) -> None:
    raw = small("ml-100k")
    raw.genre_file = False
    ds = load_dataset(write(raw, tmp_path / "ng"))
    assert ds.genres == GENRES_1M
    assert ds.items["genres"].to_list() == [["Animation", "Comedy"], ["Drama"], []]
    assert ds.items["year"].to_list() == [1995, 1995, 1995]


def test_rating_scale_contains() -> None:
    five = RatingScale(1, 5, 1)
    assert five.contains(1) and five.contains(3.0) and five.contains(5)
    assert not five.contains(3.5) and not five.contains(0) and not five.contains(6)
    half = RatingScale(0.5, 5, 0.5)
    assert half.contains(0.5) and half.contains(4.5) and half.contains(5.0)
    assert not half.contains(0.0) and not half.contains(0.25) and not half.contains(5.5)
    assert not half.contains(float("nan"))


# ---------------------------------------------------------------------------
# Names, SIMFOLK_DATA and the bundled copy


def test_known_datasets_and_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert known_datasets() == ("ml-latest-small", "ml-100k", "ml-1m")
    monkeypatch.delenv("SIMFOLK_DATA", raising=False)
    assert data_root() is None
    monkeypatch.setenv("SIMFOLK_DATA", str(tmp_path))
    assert data_root() == tmp_path


@pytest.fixture(scope="module")
def bundled() -> Dataset:
    saved = os.environ.pop("SIMFOLK_DATA", None)
    try:
        return load_dataset("ml-latest-small")
    finally:
        if saved is not None:
            os.environ["SIMFOLK_DATA"] = saved


def test_bundled_ml_latest_small(bundled: Dataset) -> None:
    ds = bundled
    assert ds.name == "ml-latest-small"
    assert ds.format == "ml-latest"
    assert ds.path.name == "ml-latest-small"
    assert ds.path.parent.parent.name == "datasets"
    assert ds.ratings.height == 100_836
    assert ds.users.height == 610
    assert ds.items.height == 9_742
    assert ds.rating_scale == RatingScale(0.5, 5.0, 0.5)
    assert ds.users["age"].null_count() == 610
    assert ds.ratings.schema == pl.Schema(
        {"user_id": pl.Int64, "item_id": pl.Int64, "rating": pl.Float64, "timestamp": pl.Int64}
    )
    assert_sorted_by(ds.ratings, ["user_id", "timestamp", "item_id"])
    toy = ds.items.row(0, named=True)
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert set(ds.items["genres"].explode().drop_nulls()) <= set(ds.genres)
    assert len(ds.sha256) == 64


def test_bundled_sha_is_stable_and_tracks_bytes(
    bundled: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SIMFOLK_DATA", raising=False)
    assert load_dataset("ml-latest-small").sha256 == bundled.sha256
    copy = tmp_path / "copy"
    shutil.copytree(bundled.path, copy)
    same = load_dataset(copy)
    assert same.name == "copy"
    assert same.sha256 == bundled.sha256  # the digest covers names and bytes, not the folder
    movies = copy / "movies.csv"
    movies.write_bytes(movies.read_bytes().replace(b"Toy Story", b"Toy Storz", 1))
    changed = load_dataset(str(copy))
    assert changed.sha256 != bundled.sha256
    assert changed.items["title"][0] == "Toy Storz (1995)"


def test_unknown_name_lists_known_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMFOLK_DATA", raising=False)
    with pytest.raises(DatasetError) as err:
        load_dataset("ml-2m")
    for name in known_datasets():
        assert name in str(err.value)


def test_known_name_without_simfolk_data_says_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMFOLK_DATA", raising=False)
    with pytest.raises(DatasetError, match=r"set SIMFOLK_DATA .*SIMFOLK_DATA is not set"):
        load_dataset("ml-100k")


def test_simfolk_data_is_used_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(small("ml-latest"), tmp_path / "ml-latest-small")
    write(small("ml-1m"), tmp_path / "ml-1m")
    monkeypatch.setenv("SIMFOLK_DATA", str(tmp_path))
    mine = load_dataset("ml-latest-small")
    assert mine.path == tmp_path / "ml-latest-small"
    assert mine.ratings.height == 3
    one_m = load_dataset("ml-1m")
    assert one_m.name == "ml-1m" and one_m.format == "ml-1m"
    with pytest.raises(DatasetError, match=re.escape(f"SIMFOLK_DATA is {tmp_path}")):
        load_dataset("ml-100k")


# ---------------------------------------------------------------------------
# The real ML-100K, when SIMFOLK_DATA holds it


def test_real_ml_100k() -> None:
    root = os.environ.get("SIMFOLK_DATA")
    if not root or not (Path(root) / "ml-100k").is_dir():
        pytest.skip("real ML-100K not available: set SIMFOLK_DATA to a folder holding ml-100k/")
    ds = load_dataset("ml-100k")
    assert ds.format == "ml-100k"
    assert ds.ratings.height == 100_000
    assert ds.users.height == 943
    assert ds.items.height == 1_682
    assert ds.rating_scale == RatingScale(1.0, 5.0, 1.0)
    assert ds.users.null_count().row(0) == (0, 0, 0, 0)
    assert set(ds.users["gender"]) == {"M", "F"}
    assert ds.genres == GENRES_1M
    unknown = ds.items.filter(pl.col("item_id") == 267).row(0, named=True)
    assert unknown["title"] == "unknown" and unknown["year"] is None and unknown["genres"] == []
    assert ds.items.filter(pl.col("item_id") == 543)["title"][0] == "Misérables, Les (1995)"
    assert ds.items["year"].null_count() == 1
