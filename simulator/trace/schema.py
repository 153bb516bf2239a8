"""The trace's event schema: one flat, versioned Arrow table.

Every event kind shares one wide schema so a run is a single table that
polars scans without unions; columns a kind does not use are null.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa

SCHEMA_VERSION = 4  # 2: `text`; review, llm_failure, budget_exhausted. 3: dialogues. 4: channel


class EventKind(StrEnum):
    """What happened. The trace's vocabulary; analysis keys on these names."""

    SESSION_START = "session_start"
    IMPRESSION = "impression"  # an item was put on the page (examined or not)
    CLICK = "click"
    RATE = "rate"
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


EVENT_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),  # global order of writing
        pa.field("t", pa.float64(), nullable=False),  # simulated seconds since run start
        pa.field("event", pa.string(), nullable=False),
        pa.field("persona_id", pa.string()),
        pa.field("session", pa.int32()),  # per persona, from 0
        pa.field("page", pa.int16()),  # per session, from 0
        pa.field("position", pa.int16()),  # slot on the page, from 0
        pa.field("item_id", pa.int64()),
        pa.field("examined", pa.bool_()),  # impressions: did perception look at it
        pa.field("rating", pa.float32()),
        pa.field("reason", pa.string()),
        pa.field("target", pa.string()),
        pa.field("text", pa.string()),  # language: a review, a rationale, a failure's detail
        pa.field("role", pa.string()),  # messages: "user" (the persona) or "assistant" (target)
        pa.field("turn", pa.int16()),  # messages: index in the dialogue, from 0
        pa.field("tokens", pa.int32()),  # messages: tokens the speaker produced
        pa.field("latency", pa.float64()),  # messages: simulated seconds the speaker took
        # impressions, clicks, ratings: the door the item came by (recsys exposure.CHANNELS)
        pa.field("channel", pa.string()),
    ],
    metadata={b"simfolk.trace.schema_version": str(SCHEMA_VERSION).encode()},
)
