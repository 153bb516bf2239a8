"""Last.fm 2K: the loader, and the social bench on a small folder written here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from personas.datasets import DatasetError
from personas.datasets.lastfm import FRIENDS_FILE, PLAYS_FILE, load_lastfm
from simulator.cli import app


def _write(
    folder: Path, plays: list[tuple[int, int, int]], friends: list[tuple[int, int]], header: bool
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = (["userID\tartistID\tweight"] if header else []) + [
        f"{u}\t{a}\t{w}" for u, a, w in plays
    ]
    (folder / PLAYS_FILE).write_text("\n".join(lines) + "\n", encoding="latin-1")
    rows = (
        ["userID\tfriendID"] + [f"{a}\t{b}" for a, b in friends] + [f"{b}\t{a}" for a, b in friends]
    )
    (folder / FRIENDS_FILE).write_text("\r\n".join(rows) + "\r\n", encoding="latin-1")
    return folder


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.integers(1, 30), st.integers(1, 50)), st.integers(1, 10**6), min_size=1
    ),
    st.sets(st.tuples(st.integers(1, 30), st.integers(1, 30)).filter(lambda e: e[0] < e[1])),
    st.booleans(),
)
def test_the_loader_reads_back_what_was_written(tmp_path_factory, plays, friends, header):
    folder = _write(
        tmp_path_factory.mktemp("fm"),
        [(u, a, w) for (u, a), w in plays.items()],
        sorted(friends),
        header,
    )
    data = load_lastfm(folder)
    assert {(u, a): w for u, a, w in data.plays.iter_rows()} == plays
    assert set(data.friends.iter_rows()) == friends  # each friendship once, both directions read
    graph = data.graph()
    users = {str(u) for u, _ in plays}
    assert set(graph.nodes) == users
    assert all(a in users and b in users for a, b in graph.edges)


@pytest.mark.parametrize(
    ("plays", "friends", "message"),
    [
        ("1\t2\t3\n1\tx\t3\n", "userID\tfriendID\n", r"user_artists.dat, line 2.*artistID.*'x'"),
        ("1\t2\t3\n1\t2\n", "userID\tfriendID\n", r"user_artists.dat, line 2.*3 tab-separated"),
        ("1\t2\t0\n", "userID\tfriendID\n", r"user_artists.dat.*positive"),
        ("1\t2\t3\n", "userID\tfriendID\n4\t4\n", r"user_friends.dat.*own friend"),
    ],
)
def test_bad_files_are_named_with_line_and_reason(tmp_path, plays, friends, message):
    (tmp_path / PLAYS_FILE).write_text(plays)
    (tmp_path / FRIENDS_FILE).write_text(friends)
    with pytest.raises(DatasetError, match=message):
        load_lastfm(tmp_path)


def test_a_missing_file_is_named(tmp_path):
    (tmp_path / PLAYS_FILE).write_text("1\t2\t3\n")
    with pytest.raises(DatasetError, match=r"user_friends.dat: file not found"):
        load_lastfm(tmp_path)


def _camps(folder: Path) -> Path:
    # Two camps of listeners with their own artists; friendships mostly inside a camp.
    rng = np.random.default_rng(0)
    plays, friends = [], set()
    for user in range(1, 121):
        camp = user % 2
        for artist in rng.choice(40, size=12, replace=False):
            plays.append((user, int(artist) + 40 * camp, int(rng.integers(1, 500))))
    while len(friends) < 480:
        a, b = (int(x) for x in rng.integers(1, 121, size=2))
        if a < b and (a % 2 == b % 2 or rng.random() < 0.1):
            friends.add((a, b))
    return _write(folder, plays, sorted(friends), header=False)


def test_the_social_bench_fits_a_graph_that_shares_taste_like_the_real_one(tmp_path):
    folder = _camps(tmp_path / "fm")
    result = CliRunner().invoke(app, ["bench", "social", "--dataset", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    real, built, plain = data["real"], data["built"], data["no_homophily"]
    assert real["edges"] == 480 and built["edges"] == 480
    assert data["fitted"]["homophily"] > 0
    # Checked on the half of each user's artists the fit never saw.
    assert built["overlap_check_half"]["lift"] > 1.5 > plain["overlap_check_half"]["lift"]


def test_the_social_bench_names_a_missing_folder(tmp_path):
    result = CliRunner().invoke(app, ["bench", "social", "--dataset", str(tmp_path / "none")])
    assert result.exit_code != 0 and "none" in result.output
