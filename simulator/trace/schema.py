"""The trace's event schema: one flat, versioned Arrow table.

Every event kind shares one wide schema so a run is a single table that
polars scans without unions; columns a kind does not use are null.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

SCHEMA_VERSION = 6  # 2: `text`; review, llm_failure, budget_exhausted. 3: dialogues. 4: channel.
# 5: consume and `count` (implicit feedback). 6: query; `doc_id`, `title`, `url`, `dwell` (search)


class EventKind(StrEnum):
    """What happened. The trace's vocabulary; analysis keys on these names."""

    SESSION_START = "session_start"
    IMPRESSION = "impression"  # an item was put on the page (examined or not)
    CLICK = "click"
    RATE = "rate"
    CONSUME = "consume"  # implicit feedback: how many times the clicked item was consumed
    LEAVE = "leave"  # the persona chose to end the session (reason says why)
    SESSION_END = "session_end"
    REFIT = "refit"  # the target retrained on what it has seen so far
    REVIEW = "review"  # words a persona wrote about an item it rated (text)
    LLM_FAILURE = "llm_failure"  # a decision the LLM could not give (reason: code, text: detail)
    BUDGET_EXHAUSTED = "budget_exhausted"  # the LLM budget is spent; the run ends here
    TARGET_ERROR = "target_error"  # the system under test failed (reason: code, text: detail)
    DIALOGUE_START = "dialogue_start"  # a persona opens a conversation (text: its goal)
    MESSAGE = "message"  # one chat message (role, turn, text, tokens, latency)
    ASSESSMENT = "assessment"  # the persona's read of the reply (rating: 1-5, reason: goal)
    DIALOGUE_END = "dialogue_end"  # reason: a StopReason; turn: messages exchanged
    QUERY = "query"  # a searcher's query (text; page: its index; reason: how it was changed)


# Each column: its type, and what it holds. The words are written into every part file
# (Arrow field metadata, key b"description") and the README's trace table repeats them.
COLUMNS: dict[str, tuple[pa.DataType, bool, str]] = {
    "seq": (pa.int64(), False, "global order of writing, from 0"),
    "t": (pa.float64(), False, "simulated seconds since the run started"),
    "event": (pa.string(), False, "what happened: an EventKind value"),
    "persona_id": (pa.string(), True, "whose event (null for the target's refits)"),
    "session": (pa.int32(), True, "the persona's session (chat: dialogue), from 0"),
    "page": (pa.int16(), True, "the page of the session, from 0"),
    "position": (pa.int16(), True, "the slot on the page, from 0"),
    "item_id": (pa.int64(), True, "the item shown, clicked or rated"),
    "examined": (pa.bool_(), True, "impressions: whether perception looked at the item"),
    "rating": (pa.float32(), True, "rate: the rating; assessment: satisfaction 1-5"),
    "reason": (pa.string(), True, "why: a leave or stop reason, an error code, a goal"),
    "target": (pa.string(), True, "the system under test, by name"),
    "text": (pa.string(), True, "language: a review, a message, a goal, a failure's detail"),
    "role": (pa.string(), True, "messages: user (the persona) or assistant (the target)"),
    "turn": (pa.int16(), True, "messages: index in the dialogue, from 0"),
    "tokens": (
        pa.int32(),
        True,
        "messages, and queries the LLM wrote: tokens the speaker produced",
    ),
    "latency": (pa.float64(), True, "messages: simulated seconds the speaker took"),
    "count": (pa.int32(), True, "consume: how many times (plays) the persona consumed the item"),
    "channel": (
        pa.string(),
        True,
        "the door the item came by: recommender, intent, social, trending",
    ),
    "doc_id": (pa.string(), True, "search: the document shown or clicked"),
    "title": (pa.string(), True, "search: the result's title as the page showed it"),
    "url": (pa.string(), True, "search: the result's URL"),
    "dwell": (pa.float64(), True, "search clicks: simulated seconds on the clicked document"),
}

EVENT_SCHEMA = pa.schema(
    [
        pa.field(name, kind, nullable=nullable, metadata={b"description": words.encode()})
        for name, (kind, nullable, words) in COLUMNS.items()
    ],
    metadata={b"simfolk.trace.schema_version": str(SCHEMA_VERSION).encode()},
)
