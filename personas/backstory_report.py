"""The report of a backstory check, and its two uses: personas given the stories, a table.

Per persona: its story, the facts expected and read back, and their mismatch or
the failure; over them all: the mismatch rates as measured, strict, and at chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from personas.backstory_facts import ATTRIBUTES, PersonaFacts
from personas.backstory_prompts import prompt_hash
from personas.schema import Persona


class Failure(BaseModel):
    """One persona whose backstory could not be written or read back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    persona_id: str
    stage: Literal["write", "extract"]
    error: str


class BackstoryResult(BaseModel):
    """One persona's backstory, its expected and read-back facts and their mismatch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    persona_id: str
    backstory: str | None
    expected: PersonaFacts
    found: PersonaFacts | None = None
    mismatch: dict[str, float] | None = None
    failure: Failure | None = None


class BackstoryReport(BaseModel):
    """How well backstories carry their personas' facts.

    ``rates`` are mean mismatches over the personas checked (not the failures);
    ``strict`` counts each failure as a total mismatch (1.0 on every attribute);
    ``chance`` is the mismatch of every read-back against every *other*
    persona's facts: the level a backstory that carried nothing would reach.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = Field(ge=0, description="personas attempted")
    checked: int = Field(ge=0, description="personas written and read back")
    failures: list[Failure]
    rates: dict[str, float | None]
    strict: dict[str, float | None]
    chance: dict[str, float | None]
    model: str = Field(description="identity of the model that wrote and read the stories")
    seed: int
    max_tokens: int = Field(ge=1, description="the bound on each story's length")
    cache_hits: int = Field(ge=0, description="questions answered from the cache")
    calls: int = Field(ge=0, description="questions asked (a repaired answer counts once)")
    wall_seconds: float
    results: list[BackstoryResult]


def backstory_provenance(model: str, seed: int) -> str:
    """The ``Provenance.backstory_by`` label of an LLM-written backstory."""
    return f"llm {model} seed={seed} prompt={prompt_hash()}"


def with_backstories(personas: Sequence[Persona], report: BackstoryReport) -> list[Persona]:
    """New personas whose backstory is the LLM-written one from `report`.

    A persona without a written story (a write failure, or an empty story) keeps
    its template backstory and provenance; one whose story was written but not
    read back still gets it.

    Args:
        personas: The personas the report was made for.
        report: The report of :func:`check_backstories`; its model identity and seed
            go into each updated persona's ``provenance.backstory_by``.

    Returns:
        The personas, in the same order.
    """
    stories = {r.persona_id: r.backstory for r in report.results if r.backstory}
    label = backstory_provenance(report.model, report.seed)
    updated = []
    for persona in personas:
        story = stories.get(persona.id)
        if story is None:
            updated.append(persona)
            continue
        provenance = persona.provenance.model_copy(update={"backstory_by": label})
        updated.append(persona.model_copy(update={"backstory": story, "provenance": provenance}))
    return updated


def report_rows(report: BackstoryReport) -> list[dict[str, Any]]:
    """One row per attribute (and overall): measured, strict and chance mismatch."""
    return [
        {
            "attribute": name,
            "mismatch": report.rates[name],
            "strict": report.strict[name],
            "chance": report.chance[name],
        }
        for name in (*ATTRIBUTES, "overall")
    ]
