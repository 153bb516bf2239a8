"""Scenario scripts: plain Python files under scenarios/ with `CONFIG`, `run()` and `main()`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from simulator.chat.config import ChatConfig
from simulator.config import RunConfig


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
    """Import a scenario file and check it offers `CONFIG` (a RunConfig) and `run`."""
    path = find_scenario(name_or_path)
    spec = importlib.util.spec_from_file_location(f"simfolk_scenario_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not isinstance(getattr(module, "CONFIG", None), RunConfig | ChatConfig):
        raise ScenarioError(
            f"{path}: CONFIG must be a simulator.RunConfig or a ChatConfig with the defaults"
        )
    if not callable(getattr(module, "run", None)):
        raise ScenarioError(f"{path}: needs a run(config, out, **options) function")
    return module
