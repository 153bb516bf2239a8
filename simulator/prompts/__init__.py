"""Prompt templates, one Jinja file each, rendered strictly.

Prompts are data: their text lives in ``*.j2`` files beside this module and the
manifest records each file's hash, so a changed prompt is a changed run. A
template names a variable it was not given → an error, never an empty string.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("simulator", "prompts"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text for a model, not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_names() -> tuple[str, ...]:
    """Every prompt template, without the ``.j2`` suffix."""
    files = resources.files("simulator.prompts").iterdir()
    return tuple(sorted(f.name[:-3] for f in files if f.name.endswith(".j2")))


def render(name: str, **variables: Any) -> str:
    """The template `name` (e.g. ``"decide_system"``) filled with `variables`."""
    if name not in template_names():
        raise KeyError(f"no prompt template {name!r}; there are {', '.join(template_names())}")
    return _environment().get_template(f"{name}.j2").render(**variables).strip()


def template_hashes() -> dict[str, str]:
    """sha256 of each template file, for the manifest."""
    root = resources.files("simulator.prompts")
    return {
        name: hashlib.sha256((root / f"{name}.j2").read_bytes()).hexdigest()
        for name in template_names()
    }
