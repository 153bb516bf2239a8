"""Brains by name. `--brain utility` is the calibrated choice model."""

from __future__ import annotations

from simulator.brains.utility import UtilityBrain, UtilityParams
from simulator.catalog import Catalog
from simulator.interfaces import Brain
from simulator.registry import Registry

BRAINS: Registry[[Catalog, UtilityParams], Brain] = Registry("brain")
BRAINS.register("utility", UtilityBrain)


def brain_names() -> tuple[str, ...]:
    """Names `make_brain` accepts."""
    return BRAINS.names()


def check_brain_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered brain."""
    BRAINS.check(name)


def make_brain(name: str, catalog: Catalog, params: UtilityParams) -> Brain:
    """Build a brain by name, or say which names exist."""
    return BRAINS.make(name, catalog, params)


__all__ = [
    "BRAINS",
    "UtilityBrain",
    "UtilityParams",
    "brain_names",
    "check_brain_name",
    "make_brain",
]
