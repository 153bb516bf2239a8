"""How the command line drives each domain: its run options, its run, its comparison.

`simfolk run` and `simfolk compare` ask the domain registry (`simulator.domains`)
which domain a scenario or a run folder belongs to, then hand over to that
domain's `Commands` here; no command asks what type a config is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from simulator.cli.options import Commands
from simulator.core.domain import Domain


def commands(domain: Domain) -> Commands:
    """The command-line side of `domain`."""
    if domain.name == "recsys":
        from simulator.cli.recsys import COMMANDS as recsys

        return recsys
    if domain.name == "chat":
        from simulator.cli.chat import COMMANDS as chat

        return chat
    if domain.name == "search":
        from simulator.cli.search import COMMANDS as search

        return search
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
