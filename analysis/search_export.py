"""Search sessions as a dataset: one row per query, with the results shown and the clicks.

The same frame for simulated and real sessions, written as Parquet and JSON
Lines (and, by `personas.datasets.trec.write_trec_sessions`, as TREC XML):

| column | type | meaning |
|---|---|---|
| session_id, topic, need | str | the session, its topic and its information need |
| query_number | int | 1 for the session's first query |
| query | str | the query's text |
| t | float | seconds from the session's start when it was issued |
| final | bool | the session's logged last query: text only, no results kept |
| results | list[{rank, doc_id, title, snippet, url}] | the page, top first |
| clicks | list[{rank, doc_id, start, end}] | in order; `end` null where not logged |
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from personas.atomic import replace_atomically, temporary_path
from personas.datasets.trec import SearchSession

_RESULT = pl.Struct(
    {"rank": pl.Int64, "doc_id": pl.String, "title": pl.String, "snippet": pl.String,
     "url": pl.String}
)  # fmt: skip
_CLICK = pl.Struct({"rank": pl.Int64, "doc_id": pl.String, "start": pl.Float64, "end": pl.Float64})
SCHEMA = pl.Schema(
    {
        "session_id": pl.String(),
        "topic": pl.String(),
        "need": pl.String(),
        "query_number": pl.Int64(),
        "query": pl.String(),
        "t": pl.Float64(),
        "final": pl.Boolean(),
        "results": pl.List(_RESULT),
        "clicks": pl.List(_CLICK),
    }
)


def sessions_frame(sessions: Iterable[SearchSession]) -> pl.DataFrame:
    """One row per query (the logged last query too, with no results), in session order."""
    rows = []
    for s in sessions:
        for q in s.queries:
            by_rank = {r.rank: r.doc_id for r in q.results}
            rows.append(
                {
                    "session_id": s.id,
                    "topic": s.topic,
                    "need": s.need,
                    "query_number": q.number,
                    "query": q.text,
                    "t": q.start,
                    "final": False,
                    "results": [
                        {
                            "rank": r.rank,
                            "doc_id": r.doc_id,
                            "title": r.title,
                            "snippet": r.snippet,
                            "url": r.url,
                        }
                        for r in q.results
                    ],
                    "clicks": [
                        {
                            "rank": c.rank,
                            "doc_id": by_rank.get(c.rank),
                            "start": c.start,
                            "end": c.end,
                        }
                        for c in q.clicks
                    ],
                }
            )
        if s.final_query is not None:
            rows.append(
                {
                    "session_id": s.id,
                    "topic": s.topic,
                    "need": s.need,
                    "query_number": len(s.queries) + 1,
                    "query": s.final_query,
                    "t": s.final_start,
                    "final": True,
                    "results": [],
                    "clicks": [],
                }
            )
    return pl.DataFrame(rows, schema=SCHEMA)


def export_sessions(sessions: Iterable[SearchSession], folder: str | Path) -> dict[str, Path]:
    """`sessions.parquet` and `sessions.jsonl` in `folder` (each written whole, then renamed)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frame = sessions_frame(sessions)
    written = {}
    for name, write in (
        ("sessions.parquet", frame.write_parquet),
        ("sessions.jsonl", frame.write_ndjson),
    ):
        path = out / name
        tmp = temporary_path(path)
        write(tmp)
        replace_atomically(tmp, path)
        written[name] = path
    return written
