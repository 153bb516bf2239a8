"""Options shared by the commands that simulate, and what a domain's command line offers.

`ExposureFlag` and friends are declared once for run, ab and the benches;
`Commands` is what each domain's side (`cli/recsys.py`, `cli/chat.py`) offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, Protocol

import typer
from pydantic import BaseModel

# Open the doors besides the page; None keeps the scenario's choice.
ExposureFlag = Annotated[
    bool | None,
    typer.Option(
        "--exposure/--no-exposure",
        help="open the doors besides the page (intent, friends, trending), fitted on train",
    ),
]
PageShareOption = Annotated[
    float | None, typer.Option(help="with --exposure: share of sessions on the page")
]
ArchetypesOption = Annotated[
    int | None,
    typer.Option(min=1, help="--brain archetype: how many archetypes the personas cluster into"),
]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]

# Options of `simfolk run` every domain takes, and those of its language model.
COMMON = frozenset({"dataset", "personas", "personas_file", "seed"})
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

    def compare(
        self, run_dir: Path, against: Path | None, as_json: bool, format: str = "auto"
    ) -> None:
        """Hold a finished run against real people and print the table (or JSON)."""
        ...


def llm_overrides(config: BaseModel, options: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario's LLM settings with the ones given on the command line."""
    base: dict[str, Any] = config.model_dump()["llm"]
    return {**base, **{k: options[k] for k in LLM_OPTIONS if k in options}}
