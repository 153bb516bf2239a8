"""No credential lands on disk: not from the environment, a URL, or a server that echoes it back."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from fakellm import FakeLLMServer

from analysis.export import export_dialogues
from analysis.frames import load_events
from analysis.report import write_report
from personas.conversation import load_goals
from simulator.core.redact import MASK, redact
from simulator.domains.chat.chatbots.config import ChatbotConfig
from simulator.domains.chat.config import ChatConfig
from simulator.domains.chat.run import simulate_chat
from simulator.domains.recsys.ab import simulate_ab
from simulator.domains.recsys.run import simulate
from simulator.llm import LLMConfig

ENV_KEY = "sk-simfolk-env-0123456789abcdef"
URL_KEY = "urlpass-0123456789"  # not key-shaped: only the URL rule can catch it
QUERY_KEY = "qtok-0123456789abcdef"
GOALS = Path(__file__).parents[1] / "scenarios" / "support_goals.yaml"


def test_no_credential_reaches_any_file_of_a_run_an_ab_a_report_or_an_export(
    small_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    echoed = []
    # Each server answers the run's probe, then refuses every call, echoing the key it got.
    with FakeLLMServer(["ok"], default="401") as server:
        plain = f"http://127.0.0.1:{server.port}/v1"
        credentialed = f"http://user:{URL_KEY}@127.0.0.1:{server.port}/v1?token={QUERY_KEY}"
        llm = LLMConfig(model="openai/fake", api_base=plain, retries=0, cache=True)
        config = small_config.model_copy(
            update={"brain": "llm", "personas": 3, "days": 1, "llm": llm}
        )
        run = simulate(config, tmp_path / "run")
        write_report(run.run_dir)
        echoed += [r for r in server.received if ENV_KEY in r.headers.get("authorization", "")]
        typed = config.model_copy(update={"llm": llm.model_copy(update={"api_base": credentialed})})
        with pytest.raises(ValueError, match="did not answer a probe"):  # the URL is unreachable
            simulate(typed, tmp_path / "typed")
        with pytest.raises(ValueError, match="did not answer a probe"):
            simulate_ab(typed, {"a": "random", "b": "popularity"}, tmp_path / "ab", workers=1)
    with FakeLLMServer(["ok"], default="401") as server:
        llm = llm.model_copy(update={"api_base": f"http://127.0.0.1:{server.port}/v1"})
        chat = ChatConfig(
            scenario="secrets",
            personas=2,
            seed=5,
            taste_dims=8,
            max_turns=2,
            llm=llm,
            chatbot=ChatbotConfig(kind="openai", model="fake", base_url=credentialed, retries=0),
        )
        simulate_chat(chat, tmp_path / "chat", goals=load_goals(GOALS))
        export_dialogues(tmp_path / "chat", "openai", tmp_path / "chat.jsonl", dedup="none")
    assert echoed, "the server saw no request, so nothing could echo the key"
    failures = load_events(run.run_dir).filter(pl.col("event") == "llm_failure")["text"]
    assert failures.len() > 0 and all(MASK in text for text in failures)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in written)
    for path in written:
        data = path.read_bytes()
        for secret in (ENV_KEY, URL_KEY, QUERY_KEY):
            assert secret.encode() not in data, f"{secret} in {path}"


def test_redact_masks_urls_queries_keys_and_environment_values(monkeypatch):
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdefgh-1234")
    text = "GET http://me:pw@host/v1?api_key=abc123&x=1 with tok-abcdefgh-1234 and sk-ABCDEFGH1234"
    assert redact(text) == (f"GET http://{MASK}@host/v1?api_key={MASK}&x=1 with {MASK} and {MASK}")
    assert redact("a plain sentence, https://example.org/path?q=films") == (
        "a plain sentence, https://example.org/path?q=films"
    )


def test_a_model_that_cannot_answer_stops_the_run_before_its_clock(small_config, tmp_path):
    with FakeLLMServer(default="401") as server:
        llm = LLMConfig(model="openai/fake", api_base=f"http://127.0.0.1:{server.port}/v1")
        config = small_config.model_copy(update={"brain": "llm", "llm": llm})
        with pytest.raises(ValueError, match=r"'openai/fake' .* did not answer a probe"):
            simulate(config, tmp_path / "run")
        assert len(server.received) == 1  # one probe, not one failure per decision
    assert not (tmp_path / "run" / "events").exists()
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "starting"
