"""A scripted fake of an OpenAI-compatible chat server, for fault tests.

A script is a list of behaviours, consumed one per request (in arrival order);
when it runs out the server answers with `default`. Every request is recorded
with the behaviour it got, so tests can compare what the client saw with what
the server did.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Fault = Literal[
    "ok", "timeout", "400", "401", "429", "500", "503", "malformed", "truncated", "invalid", "slow"
]
FAULTS: tuple[Fault, ...] = (
    "ok",  # the server's `content`
    "timeout",  # hang for `hang_s` (longer than the client waits), then drop the connection
    "400",  # a client error: never retried
    "401",  # a wrong key, echoed back as some providers do ("Incorrect API key provided: …")
    "429",
    "500",
    "503",
    "malformed",  # HTTP 200 whose body is not JSON
    "truncated",  # content is cut-off JSON, finish_reason "length"
    "invalid",  # content is JSON that breaks the caller's schema
    "slow",  # `content` after `slow_s` (less than the client waits)
)


@dataclass(frozen=True)
class Ok:
    """A successful answer with this content and usage."""

    content: str
    prompt_tokens: int = 10
    completion_tokens: int = 5
    finish_reason: str = "stop"


Behaviour = Ok | Fault


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    body: dict[str, Any]
    headers: dict[str, str]  # names lower-cased
    behaviour: Behaviour


class FakeLLMServer:
    """A threaded HTTP server on 127.0.0.1 and a random port."""

    def __init__(
        self,
        script: Iterable[Behaviour] = (),
        *,
        default: Behaviour = "ok",
        content: str = '{"choice": "a", "reason": "fine"}',
        invalid_content: str = '{"unexpected": true}',
        truncated_content: str = '{"choice": "a", "rea',
        prompt_tokens: int = 10,
        completion_tokens: int = 5,
        hang_s: float = 3.0,
        slow_s: float = 0.05,
        retry_after: str | None = None,
    ) -> None:
        self.retry_after = retry_after  # the Retry-After header a 429 carries, if any
        self.content = content
        self.invalid_content = invalid_content
        self.truncated_content = truncated_content
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.default = default
        self.hang_s = hang_s
        self.slow_s = slow_s
        self._script: deque[Behaviour] = deque(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._received: list[Received] = []
        self._in_flight = 0
        self.max_in_flight = 0  # most requests being handled at once
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval: `stop` waits for one poll.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    # -- control ------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    # -- serving ------------------------------------------------------------------

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Behaviour:
        with self._lock:
            behaviour = self._script.popleft() if self._script else self.default
            self._received.append(Received(body, headers, behaviour))
            return behaviour

    def _completion(self, content: str, finish: str, prompt: int, completion: int) -> bytes:
        return json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": "fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        ).encode()

    def _respond(
        self, behaviour: Behaviour, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes] | None:
        """Status and body for a behaviour; None to drop the connection."""
        p, c = self.prompt_tokens, self.completion_tokens
        if isinstance(behaviour, Ok):
            body = self._completion(
                behaviour.content,
                behaviour.finish_reason,
                behaviour.prompt_tokens,
                behaviour.completion_tokens,
            )
            return 200, body
        if behaviour == "ok":
            return 200, self._completion(self.content, "stop", p, c)
        if behaviour == "slow":
            self._stopping.wait(self.slow_s)
            return 200, self._completion(self.content, "stop", p, c)
        if behaviour == "timeout":
            self._stopping.wait(self.hang_s)
            return None
        if behaviour in ("400", "429", "500", "503"):
            error = {"error": {"message": f"fake {behaviour}", "type": "fake", "code": behaviour}}
            return int(behaviour), json.dumps(error).encode()
        if behaviour == "401":
            key = (headers or {}).get("authorization", "").removeprefix("Bearer ")
            message = f"Incorrect API key provided: {key}. You can find your API key at …"
            error = {"error": {"message": message, "type": "invalid_request_error"}}
            return 401, json.dumps(error).encode()
        if behaviour == "malformed":
            return 200, b"<html>this is not json {"
        if behaviour == "truncated":
            return 200, self._completion(self.truncated_content, "length", p, c)
        if behaviour == "invalid":
            return 200, self._completion(self.invalid_content, "stop", p, c)
        raise ValueError(f"unknown behaviour {behaviour!r}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                headers = {k.lower(): v for k, v in self.headers.items()}
                behaviour = fake._next(body, headers)
                with fake._lock:
                    fake._in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake._in_flight)
                try:
                    answer = fake._respond(behaviour, headers)
                finally:
                    with fake._lock:
                        fake._in_flight -= 1
                if answer is None:
                    self.close_connection = True
                    return
                status, payload = answer
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if behaviour == "429" and fake.retry_after is not None:
                        self.send_header("Retry-After", fake.retry_after)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first

        return Handler
