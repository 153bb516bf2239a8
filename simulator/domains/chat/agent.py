"""ChatAgent: a persona holding one conversation with the chatbot, on the clock.

Like the browsing agent, it is a state machine whose state is plain data, so
a checkpoint can stop the world between any two steps. Each message takes
simulated time: the persona thinks and types (its typing speed), the bot
answers (a base delay plus time per token), the persona reads (its reading
speed). Language-model calls and the bot's answers go through the broker, so
wall-clock latency never reaches the clock.

After each reply the persona's model judges it (goal met? satisfaction 1-5);
the stop model, fitted on real human-bot chats, turns satisfaction and the
persona's patience into the chance of leaving now, and into whether it has
the last word.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from personas.conversation import ChatUser
from simulator.core.agent import ClockAgent
from simulator.core.protocols import Failure
from simulator.core.rng import Streams
from simulator.core.statecodec import state_type
from simulator.domains.chat.interfaces import BotReply, ChatbotError
from simulator.domains.chat.style import apply_style
from simulator.domains.chat.user import Said, ask_opening, ask_turn
from simulator.trace.schema import EventKind

if TYPE_CHECKING:
    from simulator.domains.chat.world import ChatWorld

PURPOSES = ("timing", "style", "stop")


class StopReason(StrEnum):
    """Why a dialogue ended: a closed set, one per dialogue."""

    GOAL_MET = "goal_met"  # the persona judged its goal met
    GAVE_UP = "gave_up"  # left unsatisfied (satisfaction 1-2)
    PATIENCE_EXHAUSTED = "patience_exhausted"  # left, not unhappy, but done waiting for it
    TURN_LIMIT = "turn_limit"  # the run's cap on user turns
    TARGET_ERROR = "target_error"  # the chatbot failed to answer
    LLM_FAILURE = "llm_failure"  # the persona's own model gave no valid message
    BUDGET_EXHAUSTED = "budget_exhausted"  # the run's LLM budget ran out mid-dialogue


Phase = Literal["idle", "compose", "typing", "bot", "arriving", "reading", "done"]


@state_type
@dataclass
class ChatState:
    """Where the conversation stands, as plain data."""

    phase: Phase = "idle"
    next_at: float = 0.0
    dialogue: int = 0
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text)
    user_turns: int = 0
    asked_at: float = 0.0  # logical time of the pending model or bot request
    outcome: Said | BotReply | Failure | None = None  # the broker's answer, not yet used
    outbox: tuple[str, int, float] | None = None  # (text, tokens, latency) due at next_at
    final: StopReason | None = None  # the message being typed is the persona's last


class ChatAgent(ClockAgent):
    """One persona in conversation with the chatbot under test."""

    world: ChatWorld

    def __init__(self, world: ChatWorld, user: ChatUser, streams: Streams, start: float) -> None:
        super().__init__(world, user.persona_id, streams, PURPOSES)
        self.world = world
        self.user = user
        self.streams = streams
        self.state = ChatState(next_at=start)

    # --- the clock -------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """The dialogue has ended."""
        return bool(self.state.phase == "done")

    @property
    def waiting(self) -> bool:
        """The persona's model is composing, or the bot is answering (through the broker)."""
        return self.state.phase in ("compose", "bot")

    def step(self) -> None:
        """Take the step due at `state.next_at`."""
        s = self.state
        if s.phase == "idle":
            self.emit(
                EventKind.DIALOGUE_START,
                s.next_at,
                text=self.user.goal.want,
                reason=self.user.goal.id,
            )
            self.world.counters["dialogues"] += 1
            s.phase, s.asked_at = "compose", s.next_at
        elif s.phase == "typing":
            self._say("user")
            if s.final is not None:
                self.end(s.final, s.next_at)
            else:
                s.phase, s.asked_at = "bot", s.next_at
        elif s.phase == "arriving":
            text = self._say("assistant")
            read = 60.0 * len(text.split()) / self.user.reading_wpm
            s.phase, s.next_at = "reading", s.next_at + read
        elif s.phase == "reading":
            s.phase, s.asked_at = "compose", s.next_at

    # --- asking, off the clock -------------------------------------------------------------
    def _seed(self, who: str) -> int:
        s = self.state
        return self.streams.integer_seed(
            self.user.persona_id, f"chat:{s.dialogue}:{len(s.history)}:{who}"
        )

    def ask(self) -> tuple[float, Callable[[], Awaitable[Any]]]:
        """The persona's next message, or the bot's reply, for the history so far."""
        s, world, user = self.state, self.world, self.user
        history, t = list(s.history), s.asked_at
        if s.phase == "compose":
            seed = self._seed("user")
            if history:
                return t, lambda: ask_turn(world.llm, user, history, seed=seed, t=t)
            return t, lambda: ask_opening(world.llm, user, seed=seed, t=t)
        return t, lambda: _ask_bot(world.chatbot, history, self._seed("bot"))

    def answered(self) -> None:
        """Act on the bot's reply, or on what the persona's model said."""
        s = self.state
        outcome, t = s.outcome, s.asked_at
        s.outcome = None
        if s.phase == "bot":
            if isinstance(outcome, Failure):
                self.end(StopReason.TARGET_ERROR, t, detail=outcome.detail)
                return
            assert isinstance(outcome, BotReply)
            tokens = outcome.tokens if outcome.tokens is not None else len(outcome.text.split())
            timing = self.world.config.timing
            latency = timing.bot_base_s + timing.bot_s_per_token * tokens
            s.phase, s.next_at, s.outbox = "arriving", t + latency, (outcome.text, tokens, latency)
            return
        if isinstance(outcome, Failure):
            self.world.counters["llm_failures"] += 1
            self.emit(EventKind.LLM_FAILURE, t, reason=outcome.reason, text=outcome.detail[:500])
            self.end(StopReason.LLM_FAILURE, t, detail=outcome.detail)
            return
        assert isinstance(outcome, Said)
        if outcome.satisfaction is not None:
            self.emit(
                EventKind.ASSESSMENT,
                t,
                rating=float(outcome.satisfaction),
                reason="goal_met" if outcome.goal_met else "goal_open",
                turn=len(s.history),
            )
            stop, last_word = self._stop(outcome)
            if stop is not None and not last_word:
                self.end(stop, t)
                return
            s.final = stop
        self._type(outcome, t)

    def _stop(self, said: Said) -> tuple[StopReason | None, bool]:
        """Whether the persona leaves now, and whether it says one more thing first."""
        s, model = self.state, self.world.stop_model
        satisfaction = float(said.satisfaction or 3)
        # Two draws every turn, used or not, so the stream stays aligned across arms.
        leave_draw, last_draw = self.rngs["stop"].uniform(size=2)
        last_word = bool(last_draw < model.p_user_last(satisfaction))
        if said.goal_met and satisfaction >= 3:  # "met, and I am unhappy" is not met
            return StopReason.GOAL_MET, last_word
        if s.user_turns >= self.world.config.max_turns:
            return StopReason.TURN_LIMIT, last_word
        if leave_draw < model.hazard(s.user_turns, satisfaction, self.user.patience):
            reason = StopReason.GAVE_UP if satisfaction <= 2 else StopReason.PATIENCE_EXHAUSTED
            return reason, last_word
        return None, False

    def _type(self, said: Said, t: float) -> None:
        s, user = self.state, self.user
        budget = self.world.stop_model.draw_words(user.style.verbosity, self.rngs["style"])
        text = apply_style(said.message, user.style, budget, self.rngs["style"])
        think = float(self.rngs["timing"].exponential(self.world.config.timing.think_s))
        if not text:  # the model wrote only whitespace: nothing to send
            self.emit(EventKind.LLM_FAILURE, t, reason="empty", text="blank message")
            self.end(StopReason.LLM_FAILURE, t, detail="blank message")
            return
        latency = think + len(text) / user.typing_cps
        s.phase, s.next_at, s.outbox = "typing", t + latency, (text, said.tokens, latency)

    # --- the trace -------------------------------------------------------------------------
    def trace_fields(self) -> dict[str, Any]:
        """Every event carries its dialogue and the bot it is held with."""
        return {"session": self.state.dialogue, "target": self.world.chatbot.name}

    def _say(self, role: str) -> str:
        s = self.state
        assert s.outbox is not None
        text, tokens, latency = s.outbox
        s.outbox = None
        self.emit(
            EventKind.MESSAGE,
            s.next_at,
            role=role,
            turn=len(s.history),
            text=text,
            tokens=tokens,
            latency=latency,
        )
        if role == "user" and (not s.history or s.history[-1][0] != "user"):
            s.user_turns += 1
        s.history.append((role, text))
        self.world.counters["messages"] += 1
        return text

    def end(self, reason: StopReason, t: float, *, detail: str | None = None) -> None:
        """Close the dialogue with a reason from the closed set."""
        s = self.state
        self.emit(
            EventKind.DIALOGUE_END,
            t,
            reason=reason.value,
            turn=len(s.history),
            text=None if detail is None else detail[:500],
        )
        self.world.counters["ended"] += 1
        s.phase, s.outcome, s.outbox, s.final = "done", None, None, None

    @property
    def open(self) -> bool:
        """Inside a dialogue (started, not ended)."""
        return self.state.phase not in ("idle", "done")

    def halt(self, t: float, reason: str) -> None:
        """End an open dialogue: the run stops here."""
        if self.open:
            self.end(StopReason(reason), t)

    # --- checkpoints -----------------------------------------------------------------------
    def snapshot(self) -> ChatState:
        """The conversation, its history copied."""
        return replace(self.state, history=list(self.state.history))


async def _ask_bot(chatbot: Any, history: list[tuple[str, str]], seed: int) -> BotReply | Failure:
    """The chatbot's reply; its failures become values (the dialogue ends, the run goes on)."""
    messages = [{"role": role, "content": text} for role, text in history]
    try:
        reply: BotReply = await chatbot.respond(messages, seed=seed)
    except ChatbotError as error:
        return Failure("target_error", error.detail)
    if not reply.text.strip():
        return Failure("target_error", "empty reply")
    return reply
