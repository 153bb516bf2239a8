"""Brains by name. `--brain utility` is the calibrated choice model."""

from __future__ import annotations

from collections.abc import Callable

from simulator.brains.utility import UtilityBrain, UtilityParams
from simulator.catalog import Catalog
from simulator.interfaces import Brain

_BRAINS: dict[str, Callable[[Catalog, UtilityParams], Brain]] = {
    "utility": lambda catalog, params: UtilityBrain(catalog, params),
}


def brain_names() -> tuple[str, ...]:
    """Names `make_brain` accepts."""
    return tuple(sorted(_BRAINS))


def check_brain_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered brain."""
    if name not in _BRAINS:
        raise ValueError(f"unknown brain {name!r}; choose one of: {', '.join(brain_names())}")


def make_brain(name: str, catalog: Catalog, params: UtilityParams) -> Brain:
    """Build a brain by name, or say which names exist."""
    check_brain_name(name)
    return _BRAINS[name](catalog, params)


__all__ = ["UtilityBrain", "UtilityParams", "brain_names", "check_brain_name", "make_brain"]
