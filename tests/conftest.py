"""Shared fixtures: the bundled dataset prepared once, and small run configs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import Prepared, prepare, train_interactions


@pytest.fixture(scope="session", autouse=True)
def _private_llm_cache(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """LLM answers are cached in the session's own folder, never in ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SIMFOLK_CACHE_DIR", str(tmp_path_factory.mktemp("llm-cache")))
        yield


@pytest.fixture(scope="session")
def small_config() -> RunConfig:
    """A run small enough for the suite: bundled data, 12 personas, 2 days."""
    return RunConfig(
        scenario="test",
        dataset="ml-latest-small",
        personas=12,
        days=2,
        seed=7,
        target="popularity",
        taste_dims=8,
    )


@pytest.fixture(scope="session")
def prepared(small_config: RunConfig) -> Prepared:
    return prepare(small_config)


@pytest.fixture(scope="session")
def train(prepared: Prepared):  # type: ignore[no-untyped-def]
    return train_interactions(prepared.split)


def _event_digests(run_dir: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((Path(run_dir) / "events").glob("part-*.parquet"))
    }


@pytest.fixture
def event_digests():  # type: ignore[no-untyped-def]
    """sha256 of every event part of a run, by file name."""
    return _event_digests


@pytest.fixture(scope="session")
def embedded_server():  # type: ignore[no-untyped-def]
    """The embedded SmolLM2 server, started once for the session (4 slots)."""
    from simulator.llm.server import EmbeddedServer  # xllamacpp loads only when asked for

    server = EmbeddedServer(slots=4).start()
    yield server
    server.stop()
