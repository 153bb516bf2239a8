"""`simfolk bench service`: the same run in process and over HTTP, timed in one go.

The service is `simfolk serve recommender` in its own process on loopback, as a
team's would be; both runs have one config and seed, so their events must be
equal (the bench says whether they are). What it reports: events per second of
simulation either way, their ratio, and the HTTP requests a simulated page costs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from analysis.frames import load_events
from simulator.core.manifest import file_sha256
from simulator.domains.recsys.config import RunConfig
from simulator.domains.recsys.run import simulate
from simulator.domains.recsys.targets.http.client import HttpRecommender


def start_service(
    target: str, seed: int, log: Path, dataset: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`simfolk serve recommender` on a free loopback port: the process and its URL."""
    command = [sys.executable, "-m", "simulator.cli", "serve", "recommender", "--target", target]
    command += ["--dataset", dataset, "--seed", str(seed), "--port", "0"]
    with log.open("wb") as sink:  # a pipe nobody reads would fill and stall the service
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "10000"}
        )
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline and process.poll() is None:
        found = re.search(r"http://127\.0\.0\.1:\d+", log.read_text(errors="replace"))
        if found is not None:
            return process, found.group()
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the service did not start: {log.read_text(errors='replace')[-2000:]}")


def bench_service(
    dataset: str = "ml-latest-small",
    personas: int = 100,
    days: int = 3,
    target: str = "itemknn",
    seed: int = 0,
) -> dict[str, Any]:
    """Run `target` in process and behind the reference service; times, requests, equality."""
    config = RunConfig(
        scenario="bench-service", dataset=dataset, personas=personas, days=days, seed=seed,
        target=target, refit_every_days=1,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="simfolk-bench-service-") as tmp:
        folder = Path(tmp)
        here = simulate(config, folder / "in-process")
        process, url = start_service(target, seed, folder / "service.log", dataset)
        try:
            client = HttpRecommender(url)
            there = simulate(
                config.model_copy(update={"target": url}), folder / "http", target=client
            )
        finally:
            process.kill()
            process.wait()
        local, remote = load_events(here.run_dir), load_events(there.run_dir)
        same_files = _digests(here.run_dir) == _digests(there.run_dir)
        pages = (
            local.filter(pl.col("event") == "impression")
            .select("persona_id", "session", "page")
            .unique()
            .height
        )
    requests = dict(client.requests)
    page_requests = requests.get("recommend", 0) + requests.get("feedback", 0)
    speed = {
        "in_process": here.events / here.run_seconds,
        "http": there.events / there.run_seconds,
    }
    return {
        "dataset": dataset,
        "personas": personas,
        "days": days,
        "target": target,
        "events": here.events,
        "same_events": remote.equals(local),
        "same_files": same_files,  # the event part files, byte for byte
        "run_seconds": {"in_process": here.run_seconds, "http": there.run_seconds},
        "events_per_second": speed,
        "http_over_in_process": speed["http"] / speed["in_process"],
        "pages": pages,
        "requests": requests,
        "requests_per_page": page_requests / pages if pages else None,
    }


def _digests(run_dir: Path) -> dict[str, str]:
    return {p.name: file_sha256(p) for p in sorted((run_dir / "events").glob("part-*.parquet"))}
