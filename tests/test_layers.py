"""The house rules of the layout, read from the source: who may import whom, and sizes.

* no import cycle among modules at import time;
* `personas` imports nothing of `simulator` or `analysis` (it is the data layer);
* `simulator.core` imports no domain: only itself, the trace, and `personas`' files;
* nothing but the command line imports `simulator.cli`;
* no module grows past 400 lines, except those listed, which may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("simulator", "personas", "analysis", "scenarios")
MAX_LINES = 400
# Modules allowed over the limit (none now): shrink, never grow.
OVERSIZE: dict[str, int] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path, *, top_level: bool) -> set[str]:
    """First-party modules `path` imports (at import time only, with `top_level`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = tree.body if top_level else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        names.update(c for c in candidates if c in MODULES)
    return names


def _graph(*, top_level: bool) -> nx.DiGraph:
    graph = nx.DiGraph()
    for name, path in MODULES.items():
        graph.add_node(name)
        graph.add_edges_from((name, other) for other in _imports(path, top_level=top_level))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    return graph


def test_no_import_cycles_at_import_time():
    cycles = list(nx.simple_cycles(_graph(top_level=True)))
    assert cycles == []


def test_personas_import_nothing_of_the_engine_or_analysis():
    wrong = [
        (a, b)
        for a, b in _graph(top_level=False).edges
        if a.startswith("personas") and b.split(".")[0] in ("simulator", "analysis")
    ]
    assert wrong == []


def test_the_core_imports_no_domain():
    allowed = ("simulator.core", "simulator.trace", "personas.atomic", "personas.validation")
    wrong = [
        (a, b)
        for a, b in _graph(top_level=False).edges
        if a.startswith("simulator.core") and not b.startswith(allowed)
    ]
    assert wrong == []


def _domain(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if parts[:2] == ["simulator", "domains"] and len(parts) > 2 else None


def test_domains_import_no_other_domain():
    wrong = [
        (a, b)
        for a, b in _graph(top_level=False).edges
        if _domain(a) and _domain(b) and _domain(a) != _domain(b)
    ]
    assert wrong == []


def test_what_every_domain_shares_imports_no_domain():
    shared = ("simulator.minds", "simulator.llm", "simulator.trace", "simulator.population")
    wrong = [
        (a, b)
        for a, b in _graph(top_level=False).edges
        if a.startswith(shared) and b.startswith("simulator.domains.")
    ]
    assert wrong == []


def test_only_the_command_line_imports_it():
    wrong = [
        (a, b)
        for a, b in _graph(top_level=False).edges
        if b.startswith("simulator.cli") and not a.startswith("simulator.cli")
    ]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= OVERSIZE.get(name, MAX_LINES), f"{name}: {lines} lines"


def _house() -> dict[str, object]:
    """The counts the rules are about, for `python tests/test_layers.py`."""
    top, every = _graph(top_level=True), _graph(top_level=False)
    layer = {"personas": 0, "simulator.core": 1, "simulator.trace": 1, "simulator": 2}
    layer |= {"analysis": 2, "scenarios": 3}

    def rank(name: str) -> int:
        return next(v for k, v in layer.items() if name == k or name.startswith(k + "."))

    sizes = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in MODULES.items()}
    largest = max(sizes, key=lambda n: sizes[n])
    return {
        "modules": len(MODULES),
        "cycles at import time": len(list(nx.simple_cycles(top))),
        "cycles counting imports inside functions": len(list(nx.simple_cycles(every))),
        "arrows from a lower to a higher layer": sum(rank(a) < rank(b) for a, b in every.edges),
        "modules over 400 lines": sum(s > MAX_LINES for s in sizes.values()),
        "largest module": f"{largest} ({sizes[largest]} lines)",
    }


if __name__ == "__main__":
    for key, value in _house().items():
        print(f"{key}: {value}")
