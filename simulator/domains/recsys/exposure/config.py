"""Which doors a session opens by, and the rates behind them, as recorded in the manifest.

Real people do not meet items only on the system's page: they arrive with
items they already want (intent), hear of them from friends (word of mouth)
and see what everyone is watching (trending). A session comes by one door,
which fills its pages (the recommender's page takes over if the door runs
dry); the recommender hears every click and rating whatever the door.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

# "search" joins as a door when the search domain exists.
CHANNELS = ("recommender", "intent", "social", "trending")
OUTSIDE = CHANNELS[1:]


class IntentParams(BaseModel):
    """Log-linear weights of the items a persona already wants (a conditional logit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    affinity: float = 1.0  # PureSVD affinity, the persona's whole history
    recent_affinity: float = 0.0  # the same, its latest items
    genre: float = 0.5
    popularity: float = 0.5  # standardised log train count
    recent: float = 0.5  # log(1 + ratings of the item in the month before now)

    def vector(self) -> tuple[float, float, float, float, float]:
        """The weights in INTENT_FEATURES order."""
        return (self.affinity, self.recent_affinity, self.genre, self.popularity, self.recent)


INTENT_FEATURES = ("affinity", "recent_affinity", "genre", "popularity", "recent")


class ExposureConfig(BaseModel):
    """The doors of a session. Off by default: every session opens on the recommender's page.

    `page_share` cannot be fitted from MovieLens, which logs no doors: it is a
    stated choice. The split of the other sessions between intent, word of
    mouth and trending, the intent weights and the word-of-mouth window are
    fitted on train (`simulator.domains.recsys.exposure.fit`); the values here are priors.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    page_share: float = Field(
        default=0.5, ge=0, le=1, description="share of sessions that open on the recommender's page"
    )
    mix: dict[str, float] = Field(
        default_factory=lambda: {"intent": 0.8, "social": 0.1, "trending": 0.1},
        description="the population's split of the other sessions between the outside doors",
    )
    shrinkage: float = Field(
        default=20.0, ge=0, description="pseudo-events of the population mix in a persona's own"
    )
    intent: IntentParams = IntentParams()
    recent_days: float = Field(default=30.0, gt=0, description="the window of 'recent' popularity")
    trending_days: float = Field(default=7.0, gt=0, description="what 'everyone now' means")
    social_days: float = Field(
        default=30.0, gt=0, description="how long a friend's rating keeps reaching the persona"
    )
    friends: float = Field(
        default=13.4, gt=0, description="mean degree of the homophily graph (Last.fm 2K: 13.4)"
    )
    # Both fitted on Last.fm 2K's real friendships by `simfolk bench social`.
    homophily: float = Field(
        default=12.0, ge=0, description="how strongly taste similarity draws an edge"
    )
    sociability: float = Field(
        default=1.0, ge=0, description="sd of the log-normal weight that spreads degrees"
    )

    @model_validator(mode="after")
    def _check_mix(self) -> ExposureConfig:
        unknown = sorted(set(self.mix) - set(OUTSIDE))
        if unknown:
            raise ValueError(f"mix: unknown door(s) {unknown}; the doors are {', '.join(OUTSIDE)}")
        if any(v < 0 for v in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError("mix: shares must be >= 0 and not all zero")
        return self

    def population_mix(self) -> tuple[float, ...]:
        """The outside doors' shares in OUTSIDE order, summing to one."""
        shares = [self.mix.get(c, 0.0) for c in OUTSIDE]
        total = sum(shares)
        return tuple(s / total for s in shares)


def with_doors(
    config: ExposureConfig, enabled: bool | None = None, page_share: float | None = None
) -> ExposureConfig:
    """`config` with the doors opened or shut and the page's share set (None: as it is)."""
    update = {
        k: v for k, v in dict(enabled=enabled, page_share=page_share).items() if v is not None
    }
    return ExposureConfig.model_validate({**config.model_dump(), **update})
