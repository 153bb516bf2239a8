"""Exporting a chat run's dialogues: formats read back by their readers, dedup, PII, diversity."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionMessageParam
from pydantic import TypeAdapter

from analysis.dedup import lsh_bands
from analysis.diversity import distinct_n, diversity, embedding_spread
from analysis.export import export_dialogues
from analysis.pii import luhn_valid, scrub
from simulator.trace import TraceWriter
from simulator.trace.schema import EventKind

FILLER_TEXT = (
    "we could compare the morning train with the evening bus because the ticket prices "
    "change every season and the station near the old market closes early on sundays"
)
FILLER = FILLER_TEXT.split()


def _long(offset: int, n: int = 80) -> str:
    return " ".join(f"{FILLER[(i + offset) % len(FILLER)]}{i}" for i in range(n))


CAROL_USER = _long(0)
CAROL_BOT = _long(7)
CAROL_NEAR = " ".join("zebra" if i == 40 else w for i, w in enumerate(CAROL_USER.split()))
PII_USER = (
    "Write to erin.q@example.com or call +1 415-555-0132. My card is 4111 1111 1111 1111, "
    "the docs are at https://example.org/help and the box is 10.1.2.3. "
    "Key: sk-abcdefghijklmnopqrstuvwx123"
)

# persona id -> sessions, each [(role, text), ...]
DIALOGUES: dict[str, list[list[tuple[str, str]]]] = {
    "alice": [
        [
            ("user", "Hi, can you help me plan a weekend in Lisbon?"),
            ("assistant", "Of course! What do you enjoy: food, museums or walks?"),
            ("user", "Food, mostly."),
            ("assistant", "Then start in Alfama and try the grilled sardines."),
        ]
    ],
    # the same as alice's, up to case and whitespace: an exact duplicate
    "bob": [
        [
            ("user", "hi,  can you help me plan a weekend in lisbon?"),
            ("assistant", "Of course! What do you enjoy: food, museums or walks?"),
            ("user", "Food, mostly. "),
            ("assistant", "Then start in Alfama and try the   grilled sardines."),
        ]
    ],
    "carol": [
        [("user", CAROL_USER), ("assistant", CAROL_BOT)],
        # one word changed: a near duplicate of the session before
        [("user", CAROL_NEAR), ("assistant", CAROL_BOT)],
    ],
    "dave": [[("user", "Hello? Is anyone there?")]],  # no reply: empty
    "erin": [[("user", PII_USER), ("assistant", "Thanks, I will not store any of that.")]],
}
SUMMARIES = {
    "alice": "Alice, 34, a nurse who travels on a budget.",
    "bob": "Bob, 51, plans every trip to the minute.",
    "carol": "Carol, 27, commutes by train and counts every cent.",
    "dave": "Dave, 70, new to chatbots.",
    "erin": "Erin, 45, careless with her data; mail erin@home.example.net.",
}
MANIFEST = {
    "manifest_version": 1,
    "kind": "chat",
    "config": {"scenario": "travel-help", "turns": 6},
    "root_seed": 42,
    "models": {"user": "local/qwen-user", "chatbot": "local/llama-bot"},
    "versions": {"simfolk": "0.1.0", "polars": "1.0"},
}
ALL_IDS = ["alice/0", "bob/0", "carol/0", "carol/1", "dave/0", "erin/0"]
NON_EMPTY = ["alice/0", "bob/0", "carol/0", "carol/1", "erin/0"]


def _write_run(run_dir: Path, manifest: dict[str, Any] | None = None) -> Path:
    trace = TraceWriter(run_dir)
    t = 0.0
    for persona, sessions in DIALOGUES.items():
        for session, messages in enumerate(sessions):
            trace.emit(t, EventKind.DIALOGUE_START, persona_id=persona, session=session)
            for turn, (role, text) in enumerate(messages):
                t += 1.0
                trace.emit(
                    t,
                    EventKind.MESSAGE,
                    persona_id=persona,
                    session=session,
                    role=role,
                    turn=turn,
                    text=text,
                    tokens=len(text.split()),
                    latency=0.5,
                )
                if role == "assistant":
                    trace.emit(
                        t, EventKind.ASSESSMENT, persona_id=persona, session=session, rating=4.0
                    )
            reason = "goal_met" if len(messages) > 1 else "no_reply"
            trace.emit(
                t,
                EventKind.DIALOGUE_END,
                persona_id=persona,
                session=session,
                reason=reason,
                turn=len(messages),
            )
    trace.flush()
    (run_dir / "manifest.json").write_text(json.dumps(manifest or MANIFEST), encoding="utf-8")
    users = [{"persona_id": p, "summary": s, "goal": "get help"} for p, s in SUMMARIES.items()]
    (run_dir / "chat_users.json").write_text(
        json.dumps({"schema_version": 1, "users": users}), encoding="utf-8"
    )
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return _write_run(tmp_path / "run")


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private, offline Hugging Face cache: nothing reaches the network or the home folder."""
    cache = tmp_path / "hf"
    for name, value in {
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(cache),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
    }.items():
        monkeypatch.setenv(name, value)
    # The libraries read the environment once, at import; set what they already read too.
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache / "datasets")
    monkeypatch.setattr(datasets.config, "HF_MODULES_CACHE", cache / "modules")
    return str(cache)


def _load(builder: str, path: Path, cache: str):  # type: ignore[no-untyped-def]
    import datasets

    return datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache)


def _expected_metadata(dialogue_id: str) -> dict[str, Any]:
    persona = dialogue_id.split("/")[0]
    return {
        "dialogue_id": dialogue_id,
        "persona_id": persona,
        "persona_summary": SUMMARIES[persona],
        "scenario": "travel-help",
        "seed": 42,
        "models": {"user": "local/qwen-user", "chatbot": "local/llama-bot"},
        "simfolk_version": "0.1.0",
        "stop_reason": "goal_met",
        "satisfaction": 4.0,
    }


def _conversation(dialogue_id: str) -> list[tuple[str, str]]:
    persona, session = dialogue_id.split("/")
    return DIALOGUES[persona][int(session)]


# --- formats ------------------------------------------------------------------------------


def test_openai_jsonl_validates_as_chat_messages(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "folder" / "train.jsonl"  # the folder is created
    summary = export_dialogues(run_dir, "openai", out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert summary.written == len(lines) == 4
    adapter = TypeAdapter(list[ChatCompletionMessageParam])
    records = [json.loads(line) for line in lines]
    for record in records:
        adapter.validate_python(record["messages"])
    assert [r["metadata"]["dialogue_id"] for r in records] == [
        "alice/0",
        "carol/0",
        "carol/1",
        "erin/0",
    ]
    first = records[0]
    assert first["metadata"] == _expected_metadata("alice/0")
    assert [(m["role"], m["content"]) for m in first["messages"]] == _conversation("alice/0")
    assert not list(out.parent.glob("*.tmp"))


def test_sharegpt_reads_with_json_and_datasets(
    run_dir: Path, tmp_path: Path, hf_cache: str
) -> None:
    out = tmp_path / "sharegpt.json"
    export_dialogues(run_dir, "sharegpt", out, dedup="none")
    items = json.loads(out.read_text(encoding="utf-8"))
    assert [item["id"] for item in items] == NON_EMPTY
    carol = items[2]
    assert carol["conversations"] == [
        {"from": "human", "value": CAROL_USER},
        {"from": "gpt", "value": CAROL_BOT},
    ]
    assert {k: v for k, v in carol.items() if k not in ("id", "conversations")} == (
        _expected_metadata("carol/0")
    )
    dataset = _load("json", out, hf_cache)
    assert dataset.num_rows == 5
    assert dataset["id"] == NON_EMPTY
    first_user = _conversation("alice/0")[0][1]
    assert dataset[0]["conversations"][0] == {"from": "human", "value": first_user}
    assert dataset[4]["models"] == {"user": "local/qwen-user", "chatbot": "local/llama-bot"}


def test_hf_parquet_loads_with_datasets(run_dir: Path, tmp_path: Path, hf_cache: str) -> None:
    out = tmp_path / "train.parquet"
    summary = export_dialogues(run_dir, "hf", out, dedup="near")
    dataset = _load("parquet", out, hf_cache)
    assert dataset.num_rows == summary.written == 3
    assert dataset["id"] == ["alice/0", "carol/0", "erin/0"]
    row = dataset[1]
    assert row["messages"] == [
        {"role": "user", "content": CAROL_USER},
        {"role": "assistant", "content": CAROL_BOT},
    ]
    expected = _expected_metadata("carol/0")
    models = expected.pop("models")
    expected |= {"model_user": models["user"], "model_chatbot": models["chatbot"]}
    assert {k: row[k] for k in expected} == expected


# --- dedup --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dedup", "kept", "exact", "near"),
    [
        ("none", NON_EMPTY, 0, 0),
        ("exact", ["alice/0", "carol/0", "carol/1", "erin/0"], 1, 0),
        ("near", ["alice/0", "carol/0", "erin/0"], 1, 1),
    ],
)
def test_dedup_counts_and_keeps_the_first(
    run_dir: Path, tmp_path: Path, dedup: Any, kept: list[str], exact: int, near: int
) -> None:
    out = tmp_path / "out.jsonl"
    summary = export_dialogues(run_dir, "openai", out, dedup=dedup)
    ids = [json.loads(line)["metadata"]["dialogue_id"] for line in out.read_text().splitlines()]
    assert ids == kept
    assert (summary.dialogues_in, summary.written, summary.empty) == (6, len(kept), 1)
    assert (summary.exact_duplicates, summary.near_duplicates) == (exact, near)


def test_a_strict_threshold_keeps_the_near_duplicate(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    summary = export_dialogues(run_dir, "openai", out, dedup="near", near_threshold=1.0)
    assert (summary.exact_duplicates, summary.near_duplicates, summary.written) == (1, 0, 4)


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.9, 0.95, 1.0])
def test_lsh_bands_miss_few_pairs_at_the_threshold(threshold: float) -> None:
    bands, rows = lsh_bands(threshold)
    assert bands >= 2
    assert bands * rows <= 128
    assert 1 - (1 - threshold**rows) ** bands >= 0.999


# --- PII ----------------------------------------------------------------------------------


def test_scrub_replaces_each_kind() -> None:
    text, counts = scrub(PII_USER)
    assert text == (
        "Write to [EMAIL] or call [PHONE]. My card is [CARD], "
        "the docs are at [URL] and the box is [IP]. Key: [KEY]"
    )
    assert counts == Counter(email=1, phone=1, card=1, url=1, ip=1, key=1)


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "version 1.2.3.4.5 and 999.1.1.1",  # not addresses
        "in 2024 I read 12 books on 3 trips",
        "sk-short and a task-list",
        "ask me at noon, www. is a prefix",
    ],
)
def test_scrub_leaves_lookalikes(text: str) -> None:
    assert scrub(text) == (text, Counter())


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")  # an Amex test number
    assert not luhn_valid("4111111111111112")


@given(st.text(st.one_of(st.characters(categories=["L"]), st.just(" "))))
def test_letters_and_spaces_are_untouched(text: str) -> None:
    assert scrub(text) == (text, Counter())


def test_export_scrubs_messages_and_summaries(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "scrubbed.jsonl"
    summary = export_dialogues(run_dir, "openai", out, scrub_pii=True)
    assert summary.pii_replacements == {
        "url": 1,
        "email": 2,  # one in a message, one in a persona summary
        "key": 0,  # the trace masked the key as it was written (core.redact): none left to scrub
        "card": 1,
        "ip": 1,
        "phone": 1,
    }
    written = out.read_text(encoding="utf-8")
    for secret in ("erin.q@example.com", "415-555-0132", "4111 1111", "sk-abc", "10.1.2.3"):
        assert secret not in written
    erin = json.loads(written.splitlines()[-1])
    assert erin["metadata"]["persona_summary"] == "Erin, 45, careless with her data; mail [EMAIL]."
    assert export_dialogues(run_dir, "openai", out).pii_replacements == {}


# --- diversity ----------------------------------------------------------------------------


def test_distinct_n_by_hand() -> None:
    texts = ["The cat sat.", "the cat ran"]
    # words: the cat sat | the cat ran -> 4 unique of 6
    assert distinct_n(texts, 1) == pytest.approx(4 / 6)
    # bigrams never cross messages: (the cat) (cat sat) (the cat) (cat ran) -> 3 of 4
    assert distinct_n(texts, 2) == pytest.approx(3 / 4)
    assert math.isnan(distinct_n(["one"], 2))
    assert distinct_n(["don't stop"], 1) == 1.0


def test_embedding_spread() -> None:
    assert embedding_spread(np.eye(3)) == pytest.approx(1.0)
    assert embedding_spread(np.ones((4, 2))) == pytest.approx(0.0)
    assert embedding_spread(np.array([[1.0, 0.0], [-2.0, 0.0]])) == pytest.approx(2.0)
    assert math.isnan(embedding_spread(np.ones((1, 3))))


def test_diversity_is_nan_safe_for_one_dialogue() -> None:
    report = diversity([["hello there"]], [[]])
    assert report["dialogues"] == 1
    assert report["user_distinct_1"] == 1.0
    assert math.isnan(report["assistant_distinct_1"])
    assert math.isnan(report["user_embedding_spread"])


def test_diversity_report_written(run_dir: Path, tmp_path: Path) -> None:
    report_path = tmp_path / "reports" / "diversity.json"
    summary = export_dialogues(
        run_dir, "openai", tmp_path / "o.jsonl", dedup="near", diversity_report=report_path
    )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report == summary.diversity
    assert report["dialogues"] == summary.written == 3
    for key in ("user_distinct_1", "user_distinct_2", "assistant_distinct_1"):
        assert 0 < report[key] <= 1
    assert 0 < report["user_embedding_spread"] < 2


# --- determinism, errors ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["openai", "sharegpt", "hf"])
def test_same_export_is_byte_identical(run_dir: Path, tmp_path: Path, fmt: Any) -> None:
    outputs = []
    for name in ("a", "b"):
        out = tmp_path / name / "data"
        export_dialogues(run_dir, fmt, out, dedup="near", scrub_pii=True)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_bad_run_dirs_name_the_file(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with pytest.raises(ValueError, match=r"manifest\.json: no manifest"):
        export_dialogues(tmp_path / "nothing", "openai", out)

    recsys = _write_run(tmp_path / "recsys", manifest={**MANIFEST, "kind": "recsys"})
    with pytest.raises(ValueError, match=r"manifest\.json: a 'recsys' run has no dialogues"):
        export_dialogues(recsys, "openai", out)

    broken = _write_run(tmp_path / "broken", manifest={**MANIFEST, "models": {"user": "x"}})
    with pytest.raises(ValueError, match=r"manifest\.json: .*models\.chatbot"):
        export_dialogues(broken, "openai", out)

    no_users = _write_run(tmp_path / "no-users")
    (no_users / "chat_users.json").unlink()
    with pytest.raises(ValueError, match=r"chat_users\.json: no chat users file"):
        export_dialogues(no_users, "openai", out)

    no_trace = _write_run(tmp_path / "no-trace")
    for part in (no_trace / "events").iterdir():
        part.unlink()
    with pytest.raises(ValueError, match=r"events: no trace"):
        export_dialogues(no_trace, "openai", out)
    assert not out.exists()


def test_unknown_format_and_mode_name_the_choices(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="openai, sharegpt, hf"):
        export_dialogues(run_dir, "csv", tmp_path / "o")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="none, exact, near"):
        export_dialogues(run_dir, "hf", tmp_path / "o", dedup="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        export_dialogues(run_dir, "hf", tmp_path / "o", near_threshold=0)


# --- dataset card and split by persona ----------------------------------------------------


def test_a_split_by_persona_with_a_card_loads_as_a_dataset(tmp_path: Path, hf_cache: str) -> None:
    import yaml

    prompt = "You are Tram, the city's travel helper. Be brief."
    manifest = {**MANIFEST, "run_id": "abc123", "dataset": {"name": "ml-100k", "sha256": "f" * 64}}
    manifest["config"] = {
        **MANIFEST["config"],
        "chatbot": {"kind": "local", "system_prompt": prompt},
    }
    run = _write_run(tmp_path / "run", manifest=manifest)
    out = tmp_path / "data" / "chats.jsonl"
    summary = export_dialogues(run, "openai", out, dedup="none", test_share=0.4, card=True)
    train, test = summary.files["train"], summary.files["test"]
    assert (train.name, test.name) == ("chats-train.jsonl", "chats-test.jsonl")
    assert not out.exists()

    def personas(path: Path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line)["metadata"]["persona_id"] for line in lines]

    sides = personas(train), personas(test)
    assert not set(sides[0]) & set(sides[1]) and sides[0] and sides[1]
    assert sorted(sides[0] + sides[1]) == sorted(i.split("/")[0] for i in NON_EMPTY)
    assert "carol" in sides[0] or sides[1].count("carol") == 2  # both of carol's on one side
    again = export_dialogues(run, "openai", tmp_path / "again" / "chats.jsonl", dedup="none",
                             test_share=0.4)  # fmt: skip
    assert personas(again.files["test"]) == sides[1]  # keyed: the same split every time

    text = summary.card.read_text(encoding="utf-8") if summary.card else ""
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "other" and "simfolk" in header["tags"]
    files = {f["split"]: f["path"] for f in header["configs"][0]["data_files"]}
    assert files == {"train": train.name, "test": test.name}
    assert prompt in text and "abc123" in text and "no redistribution of the ratings" in text
    import datasets

    loaded = datasets.load_dataset(str(out.parent), cache_dir=hf_cache)
    assert (loaded["train"].num_rows, loaded["test"].num_rows) == tuple(map(len, sides))

    # A README.md simfolk did not write is never overwritten.
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "README.md").write_text("# my notes\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"theirs/README\.md: a README\.md simfolk did not"):
        export_dialogues(run, "openai", tmp_path / "theirs" / "c.jsonl", card=True)
    assert (tmp_path / "theirs" / "README.md").read_text(encoding="utf-8") == "# my notes\n"


def test_a_persona_keeps_its_side_when_others_join() -> None:
    from analysis.splits import personas_for_test

    people = [f"p{i}" for i in range(60)]
    before = personas_for_test(people[:40], 7, 0.2)
    after = personas_for_test(people, 7, 0.2)
    assert before == after & set(people[:40])  # nobody moved; only newcomers were placed
    assert 0 < len(after) < len(people)
    assert personas_for_test(["a", "b"], 7, 0.01) and personas_for_test(["a", "b"], 7, 0.99) != {
        "a",
        "b",
    }
    with pytest.raises(ValueError, match="needs two personas or more"):
        personas_for_test(["a"], 7, 0.5)
