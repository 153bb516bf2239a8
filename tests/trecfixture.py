"""A small TREC Session Track file written for tests: synthetic needs over 40 documents."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from personas.datasets.trec import Click, Query, Result, SearchSession, write_trec_sessions

WORDS = ["civil", "war", "causes", "scooter", "cheap", "heart", "attack", "symptoms", "garden",
         "tomato", "soil", "python", "snake", "bite", "river", "flood"]  # fmt: skip


def small_log(path: Path, topics: int = 8, per_topic: int = 4) -> Path:
    """A small TREC file: `topics` needs, each searched `per_topic` times, over 40 documents."""
    rng = np.random.default_rng(0)
    docs = [(f"doc{i:02d}", " ".join(rng.choice(WORDS, 3)), " ".join(rng.choice(WORDS, 8)))
            for i in range(40)]  # fmt: skip
    sessions = []
    for topic in range(topics):
        need = " ".join(rng.choice(WORDS, 6))
        for j in range(per_topic):
            queries = []
            for number in range(1, 2 + (j % 3)):
                shown = rng.choice(40, 10, replace=False)
                results = tuple(Result(r + 1, docs[d][0], f"http://x/{docs[d][0]}", docs[d][1],
                                       docs[d][2]) for r, d in enumerate(shown))  # fmt: skip
                start = 20.0 + 60.0 * (number - 1)
                clicks = (Click(1 + int(rng.integers(3)), start + 8.0, start + 30.0),) * (j % 2)
                text = " ".join(rng.choice(need.split(), 2 + number % 2))
                queries.append(Query(number, text, start, results, clicks))
            sessions.append(SearchSession(f"{topic}{j}", str(topic), need, tuple(queries)))
    return write_trec_sessions(sessions, path)
