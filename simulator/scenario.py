"""Scenario scripts: plain Python files under scenarios/ with `CONFIG`, `run()` and `main()`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from simulator.domains import DOMAINS


class ScenarioError(ValueError):
    """A scenario that cannot be loaded; the message says what it lacks."""


def find_scenario(name_or_path: str) -> Path:
    """A path to a scenario file, or a bare name looked up in ./scenarios/."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = Path("scenarios") / f"{name_or_path.removesuffix('.py')}.py"
    if candidate.is_file():
        return candidate
    raise ScenarioError(f"scenario {name_or_path!r} not found (also looked for {candidate})")


def load_scenario(name_or_path: str) -> ModuleType:
    """Import a scenario file and check it offers `CONFIG` (a domain's config) and `run`."""
    path = find_scenario(name_or_path)
    spec = importlib.util.spec_from_file_location(f"simfolk_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        DOMAINS.for_config(getattr(module, "CONFIG", None))
    except ValueError as exc:
        raise ScenarioError(f"{path}: CONFIG holds the defaults; {exc}") from None
    if not callable(getattr(module, "run", None)):
        raise ScenarioError(f"{path}: needs a run(config, out, **options) function")
    return module
