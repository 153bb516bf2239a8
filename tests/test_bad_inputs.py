"""Bad input that once passed silently or ended in a traceback: each a clear, named refusal."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.frames import TraceError, load_timeseries, run_personas
from analysis.report import ReportIncomplete, write_report
from personas.builder import build_personas
from personas.datasets import load_dataset
from simulator.domains.recsys.catalog import check_factor_lengths
from simulator.domains.recsys.run import simulate

MOVIES = "movieId,title,genres\n" + "".join(
    f"{i},Film {i} (1995),Comedy|Drama\n" for i in range(1, 41)
)


def _dataset(folder: Path, users: int, per_user: int) -> Path:
    """A small ml-latest folder: `users` users with `per_user` ratings a day apart."""
    folder.mkdir(parents=True)
    (folder / "movies.csv").write_text(MOVIES, encoding="utf-8")
    draw = random.Random(3)
    rows = ["userId,movieId,rating,timestamp"]
    for user in range(1, users + 1):
        rows += [
            f"{user},{k + 1},{draw.randint(1, 5)}.0,{964_982_703 + k * 86_400}"
            for k in range(per_user)
        ]
    (folder / "ratings.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _simfolk(*args: str | Path) -> tuple[int, str]:
    command = [sys.executable, "-m", "simulator.cli", *map(str, args)]
    wide = {**os.environ, "COLUMNS": "10000"}  # one message, one line: no wrapping mid-word
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=wide)
    said = (done.stdout + done.stderr).replace("\n", " ")
    assert "Traceback" not in said, said
    return done.returncode, said


def test_no_user_with_enough_history_to_calibrate_is_named(tmp_path):
    data = _dataset(tmp_path / "short", users=3, per_user=2)
    code, said = _simfolk(
        "run", "movielens_week", "--dataset", data, "--days", "1", "--out", tmp_path / "out"
    )
    assert code == 2 and str(data) in said and "min_train=5" in said, said


def test_personas_beyond_the_users_are_said_to_be_sampled(tmp_path):
    data = _dataset(tmp_path / "five", users=5, per_user=30)
    out = tmp_path / "out"
    code, said = _simfolk(
        "run", "movielens_week", "--dataset", data, "--days", "1", "--personas", 8,
        "--out", out,
    )  # fmt: skip
    assert code == 0 and "has 5 train users; the other 3 personas are drawn" in said, said
    files = json.loads((out / "manifest.json").read_text())["personas"]
    assert files["count"] == 8 and files["sampled"]["count"] == 3
    code, said = _simfolk(
        "run", "movielens_week", "--dataset", data, "--days", "1", "--personas", 10**20,
        "--out", tmp_path / "huge",
    )  # fmt: skip
    assert code == 2 and "personas" in said and "10000000" in said, said


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, small_config):
    return simulate(small_config, tmp_path_factory.mktemp("run") / "r").run_dir


def _copy(run_dir: Path, where: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, where / "copy"))


def test_readers_refuse_a_persona_file_changed_after_the_run(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    assert len(run_personas(run_dir)) == 12
    path = run_dir / "personas.json"
    path.write_bytes(path.read_bytes().replace(b'"bias": ', b'"bias": 1', 1))
    with pytest.raises(ValueError, match=r"personas\.json: the persona file changed since"):
        run_personas(run_dir)
    code, said = _simfolk("compare", run_dir)
    assert code == 2 and "the persona file changed since the run started" in said


def test_a_corrupt_time_series_is_named(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    assert load_timeseries(run_dir) is not None
    (run_dir / "timeseries.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TraceError, match=r"timeseries\.parquet: unreadable time series"):
        load_timeseries(run_dir)
    code, said = _simfolk("report", run_dir)
    assert code == 2 and "timeseries.parquet: unreadable" in said


def test_report_exits_non_zero_when_a_section_shows_an_error(finished_run, tmp_path):
    run_dir = _copy(finished_run, tmp_path)
    write_report(run_dir, strict=True)  # a whole run: every section filled
    (run_dir / "events" / "part-00000.parquet").unlink()
    with pytest.raises(ReportIncomplete, match=r"section\(s\) show an error.*part-00000"):
        write_report(run_dir, strict=True)
    assert "part-00000" in (run_dir / "report.html").read_text(encoding="utf-8")
    code, said = _simfolk("report", run_dir)
    assert code == 2 and "written, but" in said


def test_a_factor_vector_of_the_wrong_length_is_refused(prepared):
    users = prepared.split.train["user_id"].unique().sort()[:1].to_list()
    (persona,) = build_personas(
        prepared.dataset, prepared.split.train, users, space=prepared.space, split_label="t"
    )
    check_factor_lengths(persona, prepared.catalog)
    short = persona.taste.model_copy(update={"choice_factors": persona.taste.choice_factors[:-1]})
    with pytest.raises(ValueError, match=r"taste\.choice_factors has \d+ values.*rebuild"):
        check_factor_lengths(persona.model_copy(update={"taste": short}), prepared.catalog)


def test_the_fixture_dataset_loads(tmp_path):
    # The other tests' dataset is valid, so their refusals are about what they change.
    assert load_dataset(_dataset(tmp_path / "ok", users=2, per_user=3)).ratings.height == 6


def test_a_goal_text_longer_than_a_page_is_refused(tmp_path):
    from personas.conversation import GOAL_TEXT_MAX, load_goals

    path = tmp_path / "goals.yaml"
    path.write_text(
        f"- id: huge\n  want: {'x' * 1_000_000}\n  done_when: never\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=rf"goals\[0\]\.want: String should have at most "
                       rf"{GOAL_TEXT_MAX} characters"):  # fmt: skip
        load_goals(path)


def test_a_paused_run_reports_without_failing(tmp_path, small_config):
    paused = simulate(small_config, tmp_path / "paused", until_day=1)
    path = write_report(paused.run_dir, strict=True)  # its missing table is no fault
    assert "paused" in path.read_text(encoding="utf-8")
