"""Scenario scripts: plain Python files under scenarios/ with `CONFIG`, `run()` and `main()`."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from personas.validation import first_error
from simulator.core.refs import NotPython, import_file
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
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # its MODULE:ATTR targets and bots may live beside it
        sys.path.append(folder)
    try:
        module = import_file(path, f"simfolk_scenario_{path.stem}")
    except NotPython as exc:
        raise ScenarioError(str(exc)) from None
    except SyntaxError as exc:  # NUL bytes and bad encodings arrive as this too
        where = f"line {exc.lineno}: " if exc.lineno else ""
        raise ScenarioError(f"{path}: {where}not valid Python ({exc.msg})") from None
    except ValidationError as exc:  # a config the script builds with a bad field
        place, message = first_error(exc)
        raise ScenarioError(f"{path}: {exc.title}.{place or exc.title}: {message}") from None
    except (ValueError, OSError) as exc:
        if str(path) in str(exc) or getattr(exc, "filename", None):
            raise  # simfolk's own errors (a missing file, a dataset) name what is wrong
        raise ScenarioError(f"{path}: {exc}") from None
    except Exception as exc:
        raise ScenarioError(f"{path}: failed while loading ({type(exc).__name__}: {exc})") from exc
    try:
        DOMAINS.for_config(getattr(module, "CONFIG", None))
    except ValueError as exc:
        raise ScenarioError(f"{path}: CONFIG holds the defaults; {exc}") from None
    if not callable(getattr(module, "run", None)):
        raise ScenarioError(f"{path}: needs a run(config, out, **options) function")
    return module


def run_scenario(module: ModuleType, *args: Any, **options: Any) -> Any:
    """Call the scenario's `run`; its own failure, or a missing result, named in one line."""
    path = getattr(module, "__file__", module.__name__)
    try:
        result = module.run(*args, **options)
    except (ValueError, OSError):
        raise  # simfolk's errors name their file, field and reason already
    except Exception as exc:
        raise ScenarioError(f"{path}: run() raised {type(exc).__name__}: {exc}") from exc
    if result is None:
        raise ScenarioError(f"{path}: run() returned None; return what simulate() returns")
    return result
