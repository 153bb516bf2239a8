"""The Persona record: frozen, validated, with the provenance of every value."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PERSONA_SCHEMA_VERSION = 1
# The most items one sitting holds (the busiest MovieLens raters average under 600).
ITEMS_PER_SESSION_MAX = 10_000
# Ids and unix times are 64-bit in every frame they reach.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Demographics(_Record):
    """What the source says about who the person is; None where it says nothing."""

    age: int | None = Field(default=None, ge=0, le=120)
    gender: str | None = None
    occupation: str | None = None


class BigFive(_Record):
    """Personality on the Big Five, each in [0, 1]."""

    openness: float = Field(ge=0, le=1)
    conscientiousness: float = Field(ge=0, le=1)
    extraversion: float = Field(ge=0, le=1)
    agreeableness: float = Field(ge=0, le=1)
    neuroticism: float = Field(ge=0, le=1)


class Traits(_Record):
    """Behavioural traits that drive the utility brain, all continuous."""

    sessions_per_day: float = Field(gt=0, le=48, description="mean session arrivals per day")
    items_per_session: float = Field(
        ge=1, le=ITEMS_PER_SESSION_MAX, description="mean items consumed per session"
    )
    conformity: float = Field(ge=0, le=1, description="1 = rates exactly like the crowd")
    diversity: float = Field(ge=0, le=1, description="normalised entropy of consumed genres")
    patience: float = Field(ge=0, le=1, description="how deep into a page the persona looks")


class Taste(_Record):
    """What the persona likes: per-genre affinity and latent factors in a named space."""

    genre_affinity: dict[str, float]
    factors: tuple[float, ...] = Field(default=(), description="predict how the persona rates")
    choice_factors: tuple[float, ...] = Field(
        default=(), description="predict what the persona picks (implicit, from what it consumed)"
    )
    recent_choice_factors: tuple[float, ...] = Field(
        default=(), description="the same, from its latest consumption: its current interest"
    )
    factor_space: str | None = Field(
        default=None, description="id of the item-factor space the factors live in"
    )

    @model_validator(mode="after")
    def _space_named(self) -> Taste:
        if (self.factors or self.choice_factors or self.recent_choice_factors) and not (
            self.factor_space
        ):
            raise ValueError("factors need a factor_space naming the item factors they pair with")
        return self


class RatingStyle(_Record):
    """How the persona rates: mean, bias against the population, spread."""

    mean: float
    bias: float
    spread: float = Field(gt=0)


class Provenance(_Record):
    """Where the persona came from, so every value can be traced back."""

    source: Literal["dataset", "sampler", "hand"]
    dataset: str | None = None
    dataset_sha256: str | None = Field(
        default=None, description="digest of the data read (Dataset.content_sha256), not its files"
    )
    user_id: int | None = Field(default=None, ge=INT64_MIN, le=INT64_MAX)
    split: str | None = Field(default=None, description="e.g. 'temporal holdout=0.2 min_train=5'")
    n_train: int | None = Field(default=None, ge=0, le=INT64_MAX)
    train_until: int | None = Field(
        default=None, description="last train timestamp (unix s)", ge=INT64_MIN, le=INT64_MAX
    )
    sampler: str | None = None
    seed: int | None = None
    backstory_by: str | None = Field(
        default=None,
        description="who wrote the backstory, e.g. 'llm <model identity> seed=3 prompt=ab12cd34'; "
        "None: the attribute template",
    )

    @model_validator(mode="after")
    def _complete(self) -> Provenance:
        if self.source == "dataset" and (self.dataset is None or self.user_id is None):
            raise ValueError("a persona built from a dataset needs dataset and user_id")
        if self.source == "sampler" and (self.sampler is None or self.seed is None):
            raise ValueError("a sampled persona needs sampler and seed")
        return self


class Persona(_Record):
    """One simulated person."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=128)
    demographics: Demographics = Demographics()
    big_five: BigFive | None = None
    traits: Traits
    taste: Taste
    rating: RatingStyle
    goals: tuple[str, ...] = ()
    speaking_style: str | None = None
    backstory: str = ""
    provenance: Provenance

    @field_validator("goals")
    @classmethod
    def _goals_not_blank(cls, goals: tuple[str, ...]) -> tuple[str, ...]:
        if any(not goal.strip() for goal in goals):
            raise ValueError("goals must not be blank")
        return goals

    @property
    def target_user(self) -> str:
        """The key a system under test knows this person by (its dataset user id, if any)."""
        if self.provenance.source == "dataset" and self.provenance.user_id is not None:
            return str(self.provenance.user_id)
        return self.id
