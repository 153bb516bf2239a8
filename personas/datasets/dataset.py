"""The one shape every dataset reader returns, whatever the format.

A :class:`Dataset` of polars frames and its :class:`RatingScale`, with the formats'
fixed vocabularies (genres, and ml-1m's age and occupation codes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import polars as pl

Format = Literal["ml-100k", "ml-1m", "ml-latest", "log"]
Feedback = Literal["explicit", "implicit"]

# Item-genre placeholders: an item carrying only these has no genre.
NO_GENRE = frozenset({"unknown", "(no genres listed)"})

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
GENRES_1M = tuple(g for g in GENRES_100K if g != "unknown")
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


@dataclass(frozen=True)
class RatingScale:
    """The ratings a dataset allows: ``low`` to ``high`` in steps of ``step``.

    Attributes:
        low: The lowest rating.
        high: The highest rating.
        step: The distance between allowed ratings.
    """

    low: float
    high: float
    step: float

    def contains(self, value: float) -> bool:
        """Tell whether a rating is in range and on the step grid.

        Args:
            value: The rating to check.

        Returns:
            True when ``low <= value <= high`` and ``value - low`` is a whole number of steps.
        """
        eps = 1e-9 * self.step
        if not (self.low - eps <= value <= self.high + eps):
            return False
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) <= 1e-9

    def snap(self, value: float) -> float:
        """The allowed rating nearest to ``value`` (clipped to the range).

        Args:
            value: Any real number.

        Returns:
            A rating that :meth:`contains` accepts.
        """
        steps = round((value - self.low) / self.step)
        return float(min(max(self.low + steps * self.step, self.low), self.high))

    def expr(self, column: str) -> pl.Expr:
        """Build the vectorized form of :meth:`contains` over a column.

        Args:
            column: The name of a float column.

        Returns:
            A boolean expression, null where the column is null.
        """
        eps = 1e-9 * self.step
        col = pl.col(column)
        steps = (col - self.low) / self.step
        return (
            col.is_between(self.low - eps, self.high + eps)
            & ((steps - steps.round(0)).abs() <= 1e-9)
            & col.is_not_nan()
        )


SCALE_5 = RatingScale(1.0, 5.0, 1.0)
SCALE_HALF = RatingScale(0.5, 5.0, 0.5)


@dataclass(frozen=True)
class Words:
    """What a domain calls an item and consuming one, in the persona's own sentences.

    Attributes:
        item: One item ("movie", "episode", "artist").
        items: More than one.
        consume: The verb ("watch", "listen to").
        consumed: Its past tense ("watched", "listened to").
    """

    item: str = "movie"
    items: str = "movies"
    consume: str = "watch"
    consumed: str = "watched"


FILM_WORDS = Words()


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A MovieLens dataset read into polars frames of one shape whatever the format.

    Attributes:
        name: The known name it was loaded by, or the folder name when given a path.
        path: The folder read (for a log whose mapping file lies elsewhere: that file).
        format: Which MovieLens file format the folder holds.
        sha256: Hex digest over the files read, in a fixed order (file name, size, bytes).
        items: ``item_id:Int64, title:String, year:Int32, genres:List(String)``, by item_id.
        ratings: ``user_id:Int64, item_id:Int64, rating:Float64, timestamp:Int64``
            (unix seconds), sorted by user_id, timestamp, item_id. For implicit
            feedback ``rating`` is null and ``count:Int64`` says how many times
            (plays); for a log without times ``timestamp`` is 0.
        users: ``user_id:Int64, age:Int32, gender:String, occupation:String``; one row
            per user in ratings, sorted; demographics are null where the format has none.
        genres: The genre vocabulary in the dataset's own order, without the
            placeholders ("unknown", "(no genres listed)") that stand for no genre.
        rating_scale: The ratings the format allows (None: implicit feedback).
        words: What an item and consuming it are called (movies, watched for MovieLens).
        keys: For a log whose ids are not all integers: ``user`` and ``item`` frames of
            (``user_id``/``item_id``: Int64, ``key``: String), the ids the data gave.
        feedback: ``explicit`` (ratings) or ``implicit`` (consumption counts only).
        timed: Whether the rows carry times (a log may not; MovieLens always does).
    """

    name: str
    path: Path
    format: Format
    sha256: str
    items: pl.DataFrame
    ratings: pl.DataFrame
    users: pl.DataFrame
    genres: tuple[str, ...]
    rating_scale: RatingScale | None
    words: Words = FILM_WORDS
    keys: dict[str, pl.DataFrame] = field(default_factory=dict)
    feedback: Feedback = "explicit"
    timed: bool = True

    @property
    def scale(self) -> RatingScale:
        """The rating scale of explicit feedback.

        Raises:
            ValueError: For implicit feedback, which has none.
        """
        if self.rating_scale is None:
            raise ValueError(
                f"{self.path}: {self.name} is implicit feedback (counts, no ratings), "
                "and this step needs ratings"
            )
        return self.rating_scale

    @cached_property
    def content_sha256(self) -> str:
        """Hex digest of the data itself: the frames, vocabulary, scale and words.

        ``sha256`` says which files were read; this says what they held, so the
        same data read from a MovieLens folder or from a log of other files and
        column names has the same digest. Personas and calibrations record this.
        """
        digest = hashlib.sha256()
        for label, frame in (
            ("items", self.items),
            ("ratings", self.ratings),
            ("users", self.users),
        ):
            digest.update(f"{label}:{frame.height}".encode())
            for name in frame.columns:
                column = frame[name]
                digest.update(f"{name}:{column.dtype}".encode())
                if column.dtype.is_numeric() and column.null_count() == 0:
                    digest.update(column.to_numpy().tobytes())
                else:
                    digest.update(json.dumps(column.to_list(), ensure_ascii=False).encode())
        scale = None if self.rating_scale is None else asdict(self.rating_scale)
        rest: list[object] = [list(self.genres), scale, asdict(self.words)]
        if (self.feedback, self.timed) != ("explicit", True):  # explicit digests stay as they were
            rest.append({"feedback": self.feedback, "timed": self.timed})
        digest.update(json.dumps(rest, sort_keys=True).encode())
        return digest.hexdigest()

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, format={self.format!r}, path='{self.path}', "
            f"items={self.items.height}, ratings={self.ratings.height}, "
            f"users={self.users.height}, sha256={self.sha256[:12]}...)"
        )


def strength(frame: pl.DataFrame) -> pl.Expr:
    """How strongly a row says its user liked its item, for either kind of feedback.

    The rating, or for implicit feedback (a ``count`` column, null ratings)
    ``log(1 + count)``: the confidence implicit-feedback models give a play
    count (Hu, Koren and Volinsky 2008). Personas' taste, their "rating" style
    and the fitted strength model all read this, so one path serves both kinds,
    and an implicit log is never given ratings.
    """
    if "count" in frame.columns:
        return pl.col("count").cast(pl.Float64).log1p()
    return pl.col("rating")
