"""Registries by name: `--target itemknn`, `--brain utility`, with errors that list the choices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class Registry(Generic[P, T]):
    """Factories by name, all taking the same arguments."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[P, T]] = {}

    def register(self, name: str, factory: Callable[P, T]) -> None:
        """Add a factory; names are unique."""
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._factories[name] = factory

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._factories))

    def check(self, name: str) -> None:
        """Raise ValueError naming the choices if `name` is not registered."""
        if name not in self._factories:
            raise ValueError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            )

    def factory(self, name: str) -> Callable[P, T]:
        """The factory registered under `name`."""
        self.check(name)
        return self._factories[name]

    def make(self, name: str, *args: P.args, **kwargs: P.kwargs) -> T:
        """Build the named thing."""
        self.check(name)
        return self._factories[name](*args, **kwargs)
