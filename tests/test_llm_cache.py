"""The response cache: what its key depends on, and what a crash can do to it."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from fakellm import FakeLLMServer
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.llm import LLM, CachedAnswer, CallTag, LLMConfig, ResponseCache, cache_key

messages_st = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=40)}
    ),
    min_size=1,
    max_size=4,
)
format_st = st.none() | st.fixed_dictionaries(
    {
        "type": st.just("json_schema"),
        "json_schema": st.dictionaries(st.text(max_size=5), st.integers()),
    }
)
inputs_st = st.fixed_dictionaries(
    {
        "model": st.text(min_size=1, max_size=30),
        "messages": messages_st,
        "temperature": st.floats(0, 2, allow_nan=False),
        "max_tokens": st.integers(1, 4096),
        "seed": st.integers(0, 2**63 - 1),
        "response_format": format_st,
    }
)


@given(inputs_st)
def test_the_same_request_has_the_same_key(inputs: dict[str, Any]) -> None:
    key = cache_key(**inputs)
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")  # a sha256, hex
    assert cache_key(**{**inputs, "seed": inputs["seed"] + 1}) != key
    # A copy with every message's fields in another order is the same request.
    reordered = [dict(reversed(list(m.items()))) for m in inputs["messages"]]
    assert cache_key(**{**inputs, "messages": reordered}) == key


FIELDS = ["model", "messages", "temperature", "max_tokens", "seed", "response_format"]


@given(inputs_st, inputs_st, st.sampled_from(FIELDS))
def test_any_change_changes_the_key(
    inputs: dict[str, Any], other: dict[str, Any], field: str
) -> None:
    changed = {**inputs, field: other[field]}
    assert (cache_key(**changed) == cache_key(**inputs)) == (changed[field] == inputs[field])


@given(inputs_st, st.text(min_size=1, max_size=20))
def test_appending_to_any_message_changes_the_key(inputs: dict[str, Any], extra: str) -> None:
    messages = [dict(m) for m in inputs["messages"]]
    messages[-1]["content"] += extra
    assert cache_key(**{**inputs, "messages": messages}) != cache_key(**inputs)


def test_the_api_key_and_endpoint_do_not_enter_the_key(tmp_path: Path) -> None:
    """Two clients with different keys and addresses share answers (the key is not hashed)."""
    config = LLMConfig(model="openai/fake", cache=True, retries=0)
    messages = [{"role": "user", "content": "hello"}]
    loop = asyncio.new_event_loop()
    try:
        with FakeLLMServer() as one, FakeLLMServer() as two:
            first = LLM(
                config,
                model="openai/fake",
                api_base=one.api_base,
                api_key="sk-one",
                cache=ResponseCache(tmp_path / "c.sqlite"),
            )
            second = LLM(
                config,
                model="openai/fake",
                api_base=two.api_base,
                api_key="sk-two",
                cache=ResponseCache(tmp_path / "c.sqlite"),
            )
            a = loop.run_until_complete(first.text(messages, tag=CallTag("x"), seed=1))
            b = loop.run_until_complete(second.text(messages, tag=CallTag("x"), seed=1))
            assert (len(one.received), len(two.received)) == (1, 0)
            assert b.cache_hit and b.text == a.text
            third = LLM(
                config,
                model="openai/fake",
                api_base=two.api_base,
                api_key="sk-two",
                cache=ResponseCache(tmp_path / "c.sqlite"),
                cache_identity="another-model@1234",
            )
            c = loop.run_until_complete(third.text(messages, tag=CallTag("x"), seed=1))
            assert not c.cache_hit and len(two.received) == 1  # another model: another key
        loop.run_until_complete(first.aclose())
    finally:
        loop.close()


def test_put_get_len_and_overwrite(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "deep" / "c.sqlite")
    answer = CachedAnswer("text", "stop", 3, 4)
    assert cache.get("k") is None and len(cache) == 0 and "k" not in cache
    cache.put("k", answer)
    cache.put("k", CachedAnswer("other", None, 1, 2))
    assert cache.get("k") == CachedAnswer("other", None, 1, 2)
    assert len(cache) == 1 and "k" in cache
    cache.close()
    with ResponseCache(tmp_path / "deep" / "c.sqlite") as again:
        assert again.get("k") == CachedAnswer("other", None, 1, 2)
        mode = again._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_another_connection_sees_only_committed_answers(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put("committed", CachedAnswer("a", "stop", 1, 1))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN")
    writer.execute("INSERT INTO answers VALUES ('pending', 'b', 'stop', 1, 1)")
    reader = ResponseCache(path)
    assert len(reader) == 1 and reader.get("pending") is None
    writer.execute("ROLLBACK")
    writer.close()
    assert len(reader) == 1 and reader.get("committed") is not None


def test_a_process_killed_mid_write_leaves_only_whole_answers(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    script = textwrap.dedent(
        f"""
        import os
        from simulator.llm.cache import CachedAnswer, ResponseCache
        cache = ResponseCache({str(path)!r})
        for i in range(20):
            cache.put(f"k{{i}}", CachedAnswer("x" * 1000, "stop", i, i))
        db = cache._db
        db.execute("BEGIN")
        for i in range(20, 200):
            db.execute("INSERT INTO answers VALUES (?, 'y', 'stop', 0, 0)", (f"k{{i}}",))
        os._exit(9)  # dies inside the transaction: no commit, no cleanup
        """
    )
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, cwd=repo)
    assert done.returncode == 9, done.stderr.decode()
    cache = ResponseCache(path)
    assert len(cache) == 20
    assert cache.get("k19") == CachedAnswer("x" * 1000, "stop", 19, 19)
    assert cache.get("k20") is None
    assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@settings(max_examples=25)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=30)), max_size=12))
def test_the_cache_behaves_like_a_dict(pairs: list[tuple[str, str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, ResponseCache(Path(tmp) / "c.sqlite") as cache:
        model: dict[str, str] = {}
        for key, text in pairs:
            cache.put(key, CachedAnswer(text, None, 0, 0))
            model[key] = text
        assert len(cache) == len(model)
        for key, text in model.items():
            hit = cache.get(key)
            assert hit is not None and hit.text == text
