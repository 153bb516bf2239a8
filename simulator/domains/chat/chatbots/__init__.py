"""Chatbots under test, by kind: `local`, `openai`, `python`, `langgraph`.

"local" is the embedded model the run already serves for its personas, with
the bot's own system prompt; "openai" is any OpenAI-compatible endpoint;
"python" and "langgraph" are code found by a "package.module:attr" ref. The
openai SDK loads only when a model kind is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.core.refs import load_ref
from simulator.core.registry import Registry
from simulator.domains.chat.chatbots.config import DEFAULT_BASE_URL, ChatbotConfig
from simulator.domains.chat.chatbots.python import CallableChatbot, LangGraphChatbot
from simulator.domains.chat.interfaces import Chatbot
from simulator.llm.cache import ResponseCache


@dataclass(frozen=True)
class ChatbotContext:
    """What a run provides its chatbot: the embedded server, if started, and the cache."""

    local_api_base: str | None = None  # e.g. EmbeddedServer.api_base
    local_model: str | None = None  # the model name it serves (a litellm "openai/" prefix is ok)
    local_identity: str | None = None  # its weights' identity, for the cache key
    cache: ResponseCache | None = None


def _local(config: ChatbotConfig, context: ChatbotContext) -> Chatbot:
    if context.local_api_base is None:
        raise ValueError(
            "the local chatbot needs the embedded server, which this run did not start; "
            "use the local LLM for the personas, or pick kind 'openai' with a base_url"
        )
    if config.base_url is not None or config.model is not None:
        raise ValueError(
            "the local chatbot is the embedded model: drop base_url and model, "
            "or use kind 'openai' for another endpoint"
        )
    from simulator.domains.chat.chatbots.openai_compat import OpenAICompatibleChatbot
    from simulator.llm.server import LOCAL_API_KEY  # loaded already: the server is running

    model = context.local_model
    if model is not None:
        # The run may hand over litellm's model string; the server knows the bare name.
        model = model.removeprefix("openai/")
    return OpenAICompatibleChatbot(
        config,
        name="local",
        base_url=context.local_api_base,
        model=model,
        api_key=LOCAL_API_KEY,  # the embedded server checks none; never send it a real one
        identity=context.local_identity,
        cache=context.cache,
    )


def _openai(config: ChatbotConfig, context: ChatbotContext) -> Chatbot:
    from simulator.domains.chat.chatbots.openai_compat import (
        OpenAICompatibleChatbot,
        api_key_from_env,
    )

    if config.base_url is None and config.model is None:
        raise ValueError(
            "the openai chatbot needs a model (e.g. model: gpt-4o-mini), a base_url "
            "(e.g. base_url: http://127.0.0.1:8000/v1), or both"
        )
    base_url = config.base_url or DEFAULT_BASE_URL
    return OpenAICompatibleChatbot(
        config,
        name="openai",
        base_url=base_url,
        model=config.model,
        api_key=api_key_from_env(config.api_key_env, base_url),
        cache=context.cache,
    )


def _ref(config: ChatbotConfig) -> str:
    if config.ref is None:
        raise ValueError(
            f"the {config.kind} chatbot needs a ref, e.g. ref: mypackage.bot:"
            f"{'app' if config.kind == 'langgraph' else 'reply'}"
        )
    return config.ref


def _python(config: ChatbotConfig, context: ChatbotContext) -> Chatbot:
    ref = _ref(config)
    fn = load_ref(ref)
    if not callable(fn):
        raise ValueError(f"ref {ref!r} is a {type(fn).__name__}; a python chatbot is a function")
    return CallableChatbot(fn, name="python")


def _langgraph(config: ChatbotConfig, context: ChatbotContext) -> Chatbot:
    ref = _ref(config)
    try:
        return LangGraphChatbot(load_ref(ref), name="langgraph")
    except ValueError as exc:
        raise ValueError(f"ref {ref!r}: {exc}") from exc


CHATBOTS: Registry[[ChatbotConfig, ChatbotContext], Chatbot] = Registry("chatbot")
CHATBOTS.register("local", _local)
CHATBOTS.register("openai", _openai)
CHATBOTS.register("python", _python)
CHATBOTS.register("langgraph", _langgraph)


def chatbot_names() -> tuple[str, ...]:
    """Kinds `make_chatbot` accepts."""
    return CHATBOTS.names()


def check_chatbot_name(name: str) -> None:
    """Raise ValueError naming the choices if `name` is not a registered chatbot kind."""
    CHATBOTS.check(name)


def make_chatbot(config: ChatbotConfig, context: ChatbotContext) -> Chatbot:
    """Build the chatbot the config describes, or say what it is missing.

    Args:
        config: the bot's kind and settings.
        context: the run's embedded server (for "local") and response cache.

    Returns:
        A chatbot; its `name` is its kind.

    Raises:
        ValueError: an unknown kind, a missing field, a ref that does not
            import, or a key that is not in the environment.
    """
    return CHATBOTS.make(config.kind, config, context)


__all__ = [
    "CHATBOTS",
    "CallableChatbot",
    "ChatbotConfig",
    "ChatbotContext",
    "LangGraphChatbot",
    "chatbot_names",
    "check_chatbot_name",
    "load_ref",
    "make_chatbot",
]
