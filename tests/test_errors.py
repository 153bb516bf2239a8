"""Errors people see: one line naming the file and the reason, as text, never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from simulator.cli.app import shown


def _simfolk(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "simulator.cli", *args]
    wide = {**os.environ, "COLUMNS": "10000"}  # no wrapping mid-word, whatever the path's length
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=wide)


def test_markup_and_control_bytes_in_user_text_are_printed_as_text(tmp_path):
    strange = tmp_path / "run [/x] \x1b[31mred"
    result = _simfolk("compare", str(strange))
    said = (result.stdout + result.stderr).replace("\n", "")
    assert result.returncode == 2 and "Traceback" not in said
    assert "[/x]" in said and "\x1b" not in said and "\\x1b[31mred" in said


def test_shown_keeps_ordinary_text_and_escapes_the_rest():
    assert shown("plain: line\n\ttab") == "plain: line\n\ttab"
    assert shown("a\x07b") == "a\\x07b"
    assert shown("[bold]x[/bold]") == "\\[bold]x\\[/bold]"


CONFIG = "from simulator.domains.recsys.config import RunConfig\nCONFIG = RunConfig(scenario='x')\n"
SCENARIOS = {
    "syntax": ("def run(:\n", r"line 1: not valid Python"),
    "nul": ("x = 1\0\n", r"not valid Python"),
    "import": ("import no_such_module_here\n", r"failed while loading \(ModuleNotFoundError"),
    "raising": (
        CONFIG + "def run(config, out, **o):\n    raise RuntimeError('boom')\n",
        r"run\(\) raised RuntimeError: boom",
    ),
    "none": (CONFIG + "def run(config, out, **o):\n    return None\n", r"run\(\) returned None"),
}


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_a_broken_scenario_is_one_line_naming_its_file(case, tmp_path):
    source, reason = SCENARIOS[case]
    script = tmp_path / f"broken_{case}.py"
    script.write_bytes(source.encode())
    result = _simfolk("run", str(script), "--out", str(tmp_path / "out"))
    said = (result.stdout + result.stderr).replace("\n", "")
    assert result.returncode == 2 and "Traceback" not in said
    assert script.name in said and re.search(reason, said), said


@pytest.mark.parametrize("text", ["[]", '"a run"', "\xff\xfe"])
def test_a_manifest_that_is_not_an_object_is_named(text, tmp_path):
    (tmp_path / "manifest.json").write_bytes(text.encode("latin-1"))
    result = _simfolk("report", str(tmp_path))
    said = (result.stdout + result.stderr).replace("\n", "")
    assert result.returncode == 2 and "Traceback" not in said and "manifest.json" in said
