"""The LLM client against a scripted fake server: retries, repairs, accounting, budget, secrecy."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import polars as pl
import pytest
from fakellm import FakeLLMServer, Ok
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from simulator.llm import (
    LLM,
    Budget,
    BudgetExhausted,
    CallLedger,
    CallTag,
    InvalidAnswer,
    LLMConfig,
    LLMFailure,
    ResponseCache,
    TransportError,
    read_calls,
)
from simulator.llm.answers import response_format_for

T = TypeVar("T")
KEY = "sk-TOPSECRET-0123456789abcdef"
TAG = CallTag("decide", persona_id="p1", t=12.5)
MESSAGES = [{"role": "system", "content": "Pick."}, {"role": "user", "content": "a, b or c?"}]


class Pick(BaseModel):
    choice: Literal["a", "b", "c"]
    reason: str = Field(max_length=40)


def config(**changes: Any) -> LLMConfig:
    base: dict[str, Any] = {
        "model": "openai/fake",
        "timeout_s": 10.0,
        "retries": 2,
        "backoff_s": 0.0,
        "repairs": 2,
        "concurrency": 4,
        "cache": False,
        "max_tokens": 16,
    }
    return LLMConfig(**{**base, **changes})


def make_llm(
    server: FakeLLMServer | None,
    run_dir: Path | None = None,
    *,
    cache: ResponseCache | None = None,
    budget: Budget | None = None,
    api_base: str | None = None,
    **changes: Any,
) -> LLM:
    return LLM(
        config(cache=cache is not None, **changes),
        model="openai/fake",
        api_base=api_base or (server.api_base if server else None),
        api_key=KEY,
        cache=cache,
        ledger=CallLedger(run_dir) if run_dir is not None else None,
        budget=budget,
    )


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One persistent loop for the module, as the simulator keeps one for a run."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(make_llm(None).aclose())
    loop.close()


def run(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return loop.run_until_complete(coro)


def gather(loop: asyncio.AbstractEventLoop, coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*coros, return_exceptions=True))

    return loop.run_until_complete(all_of())


def rows(llm: LLM, run_dir: Path) -> pl.DataFrame:
    assert llm.ledger is not None
    llm.ledger.flush()
    return read_calls(run_dir)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- transport faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("429", "rate_limited"),
        ("500", "server_error"),
        ("503", "server_error"),
        ("malformed", "server_error"),
        ("timeout", "timeout"),
    ],
)
def test_a_persistent_fault_is_retried_then_raised(
    loop: asyncio.AbstractEventLoop, tmp_path: Path, fault: str, reason: str
) -> None:
    with FakeLLMServer(default=fault, hang_s=5.0) as server:  # type: ignore[arg-type]
        llm = make_llm(server, tmp_path, retries=2, timeout_s=0.3 if fault == "timeout" else 10.0)
        with pytest.raises(TransportError) as caught:
            run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=1))
        assert len(server.received) == 3
    assert (caught.value.reason, caught.value.attempts) == (reason, 3)
    calls = rows(llm, tmp_path)
    assert calls["attempt"].to_list() == [0, 1, 2]
    assert calls["error"].to_list() == [reason] * 3
    assert not any(calls["ok"]) and not any(calls["cache_hit"])
    assert calls["purpose"].to_list() == ["decide"] * 3
    assert calls["persona_id"].to_list() == ["p1"] * 3 and calls["t"].to_list() == [12.5] * 3
    if fault == "timeout":
        assert min(calls["latency_s"]) >= 0.25


def test_a_dead_endpoint_is_a_connection_failure(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    api_base = f"http://127.0.0.1:{dead_port()}/v1"
    llm = make_llm(None, tmp_path, api_base=api_base, retries=1)
    with pytest.raises(TransportError) as caught:
        run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
    assert (caught.value.reason, caught.value.attempts) == ("connection", 2)
    assert rows(llm, tmp_path)["error"].to_list() == ["connection", "connection"]


def test_a_client_error_is_not_retried(loop: asyncio.AbstractEventLoop, tmp_path: Path) -> None:
    with FakeLLMServer(default="400") as server:
        llm = make_llm(server, tmp_path, retries=3)
        with pytest.raises(TransportError) as caught:
            run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
        assert len(server.received) == 1
    assert (caught.value.reason, caught.value.attempts) == ("client_error", 1)
    assert rows(llm, tmp_path)["error"].to_list() == ["client_error"]


def test_a_missing_key_is_a_client_error(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLMServer() as server:
        llm = LLM(config(retries=3), model="openai/fake", api_base=server.api_base)
        with pytest.raises(TransportError) as caught:
            run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
        assert len(server.received) == 0
    assert (caught.value.reason, caught.value.attempts) == ("client_error", 1)


def test_retries_recover_and_every_attempt_is_a_row(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    with FakeLLMServer(["500", "429", "malformed", "ok"]) as server:
        llm = make_llm(server, tmp_path, retries=3)
        answer = run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=4))
        assert len(server.received) == 4
    assert answer.value == Pick(choice="a", reason="fine") and answer.repairs == 0
    assert (answer.reply.prompt_tokens, answer.reply.completion_tokens) == (10, 5)
    calls = rows(llm, tmp_path)
    assert calls["attempt"].to_list() == [0, 1, 2, 3]
    assert calls["ok"].to_list() == [False, False, False, True]
    assert calls["error"].to_list() == ["server_error", "rate_limited", "server_error", None]
    assert calls["prompt_tokens"].to_list() == [0, 0, 0, 10]
    assert calls["seq"].to_list() == [0, 1, 2, 3]
    assert calls["cost_usd"].null_count() == 4  # litellm has no price for a fake model


@pytest.mark.parametrize("header", ["1", "1.2"])
def test_a_429_waits_as_long_as_its_retry_after_says(
    loop: asyncio.AbstractEventLoop, header: str
) -> None:
    with FakeLLMServer(["429", "ok"], retry_after=header) as server:
        llm = make_llm(server, backoff_s=0.0, retries=1)
        started = time.monotonic()
        gather(loop, [llm.text(MESSAGES, tag=TAG, seed=1)])
        waited = time.monotonic() - started
    assert [r.behaviour for r in server.received] == ["429", "ok"]
    assert waited >= float(header)  # backoff alone (0 s) would have retried at once


def test_retry_after_reads_seconds() -> None:
    from types import SimpleNamespace

    from simulator.core.retry_after import MAX_RETRY_AFTER_S, retry_after

    def failure(value: str, name: str = "retry-after") -> Exception:
        exc = Exception("429")
        exc.response = SimpleNamespace(headers={name: value})  # type: ignore[attr-defined]
        return exc

    assert retry_after(failure("3")) == 3.0
    assert retry_after(failure("1500", "retry-after-ms")) == 1.5
    assert retry_after(failure("99999")) == MAX_RETRY_AFTER_S
    # An HTTP date would need the wall clock: the backoff decides instead.
    assert retry_after(failure("Wed, 21 Oct 2026 07:28:00 GMT")) is None
    assert retry_after(Exception("x")) is None
    assert retry_after(failure("nan")) is None


def test_backoff_starts_at_backoff_s_and_doubles(loop: asyncio.AbstractEventLoop) -> None:
    with FakeLLMServer(["500", "500", "500", "ok"]) as server:
        llm = make_llm(server, retries=3, backoff_s=0.05)
        started = time.perf_counter()
        run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
        assert time.perf_counter() - started >= 0.05 + 0.1 + 0.2


def test_the_request_carries_the_settings(loop: asyncio.AbstractEventLoop) -> None:
    with FakeLLMServer() as server:
        llm = make_llm(server, temperature=0.3)
        run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=77, max_tokens=12))
        (request,) = server.received
    body = request.body
    assert body["model"] == "fake" and body["messages"] == MESSAGES
    assert (body["seed"], body["max_tokens"], body["temperature"]) == (77, 12, 0.3)
    schema = body["response_format"]["json_schema"]
    assert schema["name"] == "Pick" and schema["strict"] is True
    assert schema["schema"]["additionalProperties"] is False
    assert request.headers["authorization"] == f"Bearer {KEY}"  # the key does reach the server


# -- invalid answers and repairs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("invalid", "schema"),
        ("truncated", "truncated"),
        (Ok("this is not json"), "invalid_json"),
        (Ok('{"choice": "z", "reason": "no"}'), "schema"),
        (Ok("  "), "empty"),
    ],
)
def test_one_bad_answer_is_repaired(
    loop: asyncio.AbstractEventLoop, tmp_path: Path, bad: Any, reason: str
) -> None:
    with FakeLLMServer([bad, "ok"]) as server:
        llm = make_llm(server, tmp_path, repairs=1)
        answer = run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=2))
        first, second = (r.body["messages"] for r in server.received)
    assert answer.value.choice == "a" and answer.repairs == 1
    assert first == MESSAGES
    assert second[: len(MESSAGES)] == MESSAGES
    assert second[-2]["role"] == "assistant" and second[-1]["role"] == "user"
    assert "JSON" in second[-1]["content"]
    calls = rows(llm, tmp_path)
    assert calls["repair"].to_list() == [0, 1]
    assert calls["error"].to_list() == [reason, None]
    assert calls["ok"].to_list() == [False, True]
    assert calls["completion_tokens"].to_list() == [5, 5]  # an invalid answer still costs


@pytest.mark.parametrize(("bad", "reason"), [("invalid", "schema"), ("truncated", "truncated")])
def test_repairs_are_bounded(
    loop: asyncio.AbstractEventLoop, tmp_path: Path, bad: str, reason: str
) -> None:
    with FakeLLMServer(default=bad) as server:  # type: ignore[arg-type]
        llm = make_llm(server, tmp_path, repairs=2)
        with pytest.raises(InvalidAnswer) as caught:
            run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=2))
        assert len(server.received) == 3
    assert (caught.value.reason, caught.value.attempts) == (reason, 3)
    assert rows(llm, tmp_path)["repair"].to_list() == [0, 1, 2]


def test_free_text_and_its_empty_answer(loop: asyncio.AbstractEventLoop) -> None:
    with FakeLLMServer([Ok("Hello there."), Ok(""), Ok("")]) as server:
        llm = make_llm(server, repairs=1)
        reply = run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
        assert (reply.text, reply.cache_hit, reply.finish_reason) == ("Hello there.", False, "stop")
        assert "response_format" not in server.received[0].body
        with pytest.raises(InvalidAnswer) as caught:
            run(loop, llm.text(MESSAGES, tag=TAG, seed=2))
    assert caught.value.reason == "empty"


def test_a_dynamic_enum_schema_is_strict_everywhere() -> None:
    from pydantic import create_model

    inner = create_model("Inner", score=(int, ...))
    outer = create_model("Outer pick!", item=(Literal["i1", "i2"], ...), inner=(inner, ...))
    fmt = response_format_for(outer)
    assert fmt["json_schema"]["name"] == "Outer_pick_"
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Inner"]["additionalProperties"] is False
    assert schema["properties"]["item"]["enum"] == ["i1", "i2"]


# -- the cache, seen from the client --------------------------------------------------------------


def test_a_repeated_call_is_a_cache_hit_and_replays_repairs_exactly(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeLLMServer(["invalid", "ok"]) as server:
        llm = make_llm(server, tmp_path, cache=cache, repairs=1)
        first = run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=9))
        again = run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=9))
        assert len(server.received) == 2  # the replay asked nothing
    assert (first.value, first.repairs) == (again.value, again.repairs) == (first.value, 1)
    assert again.reply.cache_hit and not first.reply.cache_hit
    assert len(cache) == 2  # the invalid answer and the repaired one
    calls = rows(llm, tmp_path)
    assert calls["cache_hit"].to_list() == [False, False, True, True]
    assert calls["error"].to_list() == ["schema", None, "schema", None]
    assert calls.filter(pl.col("cache_hit"))["latency_s"].to_list() == [0.0, 0.0]


def test_without_config_cache_no_cache_is_used(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeLLMServer() as server:
        llm = LLM(config(), model="openai/fake", api_base=server.api_base, api_key=KEY, cache=cache)
        for _ in range(2):
            run(loop, llm.text(MESSAGES, tag=TAG, seed=1))
        assert len(server.received) == 2
    assert len(cache) == 0


# -- no row lost, under concurrency and random faults -------------------------------------------

TRANSPORT = {"429": "rate_limited", "500": "server_error", "503": "server_error"}
TRANSPORT["malformed"] = "server_error"
INVALID = {"invalid": "schema", "truncated": "truncated"}
QUICK_FAULTS = ["ok", "slow", *TRANSPORT, *INVALID]


def predict(script: list[str], retries: int, repairs: int) -> tuple[str, list[tuple[int, int]]]:
    """What the client must do with a script: outcome and the (repair, attempt) of each request."""
    queue = list(script)
    requests: list[tuple[int, int]] = []
    for repair in range(repairs + 1):
        for attempt in range(retries + 1):
            behaviour = queue.pop(0) if queue else "ok"
            requests.append((repair, attempt))
            if behaviour in TRANSPORT:
                if attempt == retries:
                    return f"transport:{TRANSPORT[behaviour]}", requests
                continue
            if behaviour in INVALID:
                if repair == repairs:
                    return f"invalid:{INVALID[behaviour]}", requests
                break
            return "ok", requests
    raise AssertionError("unreachable")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    script=st.lists(st.sampled_from(QUICK_FAULTS), max_size=8),
    retries=st.integers(0, 2),
    repairs=st.integers(0, 2),
)
def test_random_fault_scripts_match_the_model_and_lose_no_row(
    loop: asyncio.AbstractEventLoop, script: list[str], retries: int, repairs: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(script, slow_s=0.01) as server:  # type: ignore[arg-type]
        run_dir = Path(tmp)
        llm = make_llm(server, run_dir, retries=retries, repairs=repairs)
        outcome: str
        try:
            run(loop, llm.structured(MESSAGES, Pick, tag=TAG, seed=3))
            outcome = "ok"
        except TransportError as failure:
            outcome = f"transport:{failure.reason}"
        except InvalidAnswer as failure:
            outcome = f"invalid:{failure.reason}"
        expected, requests = predict(script, retries, repairs)
        assert outcome == expected
        assert len(server.received) == len(requests)
        calls = rows(llm, run_dir)
        assert list(zip(calls["repair"], calls["attempt"], strict=True)) == requests
        assert calls["ok"].sum() == (1 if expected == "ok" else 0)


def test_many_concurrent_calls_with_mixed_faults_lose_no_row(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    rng = random.Random(11)
    script = rng.choices(QUICK_FAULTS, k=120)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeLLMServer(script, slow_s=0.02) as server:  # type: ignore[arg-type]
        llm = make_llm(server, tmp_path, cache=cache, retries=2, repairs=1, concurrency=5)
        # 60 calls, 20 distinct: later duplicates may be answered from the cache.
        calls = [llm.structured(MESSAGES, Pick, tag=TAG, seed=i % 20) for i in range(60)]
        results = gather(loop, calls)
        requests = len(server.received)
        assert server.max_in_flight <= 5
    assert all(not isinstance(r, BaseException) or isinstance(r, LLMFailure) for r in results)
    ledger = rows(llm, tmp_path)
    hits = int(ledger["cache_hit"].sum())
    assert ledger.height == requests + hits
    assert ledger["seq"].to_list() == list(range(ledger.height))
    assert int(ledger["ok"].sum()) == sum(not isinstance(r, BaseException) for r in results)


def test_the_llm_serves_one_persistent_loop_and_then_another(tmp_path: Path) -> None:
    with FakeLLMServer(default="slow", slow_s=0.05) as server:
        llm = make_llm(server, tmp_path, concurrency=2)
        for _ in range(2):
            first = asyncio.new_event_loop()
            for _ in range(3):
                results = gather(first, [llm.text(MESSAGES, tag=TAG, seed=i) for i in range(4)])
                assert all(r.text for r in results)
            first.run_until_complete(llm.aclose())
            first.close()
        assert server.max_in_flight <= 2
    assert rows(llm, tmp_path).height == 24


# -- the budget -----------------------------------------------------------------------------------


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    limit=st.integers(1, 400),
    usage=st.tuples(st.integers(0, 40), st.integers(0, 16)),
    concurrency=st.integers(1, 8),
)
def test_the_budget_is_never_overrun_by_more_than_one_call(
    loop: asyncio.AbstractEventLoop, limit: int, usage: tuple[int, int], concurrency: int
) -> None:
    prompt, completion = usage
    answer = Ok('{"choice": "b", "reason": "ok"}', prompt, completion)
    budget = Budget(tokens=limit)
    with FakeLLMServer(default=answer) as server:
        llm = make_llm(server, budget=budget, concurrency=concurrency)
        results = gather(loop, [llm.structured(MESSAGES, Pick, tag=TAG, seed=i) for i in range(30)])
        requests = len(server.received)
    per_call = prompt + completion
    assert budget.spent_tokens == requests * per_call
    assert budget.spent_tokens <= limit + per_call
    refused = [r for r in results if isinstance(r, BudgetExhausted)]
    assert len(refused) + requests == 30
    # Refused only once really spent: conservative reservations never end a run early.
    assert budget.exhausted == (per_call * 30 >= limit)
    assert not refused or budget.exhausted
    assert all(not isinstance(r, BaseException) or isinstance(r, BudgetExhausted) for r in results)


def test_once_spent_every_call_is_refused_cache_hits_too(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    budget = Budget(tokens=20)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    with FakeLLMServer() as server:
        llm = make_llm(server, tmp_path, cache=cache, budget=budget, concurrency=1)
        run(loop, llm.text(MESSAGES, tag=TAG, seed=1))  # 15 tokens
        run(loop, llm.text(MESSAGES, tag=TAG, seed=2))  # 30: now spent
        assert budget.exhausted and budget.spent_tokens == 30
        for seed in (1, 3):  # a cached question, then a new one
            with pytest.raises(BudgetExhausted):
                run(loop, llm.text(MESSAGES, tag=TAG, seed=seed))
        assert len(server.received) == 2
    assert rows(llm, tmp_path).height == 2


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_a_server_that_counts_many_more_prompt_tokens_overruns_by_one_call_at_most(
    loop: asyncio.AbstractEventLoop, concurrency: int
) -> None:
    # The server's tokenizer and template count ~40 times what the client sees in the text.
    answer = Ok('{"choice": "b", "reason": "ok"}', prompt_tokens=2000, completion_tokens=5)
    budget = Budget(tokens=5000)
    with FakeLLMServer(default=answer) as server:
        llm = make_llm(server, budget=budget, concurrency=concurrency)
        gather(loop, [llm.structured(MESSAGES, Pick, tag=TAG, seed=i) for i in range(20)])
        requests = len(server.received)
    assert budget.exhausted and budget.spent_tokens == requests * 2005
    assert budget.spent_tokens < 5000 + 2005  # past the limit by less than one call


def test_cache_hits_count_at_their_recorded_cost_so_a_warm_rerun_stops_where_the_cold_did(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")

    def answers(server: FakeLLMServer) -> list[object]:
        llm = make_llm(server, cache=cache, budget=Budget(tokens=50), concurrency=1)
        out: list[object] = []
        for seed in range(10):
            try:
                out.append(run(loop, llm.text(MESSAGES, tag=TAG, seed=seed)).text)
            except BudgetExhausted:
                out.append("refused")
        return out

    with FakeLLMServer() as server:  # 15 tokens a call: the fourth one reaches 50
        cold = answers(server)
        made = len(server.received)
    with FakeLLMServer() as server:
        warm = answers(server)
        assert len(server.received) == 0  # the rerun is all cache hits, and no more
    assert made == 4 and cold == warm and warm.count("refused") == 6
    cache.close()


def test_a_dollar_budget_needs_a_priced_model() -> None:
    with pytest.raises(ValueError, match="no price"):
        LLM(config(), model="openai/fake", api_base=None, budget=Budget(usd=1.0))
    priced = LLM(config(), model="gpt-4o-mini", api_base=None, budget=Budget(usd=1.0))
    assert priced.accounts.price(1000, 1000) is not None


def test_budget_reservations_wait_for_settling(loop: asyncio.AbstractEventLoop) -> None:
    budget = Budget(tokens=100)
    first = run(loop, budget.reserve(60))
    second = run(loop, budget.reserve(40))  # 60 < 100: admitted

    async def third_after_settling() -> list[int]:
        waiting = asyncio.ensure_future(budget.reserve(10))  # 100 reserved: must wait
        await asyncio.sleep(0.01)
        assert not waiting.done()
        budget.settle(first, 20)
        await asyncio.sleep(0)
        reservation = await waiting
        budget.settle(second, 10)
        budget.settle(reservation, 75)
        return [budget.spent_tokens]

    assert run(loop, third_after_settling()) == [105]
    assert budget.exhausted
    with pytest.raises(BudgetExhausted):
        budget.check()
    with pytest.raises(BudgetExhausted):
        run(loop, budget.reserve(1))


# -- secrecy ---------------------------------------------------------------------------------


def test_the_api_key_never_reaches_ledger_cache_or_errors(
    loop: asyncio.AbstractEventLoop, tmp_path: Path
) -> None:
    cache = ResponseCache(tmp_path / "cache.sqlite")
    script = ["ok", "500", "500", "invalid", "invalid", "timeout", "timeout", "400"]
    with FakeLLMServer(script, hang_s=5.0) as server:  # type: ignore[arg-type]
        llm = make_llm(server, tmp_path, cache=cache, retries=1, repairs=1, timeout_s=0.3)
        # One at a time, so each call meets its part of the script: ok, server error,
        # invalid answers, timeouts, client error.
        results = [
            gather(loop, [llm.structured(MESSAGES, Pick, tag=TAG, seed=i)])[0] for i in range(5)
        ]
        assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.received)
    dead = make_llm(
        None, tmp_path / "dead", api_base=f"http://127.0.0.1:{dead_port()}/v1", retries=0
    )
    results += gather(loop, [dead.text(MESSAGES, tag=TAG, seed=1)])
    failures = [r for r in results if isinstance(r, BaseException)]
    assert [getattr(f, "reason", None) for f in failures] == [
        "server_error",
        "schema",
        "timeout",
        "client_error",
        "connection",
    ]
    for failure in failures:
        assert KEY not in str(failure) and KEY not in repr(failure)
        assert KEY not in json.dumps(vars(failure), default=str)
    assert KEY not in repr(llm)
    rows(llm, tmp_path)
    cache.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


# -- the ledger on its own ------------------------------------------------------------------------


def _fields(i: int) -> dict[str, Any]:
    return dict(
        purpose="p",
        persona_id=None,
        t=None,
        model="m",
        attempt=0,
        repair=0,
        cache_hit=False,
        ok=True,
        error=None,
        prompt_tokens=i,
        completion_tokens=1,
        latency_s=0.1,
        cost_usd=None,
    )


def _row(ledger: CallLedger, i: int) -> None:
    ledger.record(**_fields(i))


def test_the_ledger_writes_parts_and_resumes(tmp_path: Path) -> None:
    ledger = CallLedger(tmp_path, part_rows=5)
    for i in range(12):
        _row(ledger, i)
    assert sorted(p.name for p in (tmp_path / "llm_calls").iterdir()) == [
        "journal.jsonl",
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    with pytest.raises(RuntimeError):
        ledger.get_state()  # two rows are still buffered
    ledger.flush()
    state = ledger.get_state()
    assert state == {"next_seq": 12, "next_part": 3}
    _row(ledger, 99)
    ledger.flush()  # written after the checkpoint: the request was made, so it stays
    (tmp_path / "llm_calls" / "part-00004.parquet.tmp").write_bytes(b"half")
    resumed = CallLedger(tmp_path, part_rows=5)
    resumed.set_state(state)
    _row(resumed, 12)
    resumed.close()
    calls = read_calls(tmp_path)
    assert calls["seq"].to_list() == list(range(14))
    assert calls["prompt_tokens"].to_list() == [*range(12), 99, 12]
    assert calls.schema["attempt"] == pl.Int16 and calls.schema["prompt_tokens"] == pl.Int32
    assert read_calls(tmp_path / "nowhere").height == 0


def test_a_ledger_row_is_on_disk_as_soon_as_it_is_recorded(tmp_path: Path) -> None:
    ledger = CallLedger(tmp_path)  # 10,000 rows to a part: these stay in the buffer
    for i in range(3):
        _row(ledger, i)
    # As a kill -9 finds it: nothing flushed, nothing closed.
    assert read_calls(tmp_path)["prompt_tokens"].to_list() == [0, 1, 2]
    journal = tmp_path / "llm_calls" / "journal.jsonl"
    journal.write_bytes(journal.read_bytes() + b'{"seq": 3, "purp')  # cut off mid-line
    reopened = CallLedger(tmp_path)  # the next run on the folder writes them as a part
    assert journal.read_text() == "" and reopened.next_seq == 3
    _row(reopened, 3)
    reopened.close()
    assert read_calls(tmp_path)["seq"].to_list() == [0, 1, 2, 3]


def test_a_request_sent_but_never_answered_is_an_interrupted_row(tmp_path: Path) -> None:
    ledger = CallLedger(tmp_path, part_rows=2)
    fields: dict[str, Any] = dict(
        purpose="decide", persona_id="p1", t=3.0, model="m", attempt=0, repair=0
    )
    answered = ledger.open_request(**fields)
    ledger.open_request(**{**fields, "persona_id": "p2"})
    _row(ledger, 7)
    _row(ledger, 8)  # a part is written while p2's request is still in flight
    ledger.record(**{**_fields(9), "opened": answered})
    # Killed here: p2's request was sent and never answered.
    CallLedger(tmp_path)  # the next open writes the journal's rows as a part
    calls = read_calls(tmp_path)
    lost = calls.filter(pl.col("error") == "interrupted")
    assert calls.height == 4 and lost["persona_id"].to_list() == ["p2"]
    assert not lost["ok"][0] and lost["seq"][0] == 3


def test_a_kill_while_the_journal_becomes_a_part_adds_no_second_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from simulator.trace.parts import PartWriter

    ledger = CallLedger(tmp_path)
    ledger.open_request(purpose="decide", persona_id="p1", t=1.0, model="m", attempt=0, repair=0)
    # Killed with the request in flight; the next open dies while writing the part.
    real_flush = PartWriter.flush

    def dies(self: PartWriter) -> Path | None:
        raise KeyboardInterrupt  # as a kill would, mid-recovery

    monkeypatch.setattr(PartWriter, "flush", dies)
    with pytest.raises(KeyboardInterrupt):
        CallLedger(tmp_path)
    monkeypatch.setattr(PartWriter, "flush", real_flush)
    CallLedger(tmp_path).close()
    calls = read_calls(tmp_path)
    assert calls["error"].to_list() == ["interrupted"] and calls["seq"].to_list() == [0]


def test_a_budget_goes_one_at_a_time_only_until_a_usage_is_reported(
    loop: asyncio.AbstractEventLoop,
) -> None:
    with FakeLLMServer(default="slow", slow_s=0.05) as server:
        llm = make_llm(server, budget=Budget(tokens=10**6), concurrency=4)
        gather(loop, [llm.text(MESSAGES, tag=TAG, seed=i) for i in range(16)])
        assert len(server.received) == 16 and server.max_in_flight == 4
