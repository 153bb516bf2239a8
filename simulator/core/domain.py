"""Domains by name: what a system under test brings to the core (its config, its runs' kind).

The core knows no domain. A domain registers a `Domain`: its name, the `kind`
its run manifests carry, and where its config class lives (loaded on first
use, so naming a domain costs no import). The scenario loader, the readers of
run folders and the command line dispatch through the registry instead of
asking what type a config is.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.core.manifest import read_manifest

DEFAULT_KIND = "recsys"  # manifests written before runs said their kind


@dataclass(frozen=True)
class Domain:
    """One kind of system under test."""

    name: str
    kind: str  # the run manifest's "kind"
    config_ref: str  # "package.module:ConfigClass"

    def config_type(self) -> type[Any]:
        """The domain's config class."""
        module, attr = self.config_ref.split(":")
        found: type[Any] = getattr(importlib.import_module(module), attr)
        return found


class Domains:
    """The registry of domains."""

    def __init__(self) -> None:
        self._domains: dict[str, Domain] = {}

    def register(self, domain: Domain) -> None:
        """Add a domain; names and kinds are unique."""
        if domain.name in self._domains or any(d.kind == domain.kind for d in self):
            raise ValueError(f"domain {domain.name!r} (kind {domain.kind!r}) is registered already")
        self._domains[domain.name] = domain

    def __iter__(self) -> Any:
        return iter(self._domains.values())

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self._domains))

    def get(self, name: str) -> Domain:
        """The domain `name`, or a ValueError that lists the names."""
        if name not in self._domains:
            raise ValueError(f"unknown domain {name!r}; choose one of: {', '.join(self.names())}")
        return self._domains[name]

    def for_config(self, config: object) -> Domain:
        """The domain whose config `config` is, or a ValueError naming the config classes."""
        for domain in self:
            if isinstance(config, domain.config_type()):
                return domain
        wanted = ", ".join(d.config_ref.replace(":", ".") for d in self)
        raise ValueError(f"a {type(config).__name__} is no domain's config; use one of: {wanted}")

    def for_kind(self, kind: str) -> Domain:
        """The domain whose runs carry `kind`."""
        for domain in self:
            if domain.kind == kind:
                return domain
        kinds = ", ".join(sorted(d.kind for d in self))
        raise ValueError(f"no domain writes runs of kind {kind!r}; known kinds: {kinds}")

    def of_run(self, run_dir: str | Path) -> Domain:
        """The domain of the run in `run_dir`, from its manifest."""
        manifest = read_manifest(Path(run_dir))
        return self.for_kind(str(manifest.get("kind", DEFAULT_KIND)))
