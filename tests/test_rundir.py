"""One run per folder: locked for its life, never mixed with another, resumable from any kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.frames import TraceError, load_events
from simulator.core.manifest import read_manifest
from simulator.core.rundir import RunDirError, hold, run_id
from simulator.domains.chat.config import ChatConfig
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.run import simulate
from simulator.domains.search.config import SearchConfig
from simulator.scenario import load_scenario

SCENARIO = Path(__file__).parents[1] / "scenarios" / "movielens_week.py"


def _status(out: Path) -> str | None:
    try:
        return json.loads((out / "manifest.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        return None  # not there yet, or being replaced


def test_a_second_run_is_refused_and_a_kill_while_starting_resumes(tmp_path, event_digests):
    options = {"personas": 30, "days": 3, "seed": 7, "target": "popularity"}
    config = load_scenario(str(SCENARIO)).CONFIG.model_copy(update=options)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "simulator.cli", "run", str(SCENARIO), "--out", str(out)]
    for key, value in options.items():
        args += [f"--{key}", str(value)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _status(out) is None and time.monotonic() < deadline:
            time.sleep(0.002)
        with pytest.raises(RunDirError, match="another simfolk process is writing"):
            simulate(config.model_copy(update={"seed": 2}), out)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert _status(out) == "starting", "the run got past its start before it could be killed"
    resumed = simulate(config, out, resume=True)
    assert resumed.complete and not resumed.resumed  # started over, in the same folder
    reference = simulate(config, tmp_path / "reference")
    assert event_digests(out) == event_digests(reference.run_dir)


def test_a_held_folder_refuses_a_run_and_an_ab_run(small_config, tmp_path):
    out = tmp_path / "held"
    with hold(out):
        with pytest.raises(RunDirError, match="another simfolk process"):
            simulate(small_config, out)
        with pytest.raises(RunDirError, match="another simfolk process"):
            simulate_ab(small_config, {"a": "random", "b": "popularity"}, out, workers=1)
    assert not (out / "manifest.json").exists() and not (out / "ab.json").exists()


def test_a_fresh_start_refuses_a_folder_of_other_files_or_a_file(small_config, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(RunDirError, match=r"mine: holds files that are not a simfolk run \(notes"):
        simulate(small_config, out)
    with pytest.raises(RunDirError, match="not a simfolk A/B run"):
        simulate_ab(small_config, {"a": "random", "b": "popularity"}, out, workers=1)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        simulate(small_config, tmp_path / "file")


def test_a_run_is_named_by_its_config(small_config, tmp_path):
    first = simulate(small_config, tmp_path / "a").run_dir
    again = simulate(small_config, tmp_path / "b").run_dir
    other = simulate(small_config.model_copy(update={"seed": 8}), tmp_path / "c").run_dir
    ids = [json.loads((d / "manifest.json").read_text())["run_id"] for d in (first, again, other)]
    assert ids[0] == ids[1] != ids[2] and len(ids[0]) == 16
    # Where the system under test is reached is not part of what the run is.
    assert run_id(small_config.model_copy(update={"target": "http://127.0.0.1:1"})) == ids[0]
    for config in (small_config, ChatConfig(), SearchConfig()):
        assert type(config).SYSTEM_UNDER_TEST in type(config).model_fields  # a real field
    assert run_id(SearchConfig(engine="bm25-minilm")) == run_id(SearchConfig())
    assert run_id(SearchConfig(seed=1)) != run_id(SearchConfig())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, small_config):
    root = tmp_path_factory.mktemp("two")
    config = small_config.model_copy(update={"part_rows": 300})
    mine = simulate(config, root / "mine").run_dir
    theirs = simulate(config.model_copy(update={"seed": 2}), root / "theirs").run_dir
    return mine, theirs


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def test_readers_refuse_a_missing_a_foreign_or_a_changed_part(two_runs, tmp_path):
    mine, theirs = two_runs
    parts = sorted((mine / "events").iterdir())
    assert len(parts) >= 3 and load_events(mine).height == read_manifest(mine)["events"]

    gap = _copy(mine, tmp_path / "gap")
    (gap / "events" / "part-00000.parquet").unlink()
    with pytest.raises(TraceError, match=r"part-00000\.parquet: missing"):
        load_events(gap)

    extra = _copy(mine, tmp_path / "extra")
    stray = extra / "events" / f"part-{len(parts):05d}.parquet"
    shutil.copy(theirs / "events" / "part-00000.parquet", stray)
    with pytest.raises(TraceError, match=rf"{stray.name} is not this run's"):
        load_events(extra)

    swapped = _copy(mine, tmp_path / "swapped")
    shutil.copy(theirs / "events" / "part-00001.parquet", swapped / "events" / "part-00001.parquet")
    with pytest.raises(TraceError, match=r"00001\.parquet: (written by another run|its sha256)"):
        load_events(swapped)


def test_compare_exits_non_zero_naming_the_missing_part(two_runs, tmp_path):
    gap = _copy(two_runs[0], tmp_path / "gap")
    (gap / "events" / "part-00001.parquet").unlink()
    args = [sys.executable, "-m", "simulator.cli", "compare", str(gap)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    said = (result.stdout + result.stderr).replace("\n", "")  # the console wraps long lines
    assert result.returncode != 0 and "Traceback" not in said
    assert "part-00001.parquet: missing" in said


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its entry is left


@pytest.mark.skipif(
    not Path("/proc").is_dir() or (os.cpu_count() or 1) < 2, reason="Linux, 2 cores"
)
def test_killing_an_ab_run_kills_its_workers(tmp_path):
    scenario = Path(__file__).parents[1] / "scenarios" / "ab_recommenders.py"
    out = tmp_path / "ab"
    args = [sys.executable, "-m", "simulator.cli", "ab", str(scenario), "--out", str(out)]
    args += ["--arm", "a=random", "--arm", "b=popularity", "--personas", "200", "--days", "30"]
    args += ["--workers", "2"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        arms = [out / "arms" / name for name in ("a", "b")]
        while not all(_status(a) for a in arms) and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = [pid for pid in _children(process.pid) if "spawn" in _cmdline(pid)]
        assert len(workers) == 2, "the arms did not run in two worker processes"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), "workers outlived the killed A/B run"
    assert any(_status(a) != "complete" for a in arms), "the arms finished before the kill"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
