"""Human transcripts in ShareGPT and OpenAI-messages form read like ConvAI2, and compare alike."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.dialogue_compare import compare_dialogues
from analysis.dialogues import DialogueError, DialogueSet, load_convai2
from analysis.transcripts import load_transcripts

Chat = list[tuple[str, str]]  # (role, text), role "user" or "assistant"


def _convai2(chats: list[Chat]) -> str:
    return json.dumps(
        [
            {
                "dialog": [
                    {"sender_class": "Human" if r == "user" else "Bot", "text": t} for r, t in c
                ]
            }
            for c in chats
        ]
    )


def _sharegpt(chats: list[Chat], lines: bool = False) -> str:
    system = {"from": "system", "value": "You are a helpful assistant."}
    records = [
        {
            "id": str(i),
            "conversations": [system]
            + [{"from": "human" if r == "user" else "gpt", "value": t} for r, t in c],
        }
        for i, c in enumerate(chats)
    ]
    return "\n".join(json.dumps(r) for r in records) if lines else json.dumps(records)


def _openai(chats: list[Chat], lines: bool = True) -> str:
    def content(role: str, text: str) -> object:
        # Users' turns as a list of parts, the assistant's as a string: both shapes occur.
        return [{"type": "text", "text": text}] if role == "user" else text

    records = [
        {
            "messages": [{"role": "system", "content": "Be brief."}]
            + [{"role": r, "content": content(r, t)} for r, t in c]
            + [{"role": "tool", "content": "{}", "tool_call_id": "x"}] * (i % 2)
        }
        for i, c in enumerate(chats)
    ]
    return "\n".join(json.dumps(r) for r in records) if lines else json.dumps(records)


WRITERS = {
    "sharegpt.json": lambda chats: _sharegpt(chats),
    "sharegpt.jsonl": lambda chats: _sharegpt(chats, lines=True),
    "openai.jsonl": lambda chats: _openai(chats),
    "openai.json": lambda chats: _openai(chats, lines=False),
}

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
chats = st.lists(
    st.lists(st.tuples(st.sampled_from(["user", "assistant"]), texts), min_size=1, max_size=6),
    min_size=1,
    max_size=5,
)


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"chats.{name.split('.')[-1]}"
    path.write_text(text, encoding="utf-8")
    return path


def _same(a: DialogueSet, b: DialogueSet) -> bool:
    return a.messages.equals(b.messages) and a.dialogues.equals(b.dialogues)


@given(chats=chats, name=st.sampled_from(sorted(WRITERS)))
def test_every_format_reads_as_the_same_dialogues_as_convai2(tmp_path_factory, chats, name):
    folder = tmp_path_factory.mktemp("t")
    reference = load_convai2(_write(folder / "convai2", "x.json", _convai2(chats)))
    path = _write(folder / name.replace(".", "-"), name, WRITERS[name](chats))
    assert _same(load_transcripts(path), reference)  # told from the content
    stated = name.split(".")[0]
    assert _same(load_transcripts(path, stated), reference)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def convai2_chats() -> list[Chat]:
    data = os.environ.get("SIMFOLK_DATA")
    if not data or not (Path(data) / "convai2").is_dir():
        pytest.skip("needs the ConvAI2 chats in $SIMFOLK_DATA/convai2")
    real = load_convai2(Path(data) / "convai2" / "data_intermediate.json")
    return [c for c in real.conversations().values() if c][:400]


def test_the_metrics_floor_and_ratio_are_those_of_convai2(tmp_path, convai2_chats):
    simulated = load_convai2(_write(tmp_path / "sim", "x.json", _convai2(convai2_chats[:150])))
    people = convai2_chats[150:]
    reference = compare_dialogues(
        simulated, load_convai2(_write(tmp_path / "c", "x.json", _convai2(people))), against="h"
    )
    for name, write in WRITERS.items():
        real = load_transcripts(_write(tmp_path / name.replace(".", "-"), name, write(people)))
        assert compare_dialogues(simulated, real, against="h").as_dict() == reference.as_dict()


@pytest.mark.parametrize(
    ("text", "name", "fmt", "message"),
    [
        ('[{"foo": 1}]', "x.json", "auto", r"expected ConvAI2 JSON \(a list of \{dialog"),
        (
            '{"messages": []}\n{"messages": [{"role": "robot"}]}',
            "x.jsonl",
            "auto",
            r"line 2, field messages\[0\]\.role",
        ),
        ('{"messages": []}\nnot json', "x.jsonl", "auto", "line 2: not JSON"),
        (
            '[{"conversations": [{"from": "human", "value": 3}]}]',
            "x.json",
            "auto",
            r"dialogue 0, field conversations\[0\]\.value",
        ),
        (
            '[{"messages": [{"role": "user", "content": "hi"}]}]',
            "x.json",
            "sharegpt",
            r"field conversations: .*\(read as sharegpt\)",
        ),
        (
            '{"dialog": []}\n{"dialog": []}',
            "x.jsonl",
            "auto",
            "ConvAI2 dialogues are one JSON list",
        ),
        ("[]", "x.json", "yaml", "--format 'yaml': choose one of auto, convai2, sharegpt, openai"),
    ],
)
def test_a_file_that_does_not_fit_is_named_with_the_place_and_reason(
    tmp_path, text, name, fmt, message
):
    path = _write(tmp_path, name, text)
    with pytest.raises(DialogueError, match=message) as refused:
        load_transcripts(path, fmt)
    if fmt != "yaml":
        assert str(path) in str(refused.value)


def test_a_folder_reads_every_file_and_an_empty_one_is_refused(tmp_path):
    _write(tmp_path / "mixed", "x.jsonl", _openai([[("user", "a"), ("assistant", "b")]]))
    (tmp_path / "mixed" / "more.json").write_text(_sharegpt([[("user", "c")]]))
    loaded = load_transcripts(tmp_path / "mixed")
    assert loaded.ids() == ["chats:0", "more:0"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DialogueError, match=r"no \*\.json or \*\.jsonl files"):
        load_transcripts(tmp_path / "empty")


def test_the_own_transcripts_scenario_compares_a_run_with_an_assistants_export(
    tmp_path, convai2_chats, monkeypatch
):
    from typer.testing import CliRunner

    from simulator.cli import app
    from simulator.scenario import load_scenario

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    module = load_scenario(str(Path(__file__).parents[1] / "scenarios" / "own_transcripts.py"))
    people = convai2_chats[:60]
    convai2 = _write(tmp_path / "convai2", "x.json", _convai2(people))
    export = module.write_as_your_transcripts(convai2, tmp_path / "ours.jsonl")
    records = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(people)
    assert {r["messages"][0]["role"] for r in records} == {"system"}
    config = module.CONFIG.model_copy(update={"personas": 3, "max_turns": 2})
    result = module.run(config, tmp_path / "run")
    assert result.complete and result.dialogues == 3

    # The CLI reads the export as exactly the same chats written as ConvAI2 (same file stem,
    # same order, so the same ids and the same random halves for the floor).
    turns = [[(m["role"], m["content"]) for m in r["messages"][1:]] for r in records]
    (tmp_path / "ref").mkdir()
    reference_file = tmp_path / "ref" / "ours.json"
    reference_file.write_text(_convai2(turns), encoding="utf-8")
    runner = CliRunner()
    answers = []
    for against, fmt in [(export, "auto"), (export, "openai"), (reference_file, "convai2")]:
        args = ["compare", str(result.run_dir), "--against", str(against), "--json"]
        done = runner.invoke(app, [*args, "--format", fmt])
        assert done.exit_code == 0, done.output
        answers.append(json.loads(done.output))
    ours, stated, reference = answers
    assert ours["real_dialogues"] == reference["real_dialogues"] > 0
    assert ours["rows"] == stated["rows"] == reference["rows"]
    read = load_transcripts(export).conversations().values()
    assert sorted(read) == sorted(load_convai2(convai2).conversations().values())
    assert module.compare_with(result.run_dir, export).as_dict()["rows"] == ours["rows"]
