"""Run configuration: every knob of a run, validated and recorded in the manifest."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.domains.recsys.brains.archetypes import ArchetypeConfig
from simulator.domains.recsys.brains.utility import UtilityParams
from simulator.domains.recsys.exposure.config import ExposureConfig
from simulator.domains.recsys.perception import PerceptionConfig
from simulator.llm.config import LLMConfig
from simulator.minds.memory import MemoryConfig
from simulator.minds.reflective_types import ReflectiveMemoryConfig


class Timing(BaseModel):
    """Mean durations inside a session, in simulated seconds (exponential draws)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page_load: float = Field(default=2.0, gt=0)
    examine: float = Field(default=3.0, gt=0, description="per examined slot, before a click")
    consume: float = Field(default=45.0, gt=0, description="from click to rating")
    next_page: float = Field(default=5.0, gt=0)


class RunConfig(BaseModel):
    """A run: which people, which system, how long, which seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    SYSTEM_UNDER_TEST: ClassVar[str] = "target"  # left out of the run id
    PLACEMENT: ClassVar[tuple[str, ...]] = ("shards", "shard_on")  # nor these: no event changes

    scenario: str = "movielens_week"
    dataset: str = "ml-latest-small"
    personas: int = Field(
        default=100,
        ge=1,
        le=10_000_000,
        description="how many personas: dataset users, then ones the persona sampler draws "
        "beyond them",
    )
    population: Literal["data", "sampled"] = Field(
        default="data",
        description="data: dataset users (the sampler only past their number); sampled: every "
        "persona drawn by the sampler fitted on the train users, none of them a real one",
    )
    personas_file: str | None = Field(
        default=None,
        description="the personas to use, from a file (e.g. `simfolk personas backstories "
        "--out`), instead of building them; they must come from this dataset and taste space, "
        "and `personas` is then their count",
    )
    days: int = Field(default=7, ge=1, le=3650)
    seed: int = Field(default=0, ge=0)
    target: str = "itemknn"
    brain: str = "utility"
    engine: Literal["agents", "columnar"] = Field(
        default="agents",
        description="agents: one process per persona (every brain, every door); columnar: "
        "the population as arrays, pages decided by the batch (the utility brain, the "
        "recommender's page), for large populations",
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="columnar engine: cut the population into this many crowds, each with "
        "its own copy of the target (built by name), stepping side by side",
    )
    shard_on: Literal["ray", "process"] = Field(
        default="ray",
        description="where shards run: 'ray' (actors on a Ray cluster; pip install "
        "simfolk[ray]) or 'process' (one after another in this process, to check a sharded "
        "run without Ray)",
    )
    calibrate: bool = Field(
        default=True, description="fit the utility brain on the train split before running"
    )
    ensemble_member: int | None = Field(
        default=None,
        ge=0,
        description="fit the taste space and calibrate the brain on bootstrap resample N of "
        "the train users: one member of an ensemble of brains (None: on train as it is)",
    )
    calibration_users: Literal["others"] | None = Field(
        default=None,
        description="'others': calibrate only on train users who are not this run's personas "
        "(None: on every train user)",
    )
    holdout: float = Field(default=0.2, gt=0, lt=1)
    min_train: int = Field(default=5, ge=1)
    taste_dims: int = Field(default=16, ge=1, le=256)
    refit_every_days: float | None = Field(default=1.0, gt=0)
    checkpoint_every_days: int = Field(default=1, ge=1)
    part_rows: int = Field(default=100_000, ge=1)
    perception: PerceptionConfig = PerceptionConfig()
    memory: MemoryConfig = MemoryConfig()
    utility: UtilityParams = UtilityParams()
    timing: Timing = Timing()
    exposure: ExposureConfig = ExposureConfig()
    llm: LLMConfig = LLMConfig()
    mind: ReflectiveMemoryConfig = ReflectiveMemoryConfig()
    archetypes: ArchetypeConfig = ArchetypeConfig()
    broker_window: float = Field(
        default=60.0,
        ge=0,
        description="simulated seconds in which LLM decisions are gathered into one batch",
    )
    stream_key: str | None = Field(
        default=None,
        description="keys the personas' behaviour streams too: an A/B arm without common "
        "random numbers (None: every run with this seed shares them)",
    )
    launch_at: float | None = Field(
        default=None,
        ge=0,
        description="if set, every persona's first session starts at this simulated second",
    )

    @property
    def horizon(self) -> float:
        """The run's end, in simulated seconds."""
        return self.days * 86400.0

    @property
    def split_label(self) -> str:
        """How train and held-out were separated, as recorded in provenance."""
        return f"temporal holdout={self.holdout} min_train={self.min_train}"
