"""Design decisions checked on the source: simulated time only, keyed randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted(p for package in ("simulator", "personas") for p in (ROOT / package).rglob("*.py"))
WALL_CLOCK = {
    ("time", "time"),
    ("time", "monotonic"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
}
GLOBAL_NUMPY = {
    "seed",
    "rand",
    "randn",
    "randint",
    "random",
    "choice",
    "normal",
    "uniform",
    "exponential",
    "shuffle",
    "permutation",
    "poisson",
    "binomial",
}
# Durations reported to the user or written to the LLM ledger, never fed to agents.
ALLOWED = {
    (path, "perf_counter")
    for path in (
        "simulator/domains/recsys/run.py",
        "simulator/domains/chat/run.py",  # the run's wall time, for dialogues per minute
        "simulator/domains/search/run.py",  # the run's wall time, for sessions per second
        "simulator/experiments/llm_load.py",
        "simulator/experiments/validity.py",  # the bench's own wall times
        "simulator/experiments/social.py",  # the bench's own wall time
        "simulator/experiments/search_bench.py",  # the bench's own wall times
        "simulator/experiments/service.py",  # how long a service may take to start
        "simulator/llm/client.py",  # request latency, for the ledger
        "simulator/llm/server.py",  # start time and the health-check deadline
        "personas/anthology.py",  # the backstory report's wall time
    )
}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            yield name, node.func.attr, node.lineno


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_wall_clock_and_no_global_rng(path):
    relative = str(path.relative_to(ROOT))
    for owner, attr, line in _calls(path):
        assert (owner, attr) not in WALL_CLOCK, f"{relative}:{line} reads the wall clock"
        assert not (owner == "random" and attr in GLOBAL_NUMPY), f"{relative}:{line} global RNG"
        if attr == "perf_counter":
            assert (relative, attr) in ALLOWED, f"{relative}:{line} times with the wall clock"
    tree = ast.parse(path.read_text())
    imports = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert "random" not in imports, f"{relative} imports the global `random` module"


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    # Built from pieces so that a grep of the repository for global RNG calls stays clean.
    bad.write_text("import numpy as np\nimport time\nx = np." + "random.rand(3)\nt = time.time()\n")
    found = {(owner, attr) for owner, attr, _ in _calls(bad)}
    assert ("random", "rand") in found and ("time", "time") in found
