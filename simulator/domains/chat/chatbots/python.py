"""Chatbots written in Python: a plain function, or a compiled LangGraph app.

Both are found by a ref, "package.module:attr", so a bot under test is code
the user already has, imported rather than copied in.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from simulator.domains.chat.interfaces import BotReply, ChatbotError

ChatFunction = Callable[[list[dict[str, str]]], str | BotReply | Awaitable[str | BotReply]]


def _copy(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # The bot gets its own copy: one that edits it cannot change the dialogue.
    return [dict(message) for message in messages]


def _checked(name: str, reply: object) -> BotReply:
    """A BotReply with non-empty text, or ChatbotError naming what came instead."""
    if isinstance(reply, str):
        reply = BotReply(reply)
    if not isinstance(reply, BotReply):
        raise ChatbotError(name, f"returned {type(reply).__name__}, not str or BotReply")
    if not isinstance(reply.text, str):
        raise ChatbotError(name, f"returned text of type {type(reply.text).__name__}, not str")
    if not reply.text.strip():
        raise ChatbotError(name, "empty reply")
    return reply


def _failure(exc: Exception) -> str:
    detail = " ".join(f"{type(exc).__name__}: {exc}".split())
    return detail if len(detail) <= 200 else detail[:199] + "…"


class CallableChatbot:
    """A function of the conversation that returns the reply: str or BotReply, sync or async."""

    def __init__(self, fn: ChatFunction, name: str) -> None:
        """Wrap `fn`.

        Args:
            fn: called as fn(messages); it may return an awaitable, which is awaited.
            name: the bot's name in traces and errors.
        """
        self.fn = fn
        self.name = name

    async def respond(self, messages: list[dict[str, str]], *, seed: int) -> BotReply:
        """Call the function on a copy of the conversation (`seed` is not passed).

        Raises:
            ChatbotError: the function raised, or returned something other than
                non-empty text.
        """
        try:
            reply: object = self.fn(_copy(messages))
            if inspect.isawaitable(reply):
                reply = await reply
        except ChatbotError:
            raise
        except Exception as exc:
            raise ChatbotError(self.name, _failure(exc)) from exc
        return _checked(self.name, reply)

    async def aclose(self) -> None:
        """Nothing to release."""


def _content_text(content: object) -> str | None:
    """A message's content as text: a str, or the text parts of a content-block list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block if isinstance(block, str) else block.get("text")
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
        ]
        if all(isinstance(part, str) for part in parts):
            return "".join(parts)  # type: ignore[arg-type]
    return None


class LangGraphChatbot:
    """A compiled LangGraph app whose state has "messages" (e.g. MessagesState).

    Each turn invokes the app afresh with the whole conversation, and the
    reply is the last message of the state it returns. The seed reaches the
    graph's nodes as config["configurable"]["seed"].
    """

    def __init__(self, app: Any, name: str) -> None:
        """Wrap `app`.

        Args:
            app: a compiled graph (anything with `ainvoke`).
            name: the bot's name in traces and errors.

        Raises:
            ValueError: `app` has no `ainvoke`.
        """
        if not callable(getattr(app, "ainvoke", None)):
            hint = " (call .compile() on the graph)" if hasattr(app, "compile") else ""
            raise ValueError(f"{type(app).__name__} is not a compiled LangGraph app{hint}")
        self.app = app
        self.name = name

    async def respond(self, messages: list[dict[str, str]], *, seed: int) -> BotReply:
        """Run the graph on the conversation and return its last (AI) message.

        Raises:
            ChatbotError: the graph raised, or its last message is not an AI
                message with text.
        """
        try:
            state = await self.app.ainvoke(
                {"messages": _copy(messages)}, config={"configurable": {"seed": seed}}
            )
        except ChatbotError:
            raise
        except Exception as exc:
            raise ChatbotError(self.name, _failure(exc)) from exc
        history = state.get("messages") if isinstance(state, dict) else None
        if not isinstance(history, list) or not history:
            raise ChatbotError(self.name, "the graph's state has no messages")
        return self._reply(history[-1])

    def _reply(self, last: object) -> BotReply:
        from langchain_core.messages import AIMessage, BaseMessage  # there when a graph is

        tokens = None
        if isinstance(last, BaseMessage):
            if not isinstance(last, AIMessage):
                raise ChatbotError(
                    self.name, f"the graph's last message is a {type(last).__name__}, not an AI one"
                )
            content: object = last.content
            usage = last.usage_metadata
            tokens = usage.get("output_tokens") if usage else None
        elif isinstance(last, dict):
            role = last.get("role")
            if role not in ("assistant", "ai"):
                raise ChatbotError(
                    self.name, f"the graph's last message has role {role!r}, not 'assistant'"
                )
            content = last.get("content")
        else:
            raise ChatbotError(
                self.name, f"the graph's last message is a {type(last).__name__}, not a message"
            )
        text = _content_text(content)
        if text is None:
            raise ChatbotError(
                self.name, f"the graph's reply has {type(content).__name__} content, not text"
            )
        return _checked(self.name, BotReply(text, tokens if isinstance(tokens, int) else None))

    async def aclose(self) -> None:
        """Nothing to release."""
