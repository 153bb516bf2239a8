"""The engine's prompt templates (decisions, reflection, chat), one Jinja file each.

Prompts are data: their text lives in ``*.j2`` files beside this module and the
manifest records each file's hash (see `personas.templates.Templates`).
"""

from __future__ import annotations

from typing import Any

from personas.templates import Templates

TEMPLATES = Templates("simulator", "prompts")


def template_names() -> tuple[str, ...]:
    """Every prompt template, without the ``.j2`` suffix."""
    return TEMPLATES.names()


def render(name: str, **variables: Any) -> str:
    """The template `name` (e.g. ``"decide_system"``) filled with `variables`."""
    return TEMPLATES.render(name, **variables)


def template_hashes() -> dict[str, str]:
    """sha256 of each template file, for the manifest."""
    return TEMPLATES.hashes()
