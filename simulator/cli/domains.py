"""How the command line drives each domain: its run options, its run, its comparison.

`simfolk run` and `simfolk compare` ask the domain registry (`simulator.domains`)
which domain a scenario or a run folder belongs to, then hand over to that
domain's `Commands` here; no command asks what type a config is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from pydantic import BaseModel

from simulator.core.domain import Domain

# Options of `simfolk run` every domain takes, and those of its language model.
COMMON = frozenset({"dataset", "personas", "seed"})
LLM_OPTIONS = ("model", "api_base", "budget_tokens", "budget_usd", "cache")


class Commands(Protocol):
    """What the command line does for one domain."""

    options: frozenset[str]  # the `simfolk run` options this domain takes

    def configure(self, config: BaseModel, options: Mapping[str, Any]) -> BaseModel:
        """The scenario's `config` with the options given on the command line."""
        ...

    def run(self, module: ModuleType, config: Any, out: Path, resume: bool) -> None:
        """Run the scenario with progress, then print what it produced."""
        ...

    def compare(self, run_dir: Path, against: Path | None, as_json: bool) -> None:
        """Hold a finished run against real people and print the table (or JSON)."""
        ...


def commands(domain: Domain) -> Commands:
    """The command-line side of `domain`."""
    if domain.name == "recsys":
        from simulator.cli.recsys import COMMANDS as recsys

        return recsys
    if domain.name == "chat":
        from simulator.cli.chat import COMMANDS as chat

        return chat
    raise ValueError(f"domain {domain.name!r} has no command-line side")


def configure(
    domain: Domain, config: BaseModel, options: Mapping[str, Any], *, scenario: str
) -> BaseModel:
    """Apply the options given (None: not given) after checking the domain takes them."""
    given = {k: v for k, v in options.items() if v is not None}
    side = commands(domain)
    foreign = sorted(k for k in given if k not in side.options)
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ValueError(f"{scenario} is a {domain.name} scenario: it takes no {flags}")
    return side.configure(config, given)


def llm_overrides(config: BaseModel, options: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's LLM settings with the ones given on the command line."""
    base: dict[str, Any] = config.model_dump()["llm"]
    return {**base, **{k: options[k] for k in LLM_OPTIONS if k in options}}
