"""A search run's trace read back as TREC-shaped sessions, and held against the real ones.

Each closed session of the trace (`session_start` … `session_end`) becomes a
`SearchSession` whose times count from its start, as TREC's do: its queries
with the results shown and the clicks, and, when it ended by `final_query`,
that last query's text. The real side of `compare` is, unless another file is
given, the run's own held-out half: the sessions of the topics its searcher
was not fitted on, from the very file the manifest recorded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.frames import load_events
from analysis.search_compare import compare_sessions
from analysis.splithalf import ComparisonRow
from personas.datasets.trec import Click, Query, Result, SearchSession, load_trec_sessions
from simulator.core.manifest import file_sha256, read_manifest
from simulator.core.rng import Streams
from simulator.domains.search.population import split_topics


@dataclass
class _Open:
    start: float
    topic: str
    need: str
    queries: list[Query] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)
    query: tuple[int, str, float] | None = None  # number, text, start of the query being read

    def close_query(self) -> None:
        if self.query is not None:
            number, text, start = self.query
            self.queries.append(Query(number, text, start, tuple(self.results), tuple(self.clicks)))
        self.query, self.results, self.clicks = None, [], []


def sessions_from_run(run_dir: str | Path) -> list[SearchSession]:
    """Every closed session of the run, in the order they ended (ids: `<persona>/<session>`)."""
    return _read(run_dir)[0]


def _read(run_dir: str | Path) -> tuple[list[SearchSession], list[str]]:
    events = load_events(run_dir)
    columns = ("t", "event", "persona_id", "session", "page", "position", "doc_id", "title",
               "url", "text", "reason", "dwell")  # fmt: skip
    open_: dict[tuple[str, int], _Open] = {}
    done: list[SearchSession] = []
    reasons: list[str] = []
    for (
        t,
        event,
        who,
        session,
        page,
        position,
        doc,
        title,
        url,
        text,
        reason,
        dwell,
    ) in events.select(columns).iter_rows():
        key = (who, session)
        if event == "session_start":
            open_[key] = _Open(start=t, topic=reason or "", need=text or "")
            continue
        s = open_.get(key)
        if s is None:
            continue
        if event == "query":
            s.close_query()
            s.query = (int(page) + 1, text or "", t - s.start)
        elif event == "impression":
            s.results.append(Result(int(position) + 1, doc, url or "", title or "", text or ""))
        elif event == "click":
            start = t - s.start
            s.clicks.append(Click(int(position) + 1, start, start + (dwell or 0.0)))
        elif event == "session_end":
            final = s.query if reason == "final_query" else None
            if final is None:
                s.close_query()
            done.append(
                SearchSession(
                    id=f"{who}/{session}",
                    topic=s.topic,
                    need=s.need,
                    queries=tuple(s.queries),
                    final_query=final[1] if final else None,
                    final_start=final[2] if final else None,
                )
            )
            reasons.append(reason or "")
            del open_[key]
    return done, reasons


@dataclass(frozen=True)
class SearchComparison:
    """The split-half table of a search run against real sessions, and what only it has."""

    rows: list[ComparisonRow]
    simulated_sessions: int
    real_sessions: int
    end_reasons: dict[str, float]  # share of simulated sessions per session_end reason
    against: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "rows": [row.as_dict() for row in self.rows],
            "simulated_sessions": self.simulated_sessions,
            "real_sessions": self.real_sessions,
            "end_reasons": self.end_reasons,
            "against": self.against,
        }


def compare_search_run(run_dir: str | Path, against: str | Path | None = None) -> SearchComparison:
    """The run's sessions against `against` (TREC XML), else against its own held-out half."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    simulated, reasons = _read(run_dir)
    if not simulated:
        raise ValueError(f"{run_dir}: no session of the run has ended yet; nothing to compare")
    seed = int(manifest.get("root_seed", 0))
    if against is None:
        dataset = manifest.get("dataset") or {}
        path = Path(str(dataset.get("path", "")))
        if not path.is_file():
            raise ValueError(f"{run_dir}: the run's sessions file {path} is gone; pass --against")
        if file_sha256(path) != dataset.get("sha256"):
            raise ValueError(
                f"{path}: changed since the run {run_dir} was made (sha256 differs from its "
                "manifest); its held-out half is not the run's any more: pass --against"
            )
        real = list(split_topics(load_trec_sessions(path), Streams(seed)).heldout)
        what = f"{path} (the run's held-out topics)"
    else:
        real, what = list(load_trec_sessions(against).sessions), str(against)
    ends = Counter(reasons)
    total = sum(ends.values())
    return SearchComparison(
        rows=compare_sessions(simulated, real, seed=seed),
        simulated_sessions=len(simulated),
        real_sessions=len(real),
        end_reasons={k: v / total for k, v in sorted(ends.items())} if total else {},
        against=what,
    )
