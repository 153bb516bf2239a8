from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.dialogues import (
    DialogueError,
    dialogue_id,
    dialogues_from_events,
    dialogues_from_run,
    load_convai2,
    user_turns,
)
from simulator.trace import TraceWriter
from simulator.trace.schema import EventKind

# --- ConvAI2 ------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
messages = st.fixed_dictionaries(
    {
        "id": st.integers(0, 10**6),
        "sender": st.text(max_size=12),
        "sender_class": st.sampled_from(["Human", "Bot"]),
        "text": st.text(),
        "evaluation_score": st.none(),
    },
    optional={"extra": json_scalars},
)
dialogues = st.fixed_dictionaries(
    {"dialog": st.lists(messages, max_size=8)},
    optional={
        "eval_score": st.none() | st.integers(1, 5),
        "start_time": st.text(max_size=20),
        "bot_profile": st.lists(st.text(max_size=20), max_size=3),
        "user_profile": st.lists(st.text(max_size=20), max_size=3),
        "profile_match": json_scalars,
    },
)
convai2 = st.lists(dialogues, max_size=6)


def write(path: Path, data: Any, *, ascii_only: bool = True) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=ascii_only), encoding="utf-8")
    return path


def expected_messages(stem: str, data: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [
        (f"{stem}:{i}", turn, "user" if m["sender_class"] == "Human" else "assistant", m["text"])
        for i, d in enumerate(data)
        for turn, m in enumerate(d["dialog"])
    ]


def expected_satisfaction(stem: str, data: list[dict[str, Any]]) -> dict[str, float | None]:
    return {
        f"{stem}:{i}": None if d.get("eval_score") is None else float(d["eval_score"])
        for i, d in enumerate(data)
    }


@settings(max_examples=60, deadline=None)
@given(convai2, st.booleans())
def test_convai2_round_trips(data: list[dict[str, Any]], ascii_only: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_convai2(write(Path(tmp) / "chats.json", data, ascii_only=ascii_only))
    # The file's order is kept: messages exactly as written, role by role.
    assert loaded.messages.rows() == expected_messages("chats", data)
    assert loaded.dialogues.height == len(data)
    assert dict(loaded.dialogues.select("dialogue_id", "satisfaction").rows()) == (
        expected_satisfaction("chats", data)
    )
    assert loaded.dialogues["persona_id"].null_count() == len(data)
    assert loaded.dialogues["stop_reason"].null_count() == len(data)
    conversations = loaded.conversations()
    for i, d in enumerate(data):
        roles = ["user" if m["sender_class"] == "Human" else "assistant" for m in d["dialog"]]
        texts = [m["text"] for m in d["dialog"]]
        assert conversations[f"chats:{i}"] == list(zip(roles, texts, strict=True))


@settings(max_examples=20, deadline=None)
@given(convai2, convai2)
def test_convai2_folder_prefixes_ids_by_file_stem(
    first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / "volunteers.json", first)
        write(Path(tmp) / "intermediate.json", second)
        (Path(tmp) / "notes.txt").write_text("not a ConvAI2 file")
        loaded = load_convai2(tmp)
    # Files in name order: intermediate before volunteers.
    assert loaded.messages.rows() == expected_messages("intermediate", second) + (
        expected_messages("volunteers", first)
    )
    assert dict(loaded.dialogues.select("dialogue_id", "satisfaction").rows()) == {
        **expected_satisfaction("intermediate", second),
        **expected_satisfaction("volunteers", first),
    }
    assert len(loaded.ids()) == len(first) + len(second)


def good_dialogue() -> dict[str, Any]:
    return {
        "dialog": [
            {"id": 0, "sender": "a", "sender_class": "Bot", "text": "Hi!"},
            {"id": 1, "sender": "b", "sender_class": "Human", "text": "Hello."},
        ],
        "eval_score": 4,
    }


def bad(change: str) -> dict[str, Any]:
    d = good_dialogue()
    if change == "sender_class":
        d["dialog"][1]["sender_class"] = "Alien"
    elif change == "eval_score":
        d["eval_score"] = 9
    elif change == "dialog":
        del d["dialog"]
    elif change == "text":
        d["dialog"][0]["text"] = None
    return d


@pytest.mark.parametrize("field", ["sender_class", "eval_score", "dialog", "text"])
def test_convai2_bad_dialogue_names_file_index_and_field(tmp_path: Path, field: str) -> None:
    path = write(tmp_path / "chats.json", [good_dialogue(), good_dialogue(), bad(field)])
    with pytest.raises(DialogueError) as caught:
        load_convai2(path)
    message = str(caught.value)
    assert str(path) in message
    assert "dialogue 2" in message
    assert field in message


def test_convai2_unreadable_files_name_the_path(tmp_path: Path) -> None:
    not_json = tmp_path / "broken.json"
    not_json.write_text("[{", encoding="utf-8")
    not_list = write(tmp_path / "object.json", {"dialog": []})
    for path, why in [(not_json, "not JSON"), (not_list, "list")]:
        with pytest.raises(DialogueError, match=why) as caught:
            load_convai2(path)
        assert str(path) in str(caught.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in [empty, tmp_path / "missing.json"]:
        with pytest.raises(DialogueError) as caught:
            load_convai2(path)
        assert str(path) in str(caught.value)


def test_convai2_dialogue_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path / "chats.json", [good_dialogue(), "hello"])
    with pytest.raises(DialogueError) as caught:
        load_convai2(path)
    assert str(path) in str(caught.value)
    assert "dialogue 1" in str(caught.value)


# --- user turns ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "turns"),
    [
        ([], 0),
        (["assistant"], 0),
        (["user"], 1),
        (["user", "user", "assistant", "user"], 2),
        (["assistant", "user", "assistant", "user", "user"], 2),
        (["assistant", "assistant", "user", "user", "user"], 1),
    ],
)
def test_user_turns(roles: list[str], turns: int) -> None:
    assert user_turns(roles) == turns


@given(st.lists(st.sampled_from(["user", "assistant"])))
def test_user_turns_counts_runs_of_user_messages(roles: list[str]) -> None:
    runs = [role for role, _ in itertools.groupby(roles)]
    assert user_turns(roles) == runs.count("user")
    assert user_turns(roles) <= roles.count("user")


# --- a run's trace ------------------------------------------------------------------------


def write_trace(run_dir: Path) -> None:
    trace = TraceWriter(run_dir, part_rows=4)  # several parts, read back as one
    t = iter(float(k) for k in itertools.count())

    def emit(kind: EventKind, persona: str, session: int, **fields: Any) -> None:
        trace.emit(next(t), kind, persona_id=persona, session=session, **fields)

    def say(persona: str, session: int, turn: int, role: str, text: str) -> None:
        emit(EventKind.MESSAGE, persona, session, role=role, turn=turn, text=text, tokens=3,
             latency=1.5)  # fmt: skip

    emit(EventKind.DIALOGUE_START, "p1", 0, text="cancel my order", reason="cancel")
    emit(EventKind.DIALOGUE_START, "p2", 0, text="find a recipe", reason="recipe")
    say("p1", 0, 0, "user", "I want to cancel order 12.")
    say("p2", 0, 0, "user", "Any soup recipes?")
    say("p1", 0, 1, "assistant", "Sure, which order?")
    emit(EventKind.ASSESSMENT, "p1", 0, rating=2.0, reason="goal_open", turn=2)
    say("p1", 0, 2, "user", "Order 12.")
    say("p1", 0, 3, "assistant", "Cancelled.")
    emit(EventKind.ASSESSMENT, "p1", 0, rating=5.0, reason="goal_met", turn=4)
    emit(EventKind.DIALOGUE_END, "p1", 0, reason="goal_met", turn=4)
    trace.emit(next(t), EventKind.LLM_FAILURE, reason="timeout", text="no answer")
    emit(EventKind.DIALOGUE_START, "p1", 1, text="track a parcel", reason="track")
    emit(EventKind.DIALOGUE_END, "p1", 1, reason="llm_failure", turn=0)
    # p2's dialogue is still open: no assessment, no end.
    trace.flush()


def test_dialogues_from_events(tmp_path: Path) -> None:
    write_trace(tmp_path)
    loaded = dialogues_from_run(tmp_path)
    assert (tmp_path / "events" / "part-00001.parquet").exists()
    assert loaded.dialogues.rows() == [
        ("p1/0", "p1", "goal_met", 5.0),  # the last assessment counts
        ("p1/1", "p1", "llm_failure", None),
        ("p2/0", "p2", None, None),
    ]
    assert loaded.conversations() == {
        "p1/0": [
            ("user", "I want to cancel order 12."),
            ("assistant", "Sure, which order?"),
            ("user", "Order 12."),
            ("assistant", "Cancelled."),
        ],
        "p1/1": [],
        "p2/0": [("user", "Any soup recipes?")],
    }
    assert loaded.messages.filter(pl.col("dialogue_id") == "p1/0")["turn"].to_list() == [
        0,
        1,
        2,
        3,
    ]
    assert dialogue_id("p1", 0) == "p1/0"


def test_dialogues_from_events_without_dialogues(tmp_path: Path) -> None:
    trace = TraceWriter(tmp_path)
    trace.emit(0.0, EventKind.SESSION_START, persona_id="p1", session=0)
    trace.flush()
    from analysis.frames import load_events

    loaded = dialogues_from_events(load_events(tmp_path))
    assert loaded.messages.height == 0
    assert loaded.dialogues.height == 0
    assert loaded.conversations() == {}
