"""Recommenders over HTTP: the reference service on loopback, the protocol's schema, faults."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import polars as pl
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from analysis.frames import load_events
from simulator.core.rng import Streams
from simulator.domains.recsys.interfaces import Interaction, RecContext, TargetError
from simulator.domains.recsys.run import simulate
from simulator.domains.recsys.targets import make_target
from simulator.domains.recsys.targets.http import protocol
from simulator.domains.recsys.targets.http.client import HttpRecommender, service_url
from simulator.domains.recsys.targets.http.server import service_app
from simulator.experiments.service import start_service

SCHEMA = Path(protocol.__file__).with_name(protocol.SCHEMA_FILE)


def _serve(target: str, seed: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_service(target, seed, log, "ml-latest-small")


@pytest.fixture(scope="module")
def served_itemknn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = _serve("itemknn", 7, tmp_path_factory.mktemp("serve") / "log.txt")
    yield url
    process.kill()
    process.wait()


def _config(small_config: Any, target: str) -> Any:
    return small_config.model_copy(update={"target": target, "refit_every_days": 1, "days": 3})


def test_a_served_recommender_writes_the_events_it_writes_in_process(
    small_config, served_itemknn, tmp_path, event_digests
):
    here = simulate(_config(small_config, "itemknn"), tmp_path / "here")
    there = simulate(_config(small_config, served_itemknn), tmp_path / "there")
    local, remote = load_events(here.run_dir), load_events(there.run_dir)
    assert local.height > 0 and remote.equals(local)
    assert event_digests(here.run_dir) == event_digests(there.run_dir)  # byte for byte
    assert local.filter(event="refit").height == 2  # refits went over the wire too
    manifests = [
        json.loads((run / "manifest.json").read_text()) for run in (here.run_dir, there.run_dir)
    ]
    assert (manifests[0]["target"], manifests[1]["target"]) == ("itemknn", served_itemknn)
    parts = [
        sorted(p.name for p in (run / "events").iterdir()) for run in (here.run_dir, there.run_dir)
    ]
    assert parts[0] == parts[1]


def test_a_paused_run_resumes_against_the_service_to_the_same_events(
    small_config, served_itemknn, tmp_path
):
    config = _config(small_config, served_itemknn)
    whole = simulate(config, tmp_path / "whole")
    simulate(config, tmp_path / "r", until_day=1)
    resumed = simulate(config, tmp_path / "r", resume=True)
    assert resumed.resumed and load_events(resumed.run_dir).equals(load_events(whole.run_dir))


def test_a_service_killed_mid_run_ends_sessions_with_target_errors(small_config, tmp_path):
    process, url = _serve("itemknn", 7, tmp_path / "log.txt")
    killed: list[int] = []

    def kill_after_day_one(world: Any) -> None:
        if world.day == 1 and not killed:
            process.kill()
            killed.append(process.wait())

    try:
        config = _config(small_config, url + "?retries=1")
        result = simulate(config, tmp_path / "r", on_day=kill_after_day_one)
    finally:
        process.kill()
    assert killed and result.complete and result.status == "complete"
    events = load_events(result.run_dir)
    errors = events.filter(event="target_error")
    assert errors.height > 0 and set(errors["reason"]) == {"unavailable"}
    assert (errors["t"] >= 86_400).all()  # nothing failed before the kill
    ended = events.filter(event="session_end", reason="target_error")
    assert ended.height == errors.filter(errors["persona_id"].is_not_null()).height
    before = events.filter((pl.col("event") == "session_start") & (pl.col("t") < 86_400))
    assert before.height > 0
    from analysis.run_compare import compare_run

    assert compare_run(result.run_dir) is not None  # the run is complete and comparable
    from simulator.core.checkpoint import load_checkpoint

    # Checkpoints due while the service was gone were not written: the last whole one stands.
    kept = load_checkpoint(result.run_dir)
    assert kept is not None and kept["clock"] == 86_400.0 and kept["target"]["remote"]
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["checkpoints_skipped"] >= 1  # and the run says so


def test_a_service_down_at_the_start_is_named_before_the_run(small_config, tmp_path):
    process, url = _serve("itemknn", 7, tmp_path / "log.txt")
    process.kill()
    process.wait()
    config = _config(small_config, url + "?retries=0")
    with pytest.raises(ValueError, match=re.escape(f"target {url}: GET /v1/info: ")):
        simulate(config, tmp_path / "r")


# --- the protocol, its schema and its reference server (in process, through ASGI) -------
def _validator(name: str) -> jsonschema.Draft202012Validator:
    document = json.loads(SCHEMA.read_text())
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_checked_in_schema_is_the_protocol():
    assert json.loads(SCHEMA.read_text()) == protocol.openapi()


def test_every_request_and_answer_fits_the_schema(prepared, train):
    app = service_app(lambda: make_target("itemknn", prepared.catalog, Streams(7)), "test")
    client = TestClient(app)
    rows = list(train.head(500).iter_rows(named=True))
    exchanges = [
        ("GET", "/v1/info", None, "Info"),
        ("POST", "/v1/runs/r1/fit", {"base": 0, "interactions": rows[:400]}, "FitAnswer"),
        ("POST", "/v1/runs/r1/fit", {"base": 400, "interactions": rows[400:]}, "FitAnswer"),
        ("POST", "/v1/runs/r1/fit", {"base": 7, "interactions": []}, "Conflict"),
        (
            "POST",
            "/v1/runs/r1/recommend",
            {
                "user": rows[0]["user"],
                "k": 5,
                "context": {"t": 0.0, "session": 0, "page": 0, "exclude": []},
            },
            "RecommendAnswer",
        ),
        (
            "POST",
            "/v1/runs/r1/feedback",
            {
                "seq": 1,
                "event": {"user": "1", "item_id": rows[3]["item_id"], "kind": "click", "t": 5.0},
            },
            "FeedbackAnswer",
        ),
        ("GET", "/v1/runs/r1/state", None, "State"),
        ("DELETE", "/v1/runs/r1", None, "Ack"),
        ("POST", "/v1/runs/r1/recommend", {"user": "1", "k": "5", "context": {}}, "ErrorAnswer"),
    ]
    answers = {}
    requests = {"FitAnswer": "FitRequest", "Conflict": "FitRequest"}
    for method, path, body, answer in exchanges:
        if body is not None and answer != "ErrorAnswer":  # the last body is meant to be wrong
            _validator(requests.get(answer, answer.replace("Answer", "Request"))).validate(body)
        response = client.request(method, path, json=body)
        _validator(answer).validate(response.json())
        answers[(method, path, answer)] = response
    assert answers[("POST", "/v1/runs/r1/fit", "Conflict")].status_code == 409
    assert answers[("POST", "/v1/runs/r1/fit", "Conflict")].json()["have"] == 500
    assert len(answers[("POST", "/v1/runs/r1/recommend", "RecommendAnswer")].json()["items"]) == 5
    refused = answers[("POST", "/v1/runs/r1/recommend", "ErrorAnswer")]
    assert refused.status_code == 422 and "RecommendRequest: k" in refused.json()["error"]


def test_the_service_applies_each_event_once_and_restores_a_state(prepared, train):
    app = service_app(lambda: make_target("itemknn", prepared.catalog, Streams(7)), "test")
    client = TestClient(app)
    rows = list(train.iter_rows(named=True))
    assert client.post("/v1/runs/a/fit", json={"base": 0, "interactions": rows}).json() == {
        "interactions": len(rows)
    }
    user = rows[0]["user"]
    page = {"user": user, "k": 10, "context": {"t": 0.0, "session": 0, "page": 0, "exclude": []}}
    first = client.post("/v1/runs/a/recommend", json=page).json()["items"]
    saved = client.get("/v1/runs/a/state").json()
    event = {"user": user, "item_id": first[0], "kind": "click", "t": 1.0}
    for _ in range(2):  # a retried event is acknowledged, not applied twice
        assert client.post("/v1/runs/a/feedback", json={"seq": 1, "event": event}).json() == {
            "seq": 1
        }
    assert client.post("/v1/runs/a/feedback", json={"seq": 3, "event": event}).status_code == 409
    after = client.post("/v1/runs/a/recommend", json=page).json()["items"]
    assert first[0] not in after  # the click was heard
    assert client.put("/v1/runs/b/state", json=saved).json() == {"ok": True}
    assert client.post("/v1/runs/b/recommend", json=page).json()["items"] == first
    bad = client.put("/v1/runs/c/state", json={"state": "not base64!"})
    assert bad.status_code == 400 and "not a state this service wrote" in bad.json()["error"]
    assert client.post("/v1/runs/zzz/recommend", json=page).status_code == 404


# --- faults, injected by a scripted service ----------------------------------------------
class _Script:
    """A fake service whose answers a test scripts: the faults a real one would have."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_next = 0
        self.slow = 0.0
        self.items: Any = [1, 2, 3]
        self.busy_status = 503
        self.retry_after: str | None = None  # the Retry-After a busy answer carries
        self.state_status = 200

    def app(self) -> Starlette:
        async def info(request: Request) -> Response:
            return JSONResponse({"protocol": protocol.PROTOCOL, "name": "scripted", "version": "0"})

        async def feedback(request: Request) -> Response:
            seq = (await request.json())["seq"]
            self.calls.append(f"feedback {seq}")
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"error": "busy"}, status_code=503)
            return JSONResponse({"seq": seq})

        async def recommend(request: Request) -> Response:
            self.calls.append("recommend")
            if self.fail_next:
                self.fail_next -= 1
                headers = {"Retry-After": self.retry_after} if self.retry_after else None
                return JSONResponse({"error": "busy"}, self.busy_status, headers=headers)
            if self.slow:
                await asyncio.sleep(self.slow)
            return JSONResponse({"items": self.items})

        async def state(request: Request) -> Response:
            self.calls.append("state")
            if self.state_status != 200:
                return JSONResponse({"error": "no"}, status_code=self.state_status)
            return JSONResponse({"state": "c2NyaXB0ZWQ="})  # opaque to the client

        return Starlette(
            routes=[
                Route("/v1/info", info),
                Route("/v1/runs/{run}/state", state),
                Route("/v1/runs/{run}/recommend", recommend, methods=["POST"]),
                Route("/v1/runs/{run}/feedback", feedback, methods=["POST"]),
            ]
        )


@pytest.fixture
def scripted() -> Iterator[tuple[_Script, str]]:
    script = _Script()
    server = uvicorn.Server(
        uvicorn.Config(script.app(), host="127.0.0.1", port=0, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the scripted service did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield script, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


_CONTEXT = RecContext(t=0.0, session=0, page=0, exclude=frozenset())


def test_transient_failures_are_retried_with_backoff_then_reported(scripted):
    script, url = scripted
    target = HttpRecommender(url + "?retries=2")
    assert target.name == "scripted"
    script.fail_next = 2
    assert target.recommend("u", 3, _CONTEXT) == [1, 2, 3]
    assert script.calls == ["recommend"] * 3
    script.fail_next = 3
    with pytest.raises(TargetError, match="HTTP 503") as failed:
        target.recommend("u", 3, _CONTEXT)
    assert failed.value.reason == "http_503"


def test_a_busy_service_is_left_alone_as_long_as_its_retry_after_asks(scripted):
    script, url = scripted
    target = HttpRecommender(url + "?retries=1")
    script.fail_next, script.busy_status, script.retry_after = 1, 429, "1"
    started = time.perf_counter()
    assert target.recommend("u", 3, _CONTEXT) == [1, 2, 3]
    assert time.perf_counter() - started >= 1.0  # the backoff alone retries after 0.05 s
    assert script.calls == ["recommend"] * 2


def test_a_slow_or_malformed_answer_is_a_target_error(scripted):
    script, url = scripted
    script.slow = 3.0
    with pytest.raises(TargetError) as slow:
        HttpRecommender(url + "?timeout=0.5&retries=0").recommend("u", 3, _CONTEXT)
    assert slow.value.reason == "timeout"
    script.slow, script.items = 0.0, ["1", 2]
    target = HttpRecommender(url + "?retries=0")
    with pytest.raises(TargetError, match=r"not a RecommendAnswer \(items\[0\]") as bad:
        target.recommend("u", 3, _CONTEXT)
    assert bad.value.reason == "bad_answer"


def test_an_event_the_service_missed_is_sent_again_before_the_next(scripted):
    script, url = scripted
    target = HttpRecommender(url + "?retries=0")
    script.fail_next = 1
    click = Interaction(user="u", item_id=1, kind="click", t=0.0)
    with pytest.raises(TargetError, match="HTTP 503"):
        target.feedback(click)
    assert target.get_state()["unheard"][0]["seq"] == 1  # kept, and checkpointed
    target.feedback(Interaction(user="u", item_id=1, kind="rate", t=5.0, rating=4.0))
    assert script.calls == ["feedback 1", "state", "feedback 1", "feedback 2"]
    assert target.get_state()["unheard"] == []


def test_a_service_that_forgot_the_run_gets_everything_again(served_itemknn, train):
    target = HttpRecommender(served_itemknn)
    target.fit(train)
    httpx.delete(f"{served_itemknn}/v1/runs/{target.run}")  # as if it had restarted
    more = train.vstack(train.tail(3).with_columns(pl.col("t") + 1.0))
    target.fit(more)  # base n is refused (409, have 0): all rows go again from 0
    assert target.requests["fit"] == 3
    page = target.recommend(train["user"][0], 5, _CONTEXT)
    assert len(page) == 5
    target.close()


def test_a_service_answering_unknown_items_gives_target_errors_and_the_run_goes_on(
    small_config, train, scripted, tmp_path
):
    script, url = scripted
    script.items = [-5, -6]
    config = small_config.model_copy(update={"target": url, "refit_every_days": None})
    with pytest.raises(TargetError, match="fit left the service holding an unknown number"):
        simulate(config, tmp_path / "no-fit")
    calls = []

    class Fits(HttpRecommender):
        def fit(self, interactions: Any) -> None:
            calls.append(interactions.height)

    result = simulate(config, tmp_path / "r", target=Fits(url))
    events = load_events(result.run_dir)
    errors = events.filter(event="target_error")
    assert result.complete and calls == [train.height]
    assert errors.height == events.filter(event="session_start").height > 0
    assert set(errors["reason"]) == {"unknown_item"}
    assert events.filter(event="impression").height == 0


def test_urls_are_checked_before_a_run_and_their_settings_named():
    assert service_url("http://127.0.0.1:9/p?timeout=3")[1]["timeout"] == 3.0
    for bad, reason in [
        ("http://:9", "need http://HOST:PORT"),
        ("http://h:9?speed=3", "unknown setting 'speed'"),
        ("http://h:9?timeout=fast", "not a number"),
        ("http://h:9?retries=99", "out of range"),
    ]:
        with pytest.raises(ValueError, match=re.escape(reason)):
            service_url(bad)
    with pytest.raises(ValueError, match=r"target http://\[redacted\]@127\.0\.0\.1:9") as refused:
        HttpRecommender("http://user:secretpass@127.0.0.1:9?retries=0")
    assert "secretpass" not in str(refused.value)


def test_plays_go_over_the_wire_only_when_there_are_some(prepared):
    from simulator.core import statecodec

    bare = protocol.Row(user="u", item_id=1, rating=4.0, t=0.0)
    assert "count" not in json.loads(bare.model_dump_json())  # a rated run's v1 request
    app = service_app(lambda: make_target("popularity", prepared.catalog, Streams(7)), "test")
    client = TestClient(app)
    item = int(prepared.catalog.item_ids[0])
    rows = [{"user": "u", "item_id": item, "rating": None, "t": 0.0, "count": 12},
            {"user": "v", "item_id": item, "rating": 3.0, "t": 1.0}]  # fmt: skip
    assert client.post("/v1/runs/p/fit", json={"base": 0, "interactions": rows}).status_code == 200
    refused = client.post("/v1/runs/q/fit", json={"base": 0, "interactions": [{**rows[0],
                          "count": 0}]})  # fmt: skip
    assert refused.status_code == 422 and "count" in refused.json()["error"]
    kept = client.get("/v1/runs/p/state").json()["state"]
    saved = statecodec.decode(base64.b64decode(kept))
    assert saved["interactions"]["count"] == [12, None]


def test_bench_service_counts_requests_and_finds_the_same_files():
    from simulator.experiments.service import bench_service

    report = bench_service(dataset="ml-100k", personas=12, days=1, seed=3)
    assert report["same_events"] and report["same_files"] and report["events"] > 0
    assert report["requests"]["recommend"] >= report["pages"] > 0  # one page, one request
    assert report["requests_per_page"] > 1  # the page's feedback goes over the wire too
    assert set(report["events_per_second"]) == {"in_process", "http"}


def test_a_state_the_service_cannot_give_now_skips_a_checkpoint(scripted):
    from simulator.core.protocols import StateUnavailable

    script, url = scripted
    target = HttpRecommender(url + "?retries=0")
    script.state_status = 503  # down for now: the last whole checkpoint stands
    with pytest.raises(StateUnavailable, match="no state now"):
        target.get_state()
    script.state_status = 501  # "this target's state cannot be kept": the run goes on, and
    kept = target.get_state()  # its checkpoints say why a resume cannot continue it
    assert kept["remote"] is None and "HTTP 501" in kept["missing"]
