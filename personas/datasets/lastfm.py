"""HetRec 2011 Last.fm 2K: who played which artist how often, and who is friends with whom.

Two tab-separated files are read: ``user_artists.dat`` (userID, artistID,
weight = play count; a header line is optional, as copies differ) and
``user_friends.dat`` (userID, friendID; both directions of a friendship are
listed). There are no timestamps, so the data serves implicit taste and the
social graph, not temporal splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import polars as pl

from personas.datasets.errors import DatasetError, at
from personas.datasets.resolve import resolve

NAME = "hetrec2011-lastfm-2k"
PLAYS_FILE = "user_artists.dat"
FRIENDS_FILE = "user_friends.dat"


@dataclass(frozen=True)
class LastFM:
    """Plays and friendships of one Last.fm 2K folder."""

    path: Path
    plays: pl.DataFrame  # user_id, artist_id, plays (Int64; plays > 0)
    friends: pl.DataFrame  # user_id, friend_id (Int64; each friendship once, user < friend)

    def graph(self) -> nx.Graph:
        """The friendship graph over every user with plays (users as strings)."""
        graph = nx.Graph()
        graph.add_nodes_from(str(u) for u in self.plays["user_id"].unique().sort().to_list())
        users = set(graph.nodes)
        graph.add_edges_from(
            (str(a), str(b))
            for a, b in self.friends.iter_rows()
            if str(a) in users and str(b) in users
        )
        return graph


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _rows(path: Path, names: tuple[str, ...], empty_ok: bool = False) -> list[tuple[int, ...]]:
    if not path.is_file():
        raise DatasetError(
            f"{path}: file not found (a Last.fm 2K folder needs {PLAYS_FILE} and {FRIENDS_FILE})"
        )
    text = path.read_text(encoding="latin-1")
    rows: list[tuple[int, ...]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if number == 1 and not fields[0].strip().lstrip("-").isdigit():
            continue  # a header line
        if len(fields) != len(names):
            raise at(path, f"expected {len(names)} tab-separated fields, got {len(fields)}", number)
        values = []
        for name, field in zip(names, fields, strict=True):
            try:
                value = int(field)
            except ValueError:
                raise at(path, f"not an integer: {field[:40]!r}", number, name) from None
            if not _INT64_MIN <= value <= _INT64_MAX:
                raise at(path, f"{field[:40]} does not fit in 64 bits", number, name)
            values.append(value)
        rows.append(tuple(values))
    if not rows and not empty_ok:
        raise at(path, "no rows")
    return rows


def load_lastfm(name_or_path: str | os.PathLike[str] = NAME) -> LastFM:
    """Load Last.fm 2K by name (under ``SIMFOLK_DATA``) or folder.

    Raises:
        DatasetError: When the folder or a file is missing, or a line is malformed
            (the message names the file, line, field and reason).
    """
    _, folder = resolve(name_or_path, known=(NAME,))
    plays_path, friends_path = folder / PLAYS_FILE, folder / FRIENDS_FILE
    plays = pl.DataFrame(
        _rows(plays_path, ("userID", "artistID", "weight")),
        schema={"user_id": pl.Int64, "artist_id": pl.Int64, "plays": pl.Int64},
        orient="row",
    )
    bad = plays.with_row_index().filter(pl.col("plays") <= 0)
    if bad.height:
        raise at(
            plays_path, f"a play count must be positive, got {bad['plays'][0]}", None, "weight"
        )
    if plays.select(pl.struct("user_id", "artist_id").is_duplicated().any()).item():
        raise at(plays_path, "a (userID, artistID) pair is listed twice")
    friends = pl.DataFrame(
        _rows(friends_path, ("userID", "friendID"), empty_ok=True),
        schema={"user_id": pl.Int64, "friend_id": pl.Int64},
        orient="row",
    )
    if friends.filter(pl.col("user_id") == pl.col("friend_id")).height:
        raise at(friends_path, "a user is listed as their own friend", None, "friendID")
    friends = (
        friends.select(
            pl.min_horizontal("user_id", "friend_id").alias("user_id"),
            pl.max_horizontal("user_id", "friend_id").alias("friend_id"),
        )
        .unique()
        .sort("user_id", "friend_id")
    )
    return LastFM(path=folder, plays=plays, friends=friends)
