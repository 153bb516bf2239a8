"""Every loader and run-folder reader, fed damaged files: a clear error naming the file, or success.

Each case starts from a valid file, damages it (cuts it short, flips or inserts
bytes, drops or repeats a line, splices in a hostile token) and reads it back.
The reader may accept the result; if it refuses, it must raise the error the
command line turns into one line (a ValueError or OSError) and name the path.
Any other exception, or a message without the path, fails the test.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_datasets import small, write

from analysis.dialogues import load_convai2
from analysis.frames import load_events, load_timeseries, run_personas
from personas.conversation import load_goals
from personas.datasets import load_dataset
from personas.datasets.lastfm import FRIENDS_FILE, PLAYS_FILE, load_lastfm
from personas.io import load_personas, save_personas
from simulator.core.checkpoint import load_checkpoint
from simulator.core.manifest import read_manifest
from simulator.llm import read_calls
from simulator.llm.ledger import CallLedger

HOSTILE = (
    b"\x00", b"\xff\xfe", b"\x1b[31m", b"[/x]", b"\n", b"\r\n", b",", b"::", b"|", b"\t",
    b"-1", b"1e309", b"NaN", b"true", b'"5"', b"9" * 25, b'"', b"{", b"}", b"[", b"]",
    b"*a", b"&a ", b"\\ud800", "\u00e9".encode("latin-1"), b"    ",
)  # fmt: skip

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with one to three edits."""
    data = original
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(len(data), 1)))
        kind = draw(st.sampled_from(["cut", "flip", "insert", "token", "drop", "repeat"]))
        lines = data.split(b"\n")
        line = draw(st.integers(0, max(len(lines) - 1, 0)))
        if kind == "cut":
            data = data[:at]
        elif kind == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif kind == "token":
            data = data[:at] + draw(st.sampled_from(HOSTILE)) + data[at:]
        elif kind == "drop":
            data = b"\n".join(lines[:line] + lines[line + 1 :])
        elif kind == "repeat":
            data = b"\n".join(lines[: line + 1] + lines[line:])
    return data


def clear_or_fine(read: Callable[[], Any], named: Path) -> None:
    """Run `read`: it succeeds, or refuses with an error that names `named`."""
    try:
        read()
    except (ValueError, OSError) as exc:
        assert str(named) in str(exc), f"{type(exc).__name__} does not name {named}: {exc}"


def _damage(data: st.DataObject, path: Path) -> None:
    path.write_bytes(data.draw(damaged(path.read_bytes()), label=path.name))


# -- datasets ------------------------------------------------------------------------------------

FILES = {
    "ml-100k": ["u.data", "u.item", "u.user", "u.genre"],
    "ml-1m": ["ratings.dat", "movies.dat", "users.dat"],
    "ml-latest": ["ratings.csv", "movies.csv"],
}


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(sorted(FILES)))
def test_movielens_folders(tmp_path_factory: pytest.TempPathFactory, data: Any, fmt: str) -> None:
    folder = write(small(fmt), tmp_path_factory.mktemp(fmt))
    files = [name for name in FILES[fmt] if (folder / name).is_file()]
    _damage(data, folder / data.draw(st.sampled_from(files)))
    clear_or_fine(lambda: load_dataset(folder), folder)


@FUZZ
@given(data=st.data())
def test_lastfm_folders(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    folder = tmp_path_factory.mktemp("fm")
    plays = "userID\tartistID\tweight\n" + "".join(
        f"{u}\t{a}\t{u * a}\n" for u in (1, 2) for a in (1, 2, 3)
    )
    (folder / PLAYS_FILE).write_text(plays, encoding="latin-1")
    (folder / FRIENDS_FILE).write_text("userID\tfriendID\r\n1\t2\r\n2\t1\r\n", encoding="latin-1")
    _damage(data, folder / data.draw(st.sampled_from([PLAYS_FILE, FRIENDS_FILE])))
    clear_or_fine(lambda: load_lastfm(folder), folder)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(["csv", "tsv", "parquet", "jsonl"]))
def test_interaction_log_folders(
    tmp_path_factory: pytest.TempPathFactory, data: Any, fmt: str
) -> None:
    from personas.datasets.export import write_log
    from personas.datasets.mapping import MAPPING_FILE

    source = load_dataset(write(small("ml-latest"), tmp_path_factory.mktemp("ml")))
    folder = write_log(source, tmp_path_factory.mktemp("log"), fmt, name="small")  # type: ignore[arg-type]
    names = [MAPPING_FILE, f"interactions.{fmt}", f"items.{fmt}", f"users.{fmt}"]
    _damage(data, folder / data.draw(st.sampled_from(names)))
    clear_or_fine(lambda: load_dataset(folder), folder)


# -- persona, goal and dialogue files -------------------------------------------------------------


@pytest.fixture(scope="module")
def a_persona_file(tmp_path_factory: pytest.TempPathFactory, prepared: Any) -> Path:
    from personas.builder import build_personas

    users = prepared.split.train["user_id"].unique().sort()[:2].to_list()
    personas = build_personas(
        prepared.dataset, prepared.split.train, users, space=prepared.space, split_label="t"
    )
    return save_personas(personas, tmp_path_factory.mktemp("personas") / "personas.json")


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".json", ".yaml"]))
def test_persona_files(
    tmp_path_factory: pytest.TempPathFactory, a_persona_file: Path, data: Any, suffix: str
) -> None:
    path = tmp_path_factory.mktemp("p") / f"people{suffix}"
    save_personas(load_personas(a_persona_file), path)
    _damage(data, path)
    clear_or_fine(lambda: load_personas(path), path)


@FUZZ
@given(data=st.data())
def test_goal_files(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    path = tmp_path_factory.mktemp("g") / "goals.yaml"
    shutil.copy(Path(__file__).parents[1] / "scenarios" / "support_goals.yaml", path)
    _damage(data, path)
    clear_or_fine(lambda: load_goals(path), path)


@FUZZ
@given(data=st.data())
def test_convai2_files(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    path = tmp_path_factory.mktemp("c") / "chats.json"
    message = {
        "id": 1,
        "sender": "a",
        "sender_class": "Human",
        "text": "hi",
        "evaluation_score": None,
    }
    bot = {**message, "id": 2, "sender_class": "Bot", "text": "hello"}
    path.write_text(json.dumps([{"dialog": [message, bot], "eval_score": 4}]), encoding="utf-8")
    _damage(data, path)
    clear_or_fine(lambda: load_convai2(path), path)


@FUZZ
@given(data=st.data(), name=st.sampled_from(["chats.json", "chats.jsonl"]))
def test_transcript_files(tmp_path_factory: pytest.TempPathFactory, data: Any, name: str) -> None:
    from analysis.transcripts import load_transcripts

    path = tmp_path_factory.mktemp("t") / name
    turns = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    if name.endswith(".jsonl"):
        path.write_text(json.dumps({"messages": messages}) + "\n", encoding="utf-8")
    else:
        path.write_text(json.dumps([{"conversations": turns}]), encoding="utf-8")
    _damage(data, path)
    clear_or_fine(lambda: load_transcripts(path), path)


# -- run folders ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paused_run(tmp_path_factory: pytest.TempPathFactory, small_config: Any) -> Path:
    """A run paused after day 1: manifest, personas, parts, time series, checkpoint, ledger."""
    from simulator.domains.recsys.run import simulate

    config = small_config.model_copy(update={"days": 2, "checkpoint_every_days": 1})
    out = simulate(config, tmp_path_factory.mktemp("run") / "r", until_day=1).run_dir
    ledger = CallLedger(out, part_rows=2)
    for i in range(3):
        ledger.record(
            purpose="decide", persona_id="p", t=float(i), model="m", attempt=0, repair=0,
            cache_hit=False, ok=True, error=None, prompt_tokens=i, completion_tokens=1,
            latency_s=0.1, cost_usd=None,
        )  # fmt: skip
    ledger.close()
    return out


READERS: dict[str, Callable[[Path], Any]] = {
    "manifest.json": read_manifest,
    "personas.json": run_personas,
    "events/part-00000.parquet": load_events,
    "timeseries.parquet": load_timeseries,
    "checkpoint.msgpack": load_checkpoint,
    "llm_calls/part-00000.parquet": read_calls,
    "llm_calls/journal.jsonl": read_calls,
}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(READERS)))
def test_run_folder_readers(
    tmp_path_factory: pytest.TempPathFactory, paused_run: Path, data: Any, name: str
) -> None:
    run_dir = Path(shutil.copytree(paused_run, tmp_path_factory.mktemp("copy") / "r"))
    target = run_dir / name
    if not target.exists():
        target.write_bytes(b"")
    _damage(data, target)
    for reader in {READERS[name], load_events, run_personas, read_manifest}:
        clear_or_fine(lambda reader=reader: reader(run_dir), run_dir)


@settings(FUZZ, max_examples=30)
@given(data=st.data(), name=st.sampled_from(sorted({*READERS, "calibration.json"})))
def test_resume_reads_a_damaged_run_folder_or_names_what_is_wrong(
    tmp_path_factory: pytest.TempPathFactory,
    paused_run: Path,
    small_config: Any,
    data: Any,
    name: str,
) -> None:
    from simulator.domains.recsys.run import simulate

    config = small_config.model_copy(update={"days": 2, "checkpoint_every_days": 1})
    run_dir = Path(shutil.copytree(paused_run, tmp_path_factory.mktemp("copy") / "r"))
    if not (run_dir / name).exists():
        (run_dir / name).write_bytes(b"{}")
    _damage(data, run_dir / name)
    clear_or_fine(lambda: simulate(config, run_dir, resume=True), run_dir)


@FUZZ
@given(data=st.data())
def test_scenario_files(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    from simulator.scenario import load_scenario

    path = tmp_path_factory.mktemp("s") / "week.py"
    shutil.copy(Path(__file__).parents[1] / "scenarios" / "movielens_week.py", path)
    _damage(data, path)
    clear_or_fine(lambda: load_scenario(str(path)), path)
