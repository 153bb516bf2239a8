"""Prompt templates as data: one Jinja file each, in a package folder, rendered strictly.

A prompt's text lives in a ``*.j2`` file and a manifest records each file's
hash, so a changed prompt is a changed run. A template that names a variable
it was not given is an error, never an empty string.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from importlib import resources
from typing import Any

import jinja2


class Templates:
    """The ``*.j2`` files of one package folder (e.g. ``Templates("simulator", "prompts")``)."""

    def __init__(self, package: str, folder: str) -> None:
        self.package = package
        self.folder = folder

    @cached_property
    def _environment(self) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.PackageLoader(self.package, self.folder),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain text for a model, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def _root(self) -> Any:
        return resources.files(self.package) / self.folder

    def names(self) -> tuple[str, ...]:
        """Every template, without the ``.j2`` suffix."""
        files = self._root().iterdir()
        return tuple(sorted(f.name[:-3] for f in files if f.name.endswith(".j2")))

    def render(self, name: str, **variables: Any) -> str:
        """The template `name` filled with `variables`."""
        if name not in self.names():
            raise KeyError(f"no prompt template {name!r}; there are {', '.join(self.names())}")
        return self._environment.get_template(f"{name}.j2").render(**variables).strip()

    def hashes(self) -> dict[str, str]:
        """sha256 of each template file, for a manifest."""
        root = self._root()
        return {
            name: hashlib.sha256((root / f"{name}.j2").read_bytes()).hexdigest()
            for name in self.names()
        }
