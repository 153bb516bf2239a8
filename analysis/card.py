"""A dataset card for exported dialogues: the README.md that Hugging Face `datasets` reads.

The card opens with the YAML header the Hub and `datasets.load_dataset` read
(licence, tags, the data files of each split), then says in prose where the
dialogues came from: the run, both models, the chatbot's system prompt, the
personas, how the split was made, and the licence of the data the personas
were built from. It is written from the run's manifest and the export's own
counts, never from the environment.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from analysis.pii import scrub
from personas.atomic import write_text_atomically

MARKER = "<!-- simfolk dataset card: rewritten by `simfolk export dialogues --card` -->"

# What is known of the terms of the data personas are built from (others: the user's own).
SOURCE_TERMS = {
    "ml-latest-small": "MovieLens latest-small (GroupLens): research use; redistribution "
    "allowed under its licence, which must go with it",
    "ml-100k": "MovieLens 100K (GroupLens): research use; no redistribution of the ratings "
    "without GroupLens' permission (the dialogues hold no ratings)",
    "ml-1m": "MovieLens 1M (GroupLens): research use; no redistribution of the ratings "
    "without GroupLens' permission (the dialogues hold no ratings)",
}
CONVAI2_TERMS = "ConvAI2 (2018): released publicly by the competition; cite ConvAI2"


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < bound:
            return label
    return "100K<n<1M"


def card_text(
    manifest: Mapping[str, Any],
    files: Mapping[str, str],
    counts: Mapping[str, int],
    records: Sequence[Mapping[str, Any]],
    summaries: Sequence[str],
) -> str:
    """The card's Markdown.

    Args:
        manifest: The chat run's manifest.json, as data.
        files: Split name → the data file's name, relative to the card.
        counts: Split name → dialogues written to it.
        records: The metadata of every record written (stop reasons, satisfaction).
        summaries: The summaries of the personas whose dialogues were written.
    """
    config = manifest.get("config") or {}
    chatbot = config.get("chatbot") or {}
    models = manifest.get("models") or {}
    dataset = manifest.get("dataset") or {}
    source = str(dataset.get("name") or "unknown")
    stop = (manifest.get("stop_model") or {}).get("source") or ""
    header = {
        "pretty_name": f"simfolk synthetic dialogues: {config.get('scenario', 'chat')}",
        "language": ["en"],
        "license": "other",
        "license_name": "see the card: the terms of the source data",
        "tags": ["synthetic", "user-simulation", "simfolk"],
        "task_categories": ["text-generation"],
        "size_categories": [_size_category(sum(counts.values()))],
        "source_datasets": [source],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": split, "path": name} for split, name in files.items()],
            }
        ],
    }
    lines = ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---"]
    lines += [MARKER, "", f"# Synthetic dialogues: {config.get('scenario', 'a chat run')}", ""]
    lines += [
        "Simulated users (personas) talking to a chatbot, written by simfolk. Every user",
        "message was written by a language model playing a persona; none is from a person.",
        "",
        "## Provenance",
        "",
        "| | |",
        "|---|---|",
        f"| simfolk | {(manifest.get('versions') or {}).get('simfolk') or '?'} |",
        f"| run id | `{manifest.get('run_id', '?')}` |",
        f"| scenario | {config.get('scenario', '?')} |",
        f"| root seed | {manifest.get('root_seed', '?')} |",
        f"| user model | {models.get('user', '?')} |",
        f"| chatbot | {models.get('chatbot', '?')} |",
        f"| personas built from | {source} (sha256 `{str(dataset.get('sha256', ''))[:12]}`) |",
        f"| stop model | {stop or '?'} |",
        "",
        "## The chatbot's system prompt",
        "",
    ]
    if chatbot.get("kind") in ("python", "langgraph"):
        lines.append(
            f"The chatbot is code (`{chatbot.get('ref')}`): simfolk knows no prompt of it."
        )
    else:
        prompt = str(chatbot.get("system_prompt", ""))
        # A fence longer than any run of backticks in the prompt: the prompt cannot close it.
        fence = "`" * max(3, 1 + max((len(r) for r in re.findall(r"`+", prompt)), default=0))
        lines += [f"{fence}text", prompt, fence]
    reasons = Counter(str(r.get("stop_reason")) for r in records)
    rated = [float(r["satisfaction"]) for r in records if r.get("satisfaction") is not None]
    lines += ["", "## Personas", ""]
    lines.append(
        f"{len(summaries)} personas, one dialogue each. Why dialogues ended: "
        + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items()))
        + (f". Mean satisfaction (1-5): {sum(rated) / len(rated):.2f}." if rated else ".")
    )
    lines += ["", "Some of them:", ""]
    lines += [f"- {summary}" for summary in summaries[:5]]
    lines += ["", "## Splits", ""]
    lines += [f"- `{split}`: {counts[split]} dialogues in `{files[split]}`" for split in files]
    if len(files) > 1:
        lines += [
            "",
            "Split by persona: all of a persona's dialogues are on one side, so a model",
            "trained on `train` has never met a `test` persona. Who goes where is keyed on",
            "the run's seed and the persona's id, so the same export gives the same split.",
        ]
    lines += ["", "## Source data and licence", ""]
    lines.append(f"- Personas: {SOURCE_TERMS.get(source, f'{source}: the terms of that data')}.")
    if "convai2" in stop.lower():
        lines.append(f"- The stop model was fitted on human chats: {CONVAI2_TERMS}.")
    lines.append("- The models' own licences apply to what they wrote.")
    return "\n".join(lines) + "\n"


def write_card(
    manifest_path: Path,
    path: Path,
    files: Mapping[str, tuple[Path, int]],
    records: Sequence[Mapping[str, Any]],
    scrub_pii: bool,
) -> Path:
    """Write the card of an export to `path` (see :func:`card_text`); return it.

    Args:
        manifest_path: The chat run's manifest.json.
        path: Where the card goes (README.md beside the data files).
        files: Split name → (the file written, dialogues in it).
        records: The metadata of every record written.
        scrub_pii: Mask personal data in the system prompt too, as in the dialogues.
    """
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    bot = (manifest.get("config") or {}).get("chatbot") or {}
    if scrub_pii and isinstance(bot.get("system_prompt"), str):
        bot["system_prompt"] = scrub(bot["system_prompt"])[0]
    summaries = {r["persona_id"]: r["persona_summary"] for r in records}
    text = card_text(
        manifest,
        {name: file.name for name, (file, _) in files.items()},
        {name: count for name, (_, count) in files.items()},
        records,
        list(summaries.values()),
    )
    write_text_atomically(path, text)
    return path


def card_path(out: Path) -> Path:
    """Where the card of an export to `out` goes: README.md beside it."""
    return out.parent / "README.md"


def may_write_card(path: Path) -> bool:
    """Whether `path` is free for a card: absent, or a card simfolk wrote before."""
    if not path.exists():
        return True
    try:
        return MARKER in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
