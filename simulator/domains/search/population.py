"""Who searches: the topic split that keeps held-out needs unseen, and the searchers drawn.

The real sessions' topics are split in two halves by a keyed draw. The
searcher model is fitted on the sessions of the first half; the personas of a
run carry the needs of the second half's sessions, so no need a persona
searches for was seen in fitting, and `compare` holds the run against those
very sessions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from personas.atomic import write_text_atomically
from personas.datasets.trec import SearchSession, SessionLog
from personas.validation import first_error
from simulator.core.rng import Streams


@dataclass(frozen=True)
class TopicSplit:
    """Which topics the searcher was fitted on, and which sessions are held out."""

    fitted_topics: tuple[str, ...]
    fit: tuple[SearchSession, ...]
    heldout: tuple[SearchSession, ...]


def split_topics(log: SessionLog, streams: Streams) -> TopicSplit:
    """Half the topics (a keyed draw) to fit on; the other half's sessions held out."""
    topics = sorted({s.topic for s in log.sessions})
    order = streams.generator("bench", "search:topics").permutation(len(topics))
    fitted = {topics[i] for i in order[: len(topics) // 2]}
    return TopicSplit(
        fitted_topics=tuple(sorted(fitted)),
        fit=tuple(s for s in log.sessions if s.topic in fitted),
        heldout=tuple(s for s in log.sessions if s.topic not in fitted),
    )


class Searcher(BaseModel):
    """A persona with an information need: a held-out session's topic and task."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    persona_id: str = Field(min_length=1)
    session_id: str = Field(description="the real held-out session whose need it carries")
    topic: str
    need: str = Field(min_length=1)


def draw_searchers(heldout: Sequence[SearchSession], count: int | None) -> list[Searcher]:
    """`count` searchers (None: one per held-out session), cycling through the sessions.

    The r-th searcher on a session is `<session id>-<r>`, so its keyed draws are
    the same in a run on the clock as in `simfolk bench search`.
    """
    if not heldout:
        raise ValueError("no held-out sessions to draw searchers from")
    n = len(heldout) if count is None else count
    return [
        Searcher(
            persona_id=f"{heldout[i % len(heldout)].id}-{i // len(heldout)}",
            session_id=heldout[i % len(heldout)].id,
            topic=heldout[i % len(heldout)].topic,
            need=heldout[i % len(heldout)].need,
        )
        for i in range(n)
    ]


_SEARCHERS = TypeAdapter(list[Searcher])


def save_searchers(searchers: Sequence[Searcher], path: Path) -> None:
    """Write the run's searchers as JSON."""
    data = [s.model_dump(mode="json") for s in searchers]
    write_text_atomically(path, json.dumps({"searchers": data}, indent=1) + "\n")


def load_searchers(path: Path) -> list[Searcher]:
    """The searchers a run saved, or an error naming the file and the field."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a searcher file ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or "searchers" not in data:
        raise ValueError(f"{path}: not a searcher file (no 'searchers' list)")
    try:
        return _SEARCHERS.validate_python(data["searchers"])
    except ValidationError as exc:
        place, message = first_error(exc)
        raise ValueError(f"{path}: searchers.{place}: {message}") from None
