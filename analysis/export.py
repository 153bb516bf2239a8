"""A chat run's dialogues as a dataset: OpenAI chat JSONL, ShareGPT JSON or HF Parquet.

One record per dialogue, in dialogue-id order, with the persona as "user"
and the chatbot as "assistant". Each record carries where it came from: the
dialogue and persona, the persona's summary, the scenario, the root seed,
both models, the simfolk version, why the dialogue stopped, and the
persona's last satisfaction rating.

Only the run's trace, manifest.json and chat_users.json are read, so nothing
from the environment (an API key, say) can reach the output.

The steps, in order: drop dialogues lacking a user or an assistant message,
scrub personal data (optional), drop duplicates, write, measure diversity
(optional). Duplicates are judged on the text as written, so two dialogues
that differ only in a scrubbed email count as one.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from analysis.card import card_path, may_write_card, write_card
from analysis.dedup import DEDUP_MODES, Dedup, deduplicate
from analysis.dialogues import dialogues_from_run
from analysis.diversity import diversity
from analysis.pii import PLACEHOLDERS, scrub
from analysis.splits import personas_for_test, split_file
from personas.atomic import replace_atomically, temporary_path, write_text_atomically
from simulator.core.rundir import read_run_file

Format = Literal["openai", "sharegpt", "hf"]
FORMATS: tuple[str, ...] = get_args(Format)

_M = TypeVar("_M", bound=BaseModel)
_RUN_HINT = "point run_dir at the folder of a chat run"
_SHAREGPT_ROLE = {"user": "human", "assistant": "gpt"}

HF_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field(
            "messages",
            pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])),
        ),
        pa.field("dialogue_id", pa.string()),
        pa.field("persona_id", pa.string()),
        pa.field("persona_summary", pa.string()),
        pa.field("scenario", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("model_user", pa.string()),
        pa.field("model_chatbot", pa.string()),
        pa.field("simfolk_version", pa.string()),
        pa.field("stop_reason", pa.string()),
        pa.field("satisfaction", pa.float64()),
    ]
)


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote and what it left out.

    Attributes:
        path: The file written (with a split: the train file).
        format: "openai", "sharegpt" or "hf".
        files: Split name ("train", and "test" with a split) → the file written.
        card: The dataset card written (README.md), or None.
        dialogues_in: Dialogues in the run.
        written: Records written.
        exact_duplicates: Dropped as exact duplicates of an earlier dialogue.
        near_duplicates: Dropped as near duplicates (not counting exact ones).
        empty: Dropped for lacking a user or an assistant message.
        pii_replacements: Placeholders inserted, by kind (empty without scrubbing).
        diversity: The diversity report, if one was asked for.
    """

    path: Path
    format: str
    files: dict[str, Path]
    card: Path | None
    dialogues_in: int
    written: int
    exact_duplicates: int
    near_duplicates: int
    empty: int
    pii_replacements: dict[str, int]
    diversity: dict[str, float] | None


# --- the run's files -----------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(extra="allow")
    scenario: str


class _Models(BaseModel):
    model_config = ConfigDict(extra="allow")
    user: str
    chatbot: str


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")
    kind: str
    config: _Config
    root_seed: int
    models: _Models
    versions: dict[str, str | None] = {}


class _ChatUser(BaseModel):
    model_config = ConfigDict(extra="allow")
    persona_id: str
    summary: str


class _ChatUsers(BaseModel):
    model_config = ConfigDict(extra="allow")
    schema_version: Literal[1]
    users: list[_ChatUser]


def _read_model(path: Path, model: type[_M], what: str) -> _M:
    if not path.is_file():
        raise ValueError(f"{path}: no {what}; {_RUN_HINT}")
    return read_run_file(path, model, f"chat run's {what}", _RUN_HINT)


def _check_trace(run_dir: Path) -> None:
    events = run_dir / "events"
    if not any(events.glob("part-*.parquet")):
        raise ValueError(
            f"{events}: no trace (events/part-*.parquet); {_RUN_HINT} that has written "
            "its first dialogues"
        )


# --- records ------------------------------------------------------------------------------


@dataclass
class _Record:
    id: str
    messages: list[tuple[str, str]]  # (role, text)
    metadata: dict[str, Any]


def _non_empty(messages: list[tuple[str, str]]) -> bool:
    roles = {role for role, text in messages if text.strip()}
    return {"user", "assistant"} <= roles


def _records(
    run_dir: Path, manifest: _Manifest, users: _ChatUsers, scrub_pii: bool
) -> tuple[int, list[_Record], int, Counter[str]]:
    """(dialogues in the run, non-empty records in id order, empty ones, PII counts)."""
    dialogues = dialogues_from_run(run_dir)
    summaries = {user.persona_id: user.summary for user in users.users}
    conversations: dict[str, list[tuple[str, str]]] = {i: [] for i in dialogues.ids()}
    for row in dialogues.messages.sort("dialogue_id", "turn").iter_rows(named=True):
        if row["role"] not in _SHAREGPT_ROLE:
            raise ValueError(
                f"{run_dir / 'events'}: dialogue {row['dialogue_id']!r} has a message with role "
                f"{row['role']!r}; a chat trace has only 'user' and 'assistant'"
            )
        if row["dialogue_id"] in conversations:  # a message without its dialogue_start is lost
            conversations[row["dialogue_id"]].append((row["role"], row["text"]))
    counts: Counter[str] = Counter()

    def clean(text: str) -> str:
        if not scrub_pii:
            return text
        text, found = scrub(text)
        counts.update(found)
        return text

    records, empty = [], 0
    for row in dialogues.dialogues.sort("dialogue_id").iter_rows(named=True):
        messages = conversations[row["dialogue_id"]]
        if not _non_empty(messages):
            empty += 1
            continue
        persona = row["persona_id"]
        if persona not in summaries:
            raise ValueError(
                f"{run_dir / 'chat_users.json'}: no user {persona!r}, whose dialogues are in "
                "the trace; the file belongs to another run"
            )
        satisfaction = row["satisfaction"]
        metadata = {
            "dialogue_id": row["dialogue_id"],
            "persona_id": persona,
            "persona_summary": clean(summaries[persona]),
            "scenario": manifest.config.scenario,
            "seed": manifest.root_seed,
            "models": {"user": manifest.models.user, "chatbot": manifest.models.chatbot},
            "simfolk_version": manifest.versions.get("simfolk"),
            "stop_reason": row["stop_reason"],
            # JSON has no nan; an unrated dialogue is null
            "satisfaction": None
            if satisfaction is None or math.isnan(satisfaction)
            else satisfaction,
        }
        cleaned = [(role, clean(text)) for role, text in messages]
        records.append(_Record(row["dialogue_id"], cleaned, metadata))
    return dialogues.dialogues.height, records, empty, counts


# --- writers ------------------------------------------------------------------------------


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=indent)


def _write_openai(records: list[_Record], out: Path) -> None:
    lines = [
        _json(
            {
                "messages": [{"role": role, "content": text} for role, text in r.messages],
                "metadata": r.metadata,
            }
        )
        for r in records
    ]
    write_text_atomically(out, "".join(line + "\n" for line in lines))


def _write_sharegpt(records: list[_Record], out: Path) -> None:
    items = [
        {
            "id": r.id,
            "conversations": [
                {"from": _SHAREGPT_ROLE[role], "value": text} for role, text in r.messages
            ],
            **r.metadata,
        }
        for r in records
    ]
    write_text_atomically(out, _json(items, indent=2) + "\n")


def _write_hf(records: list[_Record], out: Path) -> None:
    rows = []
    for r in records:
        flat = {key: value for key, value in r.metadata.items() if key != "models"}
        rows.append(
            {
                "id": r.id,
                "messages": [{"role": role, "content": text} for role, text in r.messages],
                **flat,
                "model_user": r.metadata["models"]["user"],
                "model_chatbot": r.metadata["models"]["chatbot"],
            }
        )
    table = pa.Table.from_pylist(rows, schema=HF_SCHEMA)
    tmp = temporary_path(out)
    pq.write_table(table, tmp, compression="zstd")
    replace_atomically(tmp, out)


_WRITERS = {"openai": _write_openai, "sharegpt": _write_sharegpt, "hf": _write_hf}


def _write_report(report: dict[str, float], path: Path) -> None:
    shown = {key: None if math.isnan(value) else value for key, value in report.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, _json(shown, indent=2) + "\n")


# --- the export ---------------------------------------------------------------------------


def _split(records: list[_Record], seed: int, test_share: float | None) -> dict[str, list[_Record]]:
    """One file, or train and test by persona (`analysis.splits`)."""
    if test_share is None:
        return {"train": records}
    test = personas_for_test((r.metadata["persona_id"] for r in records), seed, test_share)
    return {
        "train": [r for r in records if r.metadata["persona_id"] not in test],
        "test": [r for r in records if r.metadata["persona_id"] in test],
    }


def export_dialogues(
    run_dir: str | Path,
    fmt: Format,
    out: Path,
    *,
    dedup: Dedup = "exact",
    near_threshold: float = 0.9,
    scrub_pii: bool = False,
    diversity_report: Path | None = None,
    test_share: float | None = None,
    card: bool = False,
) -> ExportSummary:
    """Write a chat run's dialogues to `out` as a dataset, atomically.

    Args:
        run_dir: The chat run's folder (events/, manifest.json, chat_users.json).
        fmt: "openai" (JSONL of {messages, metadata}), "sharegpt" (a JSON list of
            {id, conversations, ...metadata}) or "hf" (Parquet, metadata as columns).
        out: The file to write; its folder is created.
        dedup: "none"; "exact" drops dialogues whose normalised text (see
            `analysis.dedup.normalised_text`) came earlier; "near" also drops those whose
            MinHash Jaccard over word 3-shingles with a kept dialogue is at
            least `near_threshold`.
        near_threshold: Jaccard similarity, in (0, 1], from which dialogues are near duplicates.
        scrub_pii: Replace emails, phone numbers, card numbers, IPs, URLs and API
            keys in messages and persona summaries with placeholders.
        diversity_report: Where to write the diversity of the records written
            (see `analysis.diversity.diversity`) as JSON; nan is written as null.
        test_share: Split by persona: about this share of the personas, all their
            dialogues, go to ``<stem>-test<suffix>`` and the rest to ``<stem>-train<suffix>``
            (keyed on the run's seed and the persona's id; None: one file, `out`).
        card: Also write the dataset card, README.md beside `out` (`analysis.card`);
            a README.md there that simfolk did not write is refused, never overwritten.

    Returns:
        Counts of what was read, written and dropped, and the diversity report.

    Raises:
        ValueError: For an unknown format or dedup mode, a threshold outside (0, 1],
            or a folder that is not a chat run (the message names the file).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if dedup not in DEDUP_MODES:
        raise ValueError(f"unknown dedup {dedup!r}; choose one of {', '.join(DEDUP_MODES)}")
    if not 0 < near_threshold <= 1:
        raise ValueError(f"near_threshold must be in (0, 1], got {near_threshold}")
    if test_share is not None and not 0 < test_share < 1:
        raise ValueError(f"test_share must be in (0, 1), got {test_share}")
    run_dir, out = Path(run_dir), Path(out)
    if card and not may_write_card(card_path(out)):
        raise ValueError(
            f"{card_path(out)}: a README.md simfolk did not write is there; export into "
            "another folder, or move it"
        )
    manifest = _read_model(run_dir / "manifest.json", _Manifest, "manifest")
    if manifest.kind != "chat":
        raise ValueError(
            f"{run_dir / 'manifest.json'}: a {manifest.kind!r} run has no dialogues to export; "
            f"{_RUN_HINT}"
        )
    users = _read_model(run_dir / "chat_users.json", _ChatUsers, "chat users file")
    _check_trace(run_dir)

    total, records, empty, counts = _records(run_dir, manifest, users, scrub_pii)
    kept, exact, near = deduplicate(records, dedup, near_threshold)
    out.parent.mkdir(parents=True, exist_ok=True)
    splits = _split(kept, manifest.root_seed, test_share)
    files = {name: split_file(out, name) if test_share is not None else out for name in splits}
    for name, part in splits.items():
        _WRITERS[fmt](part, files[name])
    written_card = None
    if card:
        written_card = write_card(
            run_dir / "manifest.json",
            card_path(out),
            {name: (path, len(splits[name])) for name, path in files.items()},
            [r.metadata for r in kept],
            scrub_pii,
        )

    report = None
    if diversity_report is not None:
        report = diversity(
            [[text for role, text in r.messages if role == "user"] for r in kept],
            [[text for role, text in r.messages if role == "assistant"] for r in kept],
        )
        _write_report(report, Path(diversity_report))
    return ExportSummary(
        path=files["train"],
        format=fmt,
        files=files,
        card=written_card,
        dialogues_in=total,
        written=len(kept),
        exact_duplicates=exact,
        near_duplicates=near,
        empty=empty,
        pii_replacements={kind: counts[kind] for kind in PLACEHOLDERS} if scrub_pii else {},
        diversity=report,
    )
