"""The LLM client against the real embedded SmolLM2 server (validity only, never sampled text)."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field, create_model

from simulator.llm import (
    LLM,
    CallLedger,
    CallTag,
    EmbeddedServer,
    LLMConfig,
    ResponseCache,
    Structured,
    open_llm,
    read_calls,
)
from simulator.llm.server import gguf_path

ITEMS = ("m101", "m202", "m303", "m404", "m505")
MESSAGES = [
    {"role": "system", "content": "You choose one movie for the user. Answer in JSON."},
    {
        "role": "user",
        "content": "Movies: m101 Alien, m202 Heat, m303 Up, m404 Jaws, m505 Big. Pick one.",
    },
]


def pick_model() -> type[BaseModel]:
    """A schema built at run time, as a brain builds one per page."""
    return create_model(
        "Pick",
        item=(Literal[ITEMS], ...),  # type: ignore[valid-type]
        reason=(str, Field(max_length=40)),
    )


def config(**changes: Any) -> LLMConfig:
    # max_tokens well above the ~30 an answer takes: the grammar ends the answer anyway.
    base: dict[str, Any] = {"max_tokens": 64, "timeout_s": 60.0, "concurrency": 4}
    return LLMConfig(**{**base, **changes})


def local_llm(server: EmbeddedServer, **kwargs: Any) -> LLM:
    return LLM(
        config(cache=kwargs.get("cache") is not None),
        model=server.model,
        api_base=server.api_base,
        api_key="sk-no-key",
        cache_identity=server.identity,
        **kwargs,
    )


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One persistent loop, as a run keeps one."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(LLM(config(), model="openai/x", api_base=None).aclose())
    loop.close()


def gather(loop: asyncio.AbstractEventLoop, coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*coros, return_exceptions=True))

    return loop.run_until_complete(all_of())


def test_the_server_identifies_its_weights(embedded_server: EmbeddedServer) -> None:
    assert embedded_server.gguf_path() == gguf_path() and gguf_path().is_file()
    name, digest = embedded_server.identity.split("@")
    assert name == "smollm2-135m-instruct-q4_1" and len(digest) == 16
    assert embedded_server.api_base.startswith("http://127.0.0.1:")
    assert embedded_server.api_base.endswith("/v1")
    assert embedded_server.model == "openai/smollm2-135m-instruct"


def test_structured_answers_on_a_dynamic_enum_are_all_valid(
    embedded_server: EmbeddedServer, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    output = pick_model()
    llm = local_llm(embedded_server, ledger=CallLedger(tmp_path))
    calls = [
        llm.structured(MESSAGES, output, tag=CallTag("decide", f"p{i}"), seed=i) for i in range(20)
    ]
    results = gather(loop, calls)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    for result in results:
        assert isinstance(result, Structured)
        value = output.model_validate(result.value.model_dump())
        assert value.item in ITEMS and len(value.reason) <= 40  # type: ignore[attr-defined]
    ledger = llm.ledger
    assert ledger is not None
    ledger.flush()
    rows = read_calls(tmp_path)
    assert rows.height == 20 + sum(r.repairs for r in results)
    assert rows["model"].unique().to_list() == [embedded_server.identity]
    assert (rows["completion_tokens"] > 0).all() and (rows["latency_s"] > 0).all()


def test_a_repeated_call_is_replayed_from_the_cache_even_with_no_server(
    embedded_server: EmbeddedServer, loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    output = pick_model()
    path = tmp_path / "cache.sqlite"
    llm = local_llm(embedded_server, cache=ResponseCache(path), ledger=CallLedger(tmp_path / "a"))
    first, second = (
        loop.run_until_complete(llm.structured(MESSAGES, output, tag=CallTag("decide"), seed=42))
        for _ in range(2)
    )
    assert not first.reply.cache_hit and second.reply.cache_hit
    assert second.value == first.value and second.reply.text == first.reply.text
    llm.close()
    calls = read_calls(tmp_path / "a")
    assert calls["cache_hit"].to_list()[-1] is True

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    offline = LLM(
        config(cache=True, retries=0),
        model=embedded_server.model,
        api_base=dead,
        cache=ResponseCache(path),
        ledger=CallLedger(tmp_path / "b"),
        cache_identity=embedded_server.identity,
    )
    replay = loop.run_until_complete(
        offline.structured(MESSAGES, output, tag=CallTag("decide"), seed=42)
    )
    assert replay.value == first.value and replay.reply.cache_hit
    offline.close()
    replayed = read_calls(tmp_path / "b")
    assert replayed["cache_hit"].to_list() == [True] * replayed.height
    assert replayed["latency_s"].to_list() == [0.0] * replayed.height


def test_open_llm_starts_a_local_model_and_eight_calls_complete(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    output = pick_model()
    llm, server = open_llm(
        LLMConfig(model="local", slots=2, context=2048, max_tokens=64, concurrency=8),
        run_dir=tmp_path,
        cache_path=None,
    )
    try:
        assert server is not None and server.running
        assert server.start_s is not None and server.start_s > 0
        address = server.api_base
        assert llm.config.concurrency == 2  # no more in flight than the server has slots
        calls = [llm.structured(MESSAGES, output, tag=CallTag("decide"), seed=i) for i in range(8)]
        results = gather(loop, calls)
        assert all(isinstance(r, Structured) for r in results), results
    finally:
        llm.close()
        if server is not None:
            server.stop()
    assert not server.running
    with pytest.raises(OSError):  # stopped means the port is closed
        urllib.request.urlopen(address.removesuffix("/v1") + "/health", timeout=2)
    assert read_calls(tmp_path).height == 8 + sum(r.repairs for r in results)
