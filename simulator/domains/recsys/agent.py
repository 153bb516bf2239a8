"""PersonaAgent: a persona plus perception, memory and brain, browsing the target's pages.

The clock loop, the broker hand-off, the keyed streams and the checkpoint are
the core's (`simulator.core.agent.ClockAgent`); this is the browsing state
machine: a session comes in by a door, pages are shown, perceived and decided
on, and what the persona does goes to the trace and to the target.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from personas.schema import Persona
from simulator.core.agent import ClockAgent
from simulator.core.rng import Streams
from simulator.core.statecodec import state_type
from simulator.domains.recsys.actions import Act, ActionSpace, Click, Consume, Leave, Rate
from simulator.domains.recsys.brains.utility import gap_factor, sessions_per_day
from simulator.domains.recsys.interfaces import (
    Brain,
    Decision,
    DecisionRequest,
    DeliberateBrain,
    Failure,
    Interaction,
    RecContext,
    SessionState,
    TargetError,
)
from simulator.domains.recsys.perception import Perception
from simulator.domains.recsys.targets.spec import check_slate
from simulator.minds.memory import EpisodicMemory, MemoryEntry
from simulator.trace.schema import EventKind

if TYPE_CHECKING:
    from simulator.domains.recsys.world import World

# Each purpose has its own stream, so e.g. a longer page never shifts arrival times.
PURPOSES = ("arrival", "timing", "perception", "choice", "exposure")


@state_type
@dataclass
class AgentState:
    """Everything the agent will do next, as plain data."""

    phase: Literal["idle", "browse", "decide", "act"] = "idle"
    next_at: float = 0.0
    session: int = -1
    door: str = "recommender"  # the channel this session's pages come by
    page: int = 0
    clicks: int = 0
    ratings: int = 0  # in this session, with the sum of their z-scores: what the return hears
    liked: float = 0.0
    shown: list[int] = field(default_factory=list)
    pending: list[tuple[float, Act, int]] = field(default_factory=list)
    reviews: dict[int, str] = field(default_factory=dict)  # item id -> words, emitted on Rate
    request: DecisionRequest | None = None  # waiting for the broker (phase "decide")
    outcome: Decision | Failure | None = None  # the broker's answer, not yet acted on


class PersonaAgent(ClockAgent):
    """One persona using the system under test."""

    world: World

    def __init__(
        self,
        world: World,
        persona: Persona,
        *,
        perception: Perception,
        memory: EpisodicMemory,
        brain: Brain | DeliberateBrain,
        streams: Streams,
        mind: Any = None,
    ) -> None:
        key = world.config.stream_key
        owner = None if key is None else f"{persona.id}|{key}"
        super().__init__(world, persona.id, streams, PURPOSES, stream_owner=owner)
        self.world = world
        self.persona = persona
        self.perception = perception
        self.memory = memory
        self.brain = brain
        self.mind = mind  # reflective memory, for brains that think in words
        self.state = AgentState()
        launch = world.config.launch_at
        # A launch (a notification blast, a release) brings everyone in at once; else a
        # persona cut mid-session goes on at once, and the others arrive at their rate.
        if launch is not None:
            self.state.next_at = launch
        elif self._continues():
            self.state.next_at = 0.0
        else:
            self.state.next_at = self._gap()

    # --- the clock -------------------------------------------------------------------------
    @property
    def waiting(self) -> bool:
        """A deliberate brain is deciding the page (through the broker)."""
        return bool(self.state.phase == "decide")

    def ask(self) -> tuple[float, Callable[[], Awaitable[Any]]]:
        """The page's decision request, answered off the clock by the brain."""
        request, brain = self.state.request, self.brain
        assert request is not None and hasattr(brain, "deliberate")
        return request.t, lambda: brain.deliberate(request, self.persona, self.mind)

    def step(self) -> None:
        """Take the step the state says is due at `state.next_at`."""
        if self.state.phase == "idle":
            self._start_session()
        elif self.state.phase == "browse":
            self._show_page()
        else:
            self._act()

    # --- draws -----------------------------------------------------------------------------
    def _gap(self, after_session: bool = False) -> float:
        # Sessions arrive at the persona's rate (through the activity model); after a session
        # the mean gap stretches or shrinks with what the session held (the return model).
        params = self.world.config.utility
        mean = 86400.0 / sessions_per_day(self.persona, params)
        if after_session:
            mean *= gap_factor(self.persona, params, self.state.ratings, self.state.liked)
        return self.state.next_at + float(self.rngs["arrival"].exponential(mean))

    def _continues(self) -> bool:
        share = self.world.config.utility.continue_share
        return share > 0 and bool(self.rngs["arrival"].random() < share)

    def _after(self, mean: float) -> float:
        return self.state.next_at + float(self.rngs["timing"].exponential(mean))

    # --- steps -----------------------------------------------------------------------------
    def trace_fields(self) -> dict[str, Any]:
        """Every event carries the session it belongs to."""
        return {"session": self.state.session}

    def _start_session(self) -> None:
        s = self.state
        s.session += 1
        s.page, s.clicks, s.shown, s.pending, s.reviews = 0, 0, [], [], {}
        s.ratings, s.liked = 0, 0.0
        exposure = self.world.exposure
        s.door = (
            "recommender"
            if exposure is None
            else exposure.door(self.persona.id, self.rngs["exposure"])
        )
        self.emit(EventKind.SESSION_START, s.next_at)
        self.world.counters["sessions"] += 1
        s.phase = "browse"
        s.next_at = self._after(self.world.config.timing.page_load)

    def _show_page(self) -> None:
        s, world = self.state, self.world
        t = s.next_at
        slate = self._door_slate(t) if s.door != "recommender" else None
        if slate is None:
            context = RecContext(t=t, session=s.session, page=s.page, exclude=frozenset(s.shown))
            try:
                size = world.config.perception.page_size
                slate = world.target.recommend(self.persona.target_user, size, context)
                slate = check_slate(slate, world.catalog, world.target.name, size)
            except TargetError as error:
                self._abort(EventKind.TARGET_ERROR, error.reason, str(error), t)
                return
        channel = s.door
        observation = self.perception.perceive(
            self.persona, slate, t=t, page=s.page, rng=self.rngs["perception"]
        )
        for view, examined in zip(observation.items, observation.examined, strict=True):
            self.emit(
                EventKind.IMPRESSION,
                t,
                page=s.page,
                position=view.position,
                item_id=view.item_id,
                examined=examined,
                target=world.target.name,
                channel=channel,
            )
        world.counters["impressions"] += len(slate)
        s.shown.extend(slate)
        rows = world.catalog.index([v.item_id for v in observation.examined_items()])
        recall = self.memory.recall(world.catalog.genre_matrix[rows], now=t)
        space = ActionSpace(item_ids=tuple(slate), rating_scale=world.rating_scale)
        if not slate:
            self._schedule([Leave(reason="bored")], space, t)
            return
        session = SessionState(session=s.session, page=s.page, clicks=s.clicks)
        brain, persona, rng = self.brain, self.persona, self.rngs["choice"]
        if hasattr(brain, "prepare"):
            decided = brain.prepare(persona, observation, recall, session, space, rng)
            if isinstance(decided, DecisionRequest):
                s.phase, s.request, s.outcome = "decide", decided, None
                return
            self._schedule(decided, space, t)
        else:
            self._schedule(
                brain.decide(persona, observation, recall, session, space, rng), space, t
            )

    def _door_slate(self, t: float) -> list[int] | None:
        """A page from the session's door (None: the door ran dry; the recommender takes over)."""
        s, exposure = self.state, self.world.exposure
        assert exposure is not None
        size = self.world.config.perception.page_size
        s.door, slate = exposure.offer(
            s.door, self.persona.id, t, s.shown, size, self.rngs["exposure"]
        )
        if not slate:
            s.door = "recommender"
            return None
        return slate

    def answered(self) -> None:
        """Act on the broker's answer to the page's request."""
        s = self.state
        request, outcome = s.request, s.outcome
        assert request is not None and outcome is not None
        s.request, s.outcome = None, None
        if isinstance(outcome, Decision):
            for failure in outcome.failures:
                self.world.counters["llm_failures"] += 1
                self.emit(
                    EventKind.LLM_FAILURE,
                    request.t,
                    page=s.page,
                    reason=failure.reason,
                    text=failure.detail[:500],
                )
            s.reviews = dict(outcome.reviews)
            self._schedule(outcome.actions, request.space, request.t)
        else:
            self._fail(outcome, request.t)

    def _fail(self, failure: Failure, t: float) -> None:
        # A failed decision ends the session visibly; nothing stands in for the answer.
        self._abort(EventKind.LLM_FAILURE, failure.reason, failure.detail, t)

    def _abort(self, kind: EventKind, reason: str, detail: str, t: float) -> None:
        """End the session on a failure (the model's or the target's); the run goes on."""
        s = self.state
        self.world.counters[f"{kind.value}s"] += 1
        self.emit(kind, t, page=s.page, reason=reason, text=detail[:500])
        self.emit(EventKind.SESSION_END, t, page=s.page, reason=kind.value)
        s.phase, s.pending = "idle", []
        s.next_at = self._gap(after_session=True)

    def _schedule(self, actions: list[Act], space: ActionSpace, t: float) -> None:
        s, timing = self.state, self.world.config.timing
        when = t
        for action in space.validate_sequence(actions):
            if isinstance(action, Click):
                when += float(self.rngs["timing"].exponential(timing.examine))
            elif isinstance(action, Rate | Consume):
                when += float(self.rngs["timing"].exponential(timing.consume))
            s.pending.append((when, action, s.page))
        self._continue()

    def halt(self, t: float, reason: str) -> None:
        """End an open session from outside (the run is stopping)."""
        s = self.state
        if s.phase != "idle":
            self.emit(EventKind.SESSION_END, t, page=s.page, reason=reason)
            s.phase, s.pending, s.request, s.outcome = "idle", [], None, None

    def _continue(self) -> None:
        s = self.state
        if s.pending:
            s.phase = "act"
            s.next_at = s.pending[0][0]
        else:
            s.phase = "browse"
            s.page += 1
            s.next_at = self._after(self.world.config.timing.next_page)

    def _act(self) -> None:
        s, world = self.state, self.world
        t, action, page = s.pending.pop(0)
        user = self.persona.target_user
        if isinstance(action, Click):
            s.clicks += 1
            world.counters["clicks"] += 1
            self.emit(
                EventKind.CLICK,
                t,
                page=page,
                position=action.position,
                item_id=action.item_id,
                channel=s.door,
            )
            heard = self._tell(Interaction(user=user, item_id=action.item_id, kind="click", t=t))
        elif isinstance(action, Rate):
            world.counters["ratings"] += 1
            self.emit(
                EventKind.RATE,
                t,
                page=page,
                item_id=action.item_id,
                rating=action.rating,
                channel=s.door,
            )
            heard = self._tell(
                Interaction(
                    user=user, item_id=action.item_id, kind="rate", t=t, rating=action.rating
                )
            )
            world.record_rating(user, action.item_id, action.rating, t)
            review = s.reviews.pop(action.item_id, None)
            if review is not None:
                self.emit(EventKind.REVIEW, t, page=page, item_id=action.item_id, text=review)
            self._liked(action, action.rating, t, review)
        elif isinstance(action, Consume):
            # Implicit feedback: the target heard the click; the count is the persona's.
            world.counters["consumptions"] += 1
            self.emit(
                EventKind.CONSUME,
                t,
                page=page,
                item_id=action.item_id,
                count=action.count,
                channel=s.door,
            )
            heard = None
            world.record_rating(user, action.item_id, None, t, action.count)
            self._liked(action, math.log1p(action.count), t)
        else:
            self.emit(EventKind.LEAVE, t, page=page, reason=action.reason)
            self.emit(EventKind.SESSION_END, t, page=page, reason=action.reason)
            s.phase, s.pending = "idle", []
            s.next_at = self._gap(after_session=True)
            return
        if heard is not None:
            self._abort(EventKind.TARGET_ERROR, heard.reason, str(heard), t)
            return
        self._continue()

    def _tell(self, event: Interaction) -> TargetError | None:
        """Tell the target what the persona did; its failure, if it failed to hear."""
        try:
            self.world.target.feedback(event)
        except TargetError as error:
            return error
        return None

    def _liked(
        self, action: Rate | Consume, value: float, t: float, review: str | None = None
    ) -> None:
        """What the return model and memory hear of a rating, or of log(1 + count) (`value`)."""
        s, style = self.state, self.persona.rating
        s.ratings, s.liked = s.ratings + 1, s.liked + (value - style.mean) / style.spread
        # Strong opinions stick: importance grows with distance from the persona's mean.
        importance = float(min(abs(value - style.mean) / (2.0 * style.spread), 1.0))
        catalog, item_id = self.world.catalog, action.item_id
        row = catalog.index([item_id])[0]
        if self.mind is not None:
            if isinstance(action, Rate):
                said = f" {review}" if review else ""
                how = f"({', '.join(catalog.genres[row])}) and rated it {action.rating:g}.{said}"
            else:
                how = "once." if action.count == 1 else f"{action.count} times."
            text = f"I {catalog.words.consumed} {catalog.titles[row]} {how}"
            self.mind.store(text, t=t, importance=importance)
        features = tuple(float(x) for x in catalog.genre_matrix[row])
        self.memory.store(
            MemoryEntry(
                t=t, item_id=item_id, rating=value, importance=importance, features=features
            ),
            now=t,
        )

    # --- checkpoints -----------------------------------------------------------------------
    def snapshot(self) -> AgentState:
        """The state machine, its lists copied."""
        return replace(
            self.state,
            shown=list(self.state.shown),
            pending=list(self.state.pending),
            reviews=dict(self.state.reviews),
        )

    def extra_state(self) -> dict[str, Any]:
        """The persona's memories."""
        return {
            "memory": self.memory.get_state(),
            "mind": None if self.mind is None else self.mind.get_state(),
        }

    def restore_extra(self, state: dict[str, Any]) -> None:
        """Continue the memories."""
        self.memory.set_state(state["memory"])
        if self.mind is not None:
            self.mind.set_state(state["mind"])
