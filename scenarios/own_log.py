"""Your own interaction log: a folder of tables and the mapping file that says how to read them.

A team's log rarely looks like MovieLens: other column names, string ids,
times in milliseconds, JSON Lines. Here the scenario's dataset is written out
that way (`write_as_your_log`) — a listening service's export, with users
`u-…`, episodes `e-…` and topics for genres — and the run reads it back
through `simfolk-data.yaml`, the same way it would read yours:

    version: 1
    name: listens
    interactions:
      file: listens.jsonl
      user: listener
      item: episode
      time: {column: played_at_ms, unit: milliseconds}
      rating: {column: stars, low: 0.5, high: 5, step: 0.5}
    items: {file: episodes.jsonl, item: episode, title: name,
            categories: {column: topics}}
    words: {item: episode, items: episodes, consume: listen to, consumed: listened to}

Personas, calibration, the run, `compare`, `ab` and `report` then work on it
as on MovieLens; the personas speak of episodes, not films.

Run it:  python scenarios/own_log.py
    or:  simfolk run scenarios/own_log.py --personas 50 --days 3 --out runs/own_log
Then:    simfolk compare runs/own_log
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml

from personas.datasets import load_dataset
from personas.datasets.mapping import MAPPING_FILE
from simulator import RunConfig, simulate
from simulator.domains.recsys.run import RunResult

CONFIG = RunConfig(
    scenario="own_log",
    dataset="ml-latest-small",  # the data the example log is written from
    personas=100,
    days=7,
    seed=0,
    target="itemknn",
    refit_every_days=1.0,
)
WORDS = {"item": "episode", "items": "episodes", "consume": "listen to",
         "consumed": "listened to"}  # fmt: skip


def write_as_your_log(dataset: str, folder: Path) -> Path:
    """`dataset` as a listening service might export it, with its mapping file."""
    source = load_dataset(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    source.ratings.select(
        (pl.lit("u-") + pl.col("user_id").cast(pl.String)).alias("listener"),
        (pl.lit("e-") + pl.col("item_id").cast(pl.String)).alias("episode"),
        (pl.col("timestamp") * 1000).alias("played_at_ms"),
        pl.col("rating").alias("stars"),
    ).write_ndjson(folder / "listens.jsonl")
    source.items.select(
        (pl.lit("e-") + pl.col("item_id").cast(pl.String)).alias("episode"),
        pl.col("title").alias("name"),
        pl.col("genres").alias("topics"),
    ).write_ndjson(folder / "episodes.jsonl")
    scale = source.rating_scale
    mapping = {
        "version": 1,
        "name": "listens",
        "interactions": {
            "file": "listens.jsonl",
            "user": "listener",
            "item": "episode",
            "time": {"column": "played_at_ms", "unit": "milliseconds"},
            "rating": {"column": "stars", "low": scale.low, "high": scale.high,
                       "step": scale.step},
        },
        "items": {"file": "episodes.jsonl", "item": "episode", "title": "name",
                  "categories": {"column": "topics"}},
        "words": WORDS,
    }  # fmt: skip
    (folder / MAPPING_FILE).write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return folder


def run(config: RunConfig, out: str | Path, **options: Any) -> RunResult:
    """Write the log beside the run, then simulate on it."""
    out = Path(out)
    log = write_as_your_log(config.dataset, out.parent / f"{out.name}-log")
    return simulate(config.model_copy(update={"dataset": str(log)}), out, **options)


def main() -> None:
    """Run with the defaults into runs/own_log."""
    result = run(CONFIG, Path("runs") / "own_log")
    print(f"{result.events} events in {result.run_dir}; compare: simfolk compare {result.run_dir}")


if __name__ == "__main__":
    main()
