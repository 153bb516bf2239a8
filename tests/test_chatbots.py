"""Chatbots under test: the registry, Python and LangGraph bots, and the OpenAI-compatible one."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakellm import FakeLLMServer, Ok
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from pydantic import ValidationError

from simulator.domains.chat.chatbots import (
    CallableChatbot,
    ChatbotConfig,
    ChatbotContext,
    LangGraphChatbot,
    chatbot_names,
    check_chatbot_name,
    load_ref,
    make_chatbot,
)
from simulator.domains.chat.chatbots.openai_compat import OpenAICompatibleChatbot
from simulator.domains.chat.interfaces import BotReply, Chatbot, ChatbotError
from simulator.llm.cache import ResponseCache, cache_key
from simulator.llm.server import LOCAL_API_KEY, MODEL_ALIAS

T = TypeVar("T")
SECRET = "sk-test-SECRET-123"
MESSAGES = [{"role": "user", "content": "Hello, my order never arrived. What can I do?"}]
NO_CONTEXT = ChatbotContext()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def ask(bot: Chatbot, messages: list[dict[str, str]], seed: int = 1) -> BotReply:
    """One reply, then the bot is closed, as a run closes it."""
    try:
        return await bot.respond(messages, seed=seed)
    finally:
        await bot.aclose()


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- bots found by ref (this module is importable as `test_chatbots` under pytest) -----------


def echo_words(messages: list[dict[str, str]]) -> str:
    return f"you said {len(messages[-1]['content'].split())} words"


async def async_echo(messages: list[dict[str, str]]) -> BotReply:
    await asyncio.sleep(0)
    return BotReply(f"async: {messages[-1]['content']}", tokens=3)


def _count_words(state: MessagesState) -> dict[str, Any]:
    words = len(str(state["messages"][-1].content).split())
    return {"messages": [AIMessage(content=f"you said {words} words")]}


def _graph(node: Any) -> Any:
    graph = StateGraph(MessagesState)
    graph.add_node("bot", node)
    graph.add_edge(START, "bot")
    graph.add_edge("bot", END)
    return graph.compile()


APP = _graph(_count_words)


# -- registry and config ---------------------------------------------------------------------


def test_the_registry_names_every_kind_and_rejects_others() -> None:
    assert chatbot_names() == ("langgraph", "local", "openai", "python")
    check_chatbot_name("openai")
    with pytest.raises(ValueError, match=r"unknown chatbot 'nope'; choose one of: langgraph, loc"):
        make_chatbot(ChatbotConfig(kind="nope"), NO_CONTEXT)
    with pytest.raises(ValueError, match="choose one of"):
        check_chatbot_name("nope")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ChatbotConfig(kind="python"), "python chatbot needs a ref"),
        (ChatbotConfig(kind="langgraph"), "langgraph chatbot needs a ref"),
        (ChatbotConfig(kind="openai"), "openai chatbot needs a model"),
        (ChatbotConfig(kind="local"), "local chatbot needs the embedded server"),
        (ChatbotConfig(kind="python", ref="math:pi"), "'math:pi' is a float"),
        (ChatbotConfig(kind="langgraph", ref="json:dumps"), "not a compiled LangGraph app"),
        (ChatbotConfig(kind="python", ref="no_such_module_xyz:f"), "cannot import"),
    ],
)
def test_a_config_missing_what_its_kind_needs_says_so(config: ChatbotConfig, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_chatbot(config, NO_CONTEXT)


def test_the_local_kind_takes_no_endpoint_of_its_own() -> None:
    context = ChatbotContext(local_api_base="http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="use kind 'openai'"):
        make_chatbot(ChatbotConfig(kind="local", model="gpt-4o-mini"), context)


def test_a_remote_endpoint_without_its_key_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MY_BOT_KEY", raising=False)
    config = ChatbotConfig(kind="openai", model="m", api_key_env="MY_BOT_KEY")
    with pytest.raises(ValueError, match="set the environment variable MY_BOT_KEY"):
        make_chatbot(config, NO_CONTEXT)


def test_keys_cannot_live_in_the_config() -> None:
    with pytest.raises(ValidationError):
        ChatbotConfig(kind="openai", model="m", api_key=SECRET)  # type: ignore[call-arg]


def test_describe_names_the_bot_and_never_a_secret() -> None:
    url = f"https://user:{SECRET}@host.example:8443/v1?key={SECRET}"
    assert ChatbotConfig(kind="openai", model="gpt-4o-mini", base_url=url).describe() == (
        "openai:gpt-4o-mini@https://host.example:8443/v1"
    )
    assert ChatbotConfig(kind="openai", model="gpt-4o-mini").describe() == (
        "openai:gpt-4o-mini@https://api.openai.com/v1"
    )
    assert ChatbotConfig(kind="python", ref="pkg.mod:fn").describe() == "python:pkg.mod:fn"
    assert ChatbotConfig().describe("smol@abc") == "local:smol@abc"


def test_load_ref_imports_or_says_how_to_fix_it() -> None:
    assert load_ref("json:dumps") is json.dumps
    assert load_ref("json:decoder.JSONDecoder") is json.decoder.JSONDecoder
    with pytest.raises(ValueError, match=r"must look like 'package\.module:attr'"):
        load_ref("json.dumps")
    with pytest.raises(ValueError, match=r"cannot import 'no_such_module_xyz:f'.*PYTHONPATH"):
        load_ref("no_such_module_xyz:f")
    with pytest.raises(ValueError, match=r"cannot load 'json:nope'.*after the colon"):
        load_ref("json:nope")


def test_a_ref_in_the_folder_simfolk_runs_from_is_found(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_support_bot.py").write_text("def reply(messages):\n    return 'hi'\n")
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    assert load_ref("my_support_bot:reply")([]) == "hi"
    assert sys.path == before  # found without leaving the folder on the import path


# -- Python functions ------------------------------------------------------------------------


def test_sync_and_async_functions_give_replies() -> None:
    assert run(ask(CallableChatbot(echo_words, "py"), MESSAGES)) == BotReply("you said 9 words")
    assert run(ask(CallableChatbot(async_echo, "py"), MESSAGES)) == BotReply(
        f"async: {MESSAGES[0]['content']}", tokens=3
    )
    assert run(ask(CallableChatbot(lambda m: BotReply("hi", 1), "py"), MESSAGES)) == BotReply(
        "hi", 1
    )


def test_a_python_bot_by_ref_is_named_by_its_kind() -> None:
    bot = make_chatbot(ChatbotConfig(kind="python", ref="test_chatbots:async_echo"), NO_CONTEXT)
    assert isinstance(bot, Chatbot) and bot.name == "python"
    assert run(ask(bot, MESSAGES)).tokens == 3


def test_a_bot_that_edits_the_conversation_edits_its_own_copy() -> None:
    def rude(messages: list[dict[str, str]]) -> str:
        messages[0]["content"] = "changed"
        messages.clear()
        return "ok"

    messages = [dict(m) for m in MESSAGES]
    run(ask(CallableChatbot(rude, "py"), messages))
    assert messages == MESSAGES


def test_a_function_that_raises_is_a_chatbot_error() -> None:
    def broken(messages: list[dict[str, str]]) -> str:
        raise RuntimeError("boom")

    async def broken_async(messages: list[dict[str, str]]) -> str:
        raise KeyError("gone")

    with pytest.raises(ChatbotError, match="RuntimeError: boom") as caught:
        run(ask(CallableChatbot(broken, "py"), MESSAGES))
    assert caught.value.target == "py"
    with pytest.raises(ChatbotError, match="KeyError"):
        run(ask(CallableChatbot(broken_async, "py"), MESSAGES))


@pytest.mark.parametrize(
    ("result", "message"),
    [(42, "returned int"), (None, "returned NoneType"), ("  ", "empty reply")],
)
def test_a_function_without_text_is_a_chatbot_error(result: object, message: str) -> None:
    with pytest.raises(ChatbotError, match=message):
        run(ask(CallableChatbot(lambda m: result, "py"), MESSAGES))  # type: ignore[arg-type,return-value]


# -- LangGraph -------------------------------------------------------------------------------


def test_a_langgraph_app_by_ref_answers_with_its_last_ai_message() -> None:
    bot = make_chatbot(ChatbotConfig(kind="langgraph", ref="test_chatbots:APP"), NO_CONTEXT)
    assert bot.name == "langgraph"
    conversation = [
        *MESSAGES,
        {"role": "assistant", "content": "Sorry to hear that."},
        {"role": "user", "content": "Refund please"},
    ]
    assert run(ask(bot, conversation)) == BotReply("you said 2 words")


def test_the_seed_reaches_the_graph() -> None:
    def seeded(state: MessagesState, config: RunnableConfig) -> dict[str, Any]:
        seed = config.get("configurable", {})["seed"]
        return {"messages": [AIMessage(content=f"seed {seed}")]}

    bot = LangGraphChatbot(_graph(seeded), "lg")
    assert run(ask(bot, MESSAGES, seed=77)).text == "seed 77"


def test_a_graph_that_ends_on_a_human_message_is_a_chatbot_error() -> None:
    def parrot(state: MessagesState) -> dict[str, Any]:
        return {"messages": [HumanMessage(content="me again")]}

    with pytest.raises(ChatbotError, match="HumanMessage, not an AI one"):
        run(ask(LangGraphChatbot(_graph(parrot), "lg"), MESSAGES))


def test_a_graph_that_raises_is_a_chatbot_error() -> None:
    def broken(state: MessagesState) -> dict[str, Any]:
        raise ValueError("no tools")

    with pytest.raises(ChatbotError, match="ValueError: no tools"):
        run(ask(LangGraphChatbot(_graph(broken), "lg"), MESSAGES))


def test_an_uncompiled_graph_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"call \.compile\(\)"):
        LangGraphChatbot(StateGraph(MessagesState), "lg")


# -- OpenAI-compatible, against the embedded server ------------------------------------------


def test_a_warm_cache_replays_the_reply_and_keeps_no_secret(
    embedded_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    config = ChatbotConfig(
        kind="openai", model=MODEL_ALIAS, base_url=embedded_server.api_base, max_tokens=24
    )
    # The same bot at an endpoint where nothing listens can only answer from the cache.
    offline = config.model_copy(update={"base_url": f"http://127.0.0.1:{dead_port()}/v1"})

    async def both() -> tuple[BotReply, BotReply]:
        first = await ask(make_chatbot(config, ChatbotContext(cache=cache)), MESSAGES, seed=11)
        second = await ask(make_chatbot(offline, ChatbotContext(cache=cache)), MESSAGES, seed=11)
        return first, second

    first, second = run(both())
    assert first == second
    assert first.text.strip() and first.tokens is not None and first.tokens > 0
    assert len(cache) == 1
    cache.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data
            assert embedded_server.api_base.encode() not in data


def test_the_local_kind_is_the_embedded_server_keyed_by_its_identity(
    embedded_server: Any, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    context = ChatbotContext(
        local_api_base=embedded_server.api_base,
        local_model=embedded_server.model,
        local_identity=embedded_server.identity,
        cache=cache,
    )
    config = ChatbotConfig(max_tokens=16, temperature=0.0)
    bot = make_chatbot(config, context)
    assert bot.name == "local"
    reply = run(ask(bot, MESSAGES, seed=3))
    assert reply.text.strip()
    key = cache_key(
        model=f"chatbot:{embedded_server.identity}",
        messages=[{"role": "system", "content": config.system_prompt}, *MESSAGES],
        temperature=0.0,
        max_tokens=16,
        seed=3,
        response_format=None,
    )
    assert key in cache and len(cache) == 1
    cache.close()


def test_without_a_model_the_server_is_asked_for_its_own(embedded_server: Any) -> None:
    config = ChatbotConfig(kind="openai", base_url=embedded_server.api_base, max_tokens=8)
    bot = make_chatbot(config, NO_CONTEXT)
    assert run(ask(bot, MESSAGES)).text.strip()
    assert isinstance(bot, OpenAICompatibleChatbot) and bot.model == MODEL_ALIAS


# -- OpenAI-compatible, against a scripted fake ----------------------------------------------


def fake_bot(server: FakeLLMServer, cache: ResponseCache | None = None, **changes: Any) -> Chatbot:
    settings: dict[str, Any] = {
        "kind": "openai",
        "model": "fake",
        "base_url": server.api_base,
        "timeout_s": 5.0,
        "retries": 1,
        "max_tokens": 32,
        **changes,
    }
    return make_chatbot(ChatbotConfig(**settings), ChatbotContext(cache=cache))


def test_a_server_error_is_retried_and_the_request_is_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeLLMServer(["500", Ok("Let me check your order.", completion_tokens=6)]) as server:
        reply = run(ask(fake_bot(server, temperature=0.2), MESSAGES, seed=5))
        received = server.received
    assert reply == BotReply("Let me check your order.", tokens=6)
    assert [r.behaviour for r in received] == ["500", received[-1].behaviour]
    body = received[-1].body
    assert body["messages"] == [
        {"role": "system", "content": ChatbotConfig().system_prompt},
        *MESSAGES,
    ]
    assert (body["model"], body["seed"], body["temperature"], body["max_tokens"]) == (
        "fake",
        5,
        0.2,
        32,
    )
    assert received[-1].headers["authorization"] == f"Bearer {SECRET}"


def test_a_keyless_loopback_server_gets_the_placeholder_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLMServer() as server:
        run(ask(fake_bot(server), MESSAGES))
        assert server.received[0].headers["authorization"] == f"Bearer {LOCAL_API_KEY}"


@pytest.mark.parametrize(
    ("fault", "attempts", "detail"),
    [
        ("500", 2, "HTTP 500: fake 500"),
        ("400", 1, "HTTP 400: fake 400"),
        ("malformed", 1, "malformed response"),
        (Ok(""), 1, "empty reply"),
        (Ok("   \n"), 1, "empty reply"),
        ("timeout", 2, "timed out after 0.3 s"),
    ],
)
def test_a_failure_is_a_chatbot_error_with_a_short_detail(
    fault: Any, attempts: int, detail: str
) -> None:
    with FakeLLMServer(default=fault, hang_s=2.0) as server:
        with pytest.raises(ChatbotError) as caught:
            run(ask(fake_bot(server, timeout_s=0.3), MESSAGES))
        assert len(server.received) == attempts
    assert caught.value.target == "openai"
    assert caught.value.detail.startswith(detail) and len(caught.value.detail) <= 200


def test_a_dead_endpoint_is_a_chatbot_error() -> None:
    config = ChatbotConfig(
        kind="openai", model="m", base_url=f"http://127.0.0.1:{dead_port()}/v1", retries=0
    )
    with pytest.raises(ChatbotError, match=r"cannot connect to http://127\.0\.0\.1"):
        run(ask(make_chatbot(config, NO_CONTEXT), MESSAGES))


def test_a_server_without_a_model_list_is_a_chatbot_error() -> None:
    with FakeLLMServer() as server:
        bot = fake_bot(server, model=None, retries=0)
        with pytest.raises(ChatbotError, match="no model configured"):
            run(ask(bot, MESSAGES))


def test_the_cache_answers_repeats_and_keeps_failures_out(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeLLMServer(["500", "500", Ok("first"), Ok("second")], default="500") as server:

        async def turns() -> list[BotReply | str]:
            bot = fake_bot(server, cache)
            replies: list[BotReply | str] = []
            for seed in (1, 1, 1, 2, 2):
                try:
                    replies.append(await bot.respond(MESSAGES, seed=seed))
                except ChatbotError as exc:
                    replies.append(exc.detail)
            await bot.aclose()
            return replies

        replies = run(turns())
        requests = len(server.received)
    assert replies == [
        "HTTP 500: fake 500",  # both attempts failed: nothing cached
        BotReply("first", 5),
        BotReply("first", 5),  # a hit: no request
        BotReply("second", 5),
        BotReply("second", 5),
    ]
    assert requests == 4 and len(cache) == 2
    cache.close()
