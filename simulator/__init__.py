"""simfolk's engine: the world, its clock, persona agents, brains, targets and the trace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.run import asimulate, simulate

__all__ = ["RunConfig", "asimulate", "simulate"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `simfolk --help` and light commands skip the numeric stack.
    if name == "RunConfig":
        from simulator.domains.recsys.config import RunConfig

        return RunConfig
    if name in ("simulate", "asimulate"):
        from simulator.domains.recsys import run

        return getattr(run, name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
