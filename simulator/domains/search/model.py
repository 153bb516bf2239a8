"""The searcher, fitted on real sessions: formulate, examine, click, dwell, reformulate, stop.

Every part is a small statistical model fitted by `fit_searcher` on one set of
real TREC sessions and nothing else; `simulator.domains.search.searcher` lives
sessions with it against any `SearchEngine`, drawing only from the generator it is given.

- **formulate**: the first query's length (empirical, add-one smoothed) and its
  terms drawn from the need's content terms, weighted count^β·exp(−α·position)
  by how often and how early the need says them (α, β by maximum likelihood);
- **reformulate**: add / drop / replace / repeat / new (the real mix); added
  terms come from the snippets seen so far with the fitted share, else from the
  need's unused terms;
- **examine and click**: a logistic model of a click on each shown result on
  log(rank) and the share of the query's and the need's terms in its title and
  snippet (position bias and attractiveness, as click models separate them),
  with a random effect per page (`clicks.PageLogit`: real clicks come in bunches);
- **time**: log-normal times to the first query, from a page to its first
  click and from a clicked page's end to the next click, of dwell on a
  clicked page, and from the last click to the next query;
- **stop**: a logistic hazard after each query on its number and its clicks;
  and, as TREC logged them, the share of new queries that are the session's
  last ("current") one, whose results the log does not keep (a logistic on
  the new query's number).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS
from pydantic import BaseModel, ConfigDict
from sklearn.linear_model import LogisticRegression

from personas.datasets.trec import Result, SearchSession, terms
from simulator.domains.search.clicks import PageLogit

PAGE = 10  # results a page shows
MAX_QUERY_TERMS = 12
MAX_QUERIES = 30
REFORMULATIONS = ("add", "drop", "replace", "repeat", "new")
# The words every task description is told in, besides English stopwords.
_TASK_WORDS = {
    "find", "documents", "document", "information", "want", "know", "learn", "learned",
    "interested", "looking", "like", "also", "talk", "following", "aspects", "relevant",
    "would", "could", "get", "one", "may", "much", "many", "well", "things", "something",
}  # fmt: skip
_STOP = frozenset(STOPWORDS_EN_PLUS) | _TASK_WORDS


def content_terms(text: str) -> list[str]:
    """The distinct non-stopword terms of `text`, in order of first appearance."""
    return list(need_counts(text))


def is_content(term: str) -> bool:
    """Whether `term` says something: not a stopword, a task word or a single character."""
    return term not in _STOP and len(term) > 1


def need_counts(text: str) -> dict[str, int]:
    """The content terms of `text` and how often it says each, in order of first appearance."""
    counts: dict[str, int] = {}
    for term in terms(text):
        if is_content(term):
            counts[term] = counts.get(term, 0) + 1
    return counts


def reformulation(before: Sequence[str], after: Sequence[str]) -> str:
    """How `after` changed `before`: add, drop, replace, repeat or new (no term kept)."""
    a, b = set(before), set(after)
    if a == b:
        return "repeat"
    if not a & b:
        return "new"
    if a < b:
        return "add"
    if b < a:
        return "drop"
    return "replace"


class LogNormal(BaseModel):
    """A log-normal: mean and spread of log seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mu: float
    sigma: float

    @classmethod
    def fit(cls, seconds: Sequence[float]) -> LogNormal:
        """The log-normal of `seconds` (each at least half a second)."""
        logs = np.log(np.maximum(np.asarray(seconds, dtype=np.float64), 0.5))
        return cls(mu=float(logs.mean()), sigma=float(max(logs.std(), 0.05)))

    def draw(self, rng: np.random.Generator) -> float:
        """Seconds, drawn from `rng`."""
        return float(math.exp(rng.normal(self.mu, self.sigma)))


class Logit(BaseModel):
    """A fitted logistic model: intercept and coefficients."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    intercept: float
    coefficients: tuple[float, ...]

    @classmethod
    def fit(cls, x: Sequence[Sequence[float]], y: Sequence[bool], width: int) -> Logit:
        """scikit-learn's L2 logistic regression of 0/1 `y` on `width` features `x`.

        One outcome only gives its rate and no slopes; no rows at all, even odds.
        """
        xs = np.asarray(x, dtype=np.float64).reshape(-1, width)
        ys = np.asarray(y, dtype=np.float64)
        if len(set(ys.tolist())) < 2:
            rate = min(max(float(ys.mean()), 1e-3), 1 - 1e-3) if ys.size else 0.5
            return cls(intercept=math.log(rate / (1 - rate)), coefficients=(0.0,) * width)
        model = LogisticRegression(C=1.0, max_iter=1000).fit(xs, ys)
        return cls(
            intercept=float(model.intercept_[0]),
            coefficients=tuple(float(c) for c in model.coef_[0]),
        )

    def p(self, x: np.ndarray) -> np.ndarray:
        """P(1) for each row of `x`."""
        z = self.intercept + np.asarray(x, dtype=np.float64) @ np.asarray(self.coefficients)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


class SearcherModel(BaseModel):
    """Everything a simulated searcher draws from, fitted on real sessions (plain data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sessions: int
    first_length: tuple[float, ...]  # P(first query has 1, 2, ... terms)
    position_decay: float  # α: how strongly early terms of the need are preferred
    repetition: float  # β: how strongly terms the need repeats are preferred
    reformulation: dict[str, float]
    added_terms: float  # mean terms an add brings (≥ 1)
    replaced_terms: float  # mean terms a replace brings (≥ 1), as many old ones going
    from_snippets: float  # share of added terms taken from snippets seen
    click: PageLogit  # on log(rank), query-term share, need-term share; a page effect
    stop: Logit  # on log(query number), clicks on the query
    final: Logit  # P(a new query is the logged last one) on log(query number)
    first_query: LogNormal
    to_first_click: LogNormal  # from the page to its first click
    to_click: LogNormal  # from a clicked page's end to the next click on the same results
    dwell: LogNormal
    to_query: LogNormal


def click_features(query: Sequence[str], need: set[str], result: Result, rank: int) -> list[float]:
    """log(rank), and the shares of the query's and the need's terms the result shows."""
    words = set(terms(f"{result.title} {result.snippet}"))
    q = set(query)
    return [
        math.log(rank),
        len(q & words) / len(q) if q else 0.0,
        len(need & words) / len(need) if need else 0.0,
    ]


def term_weights(counts: Sequence[int], alpha: float, beta: float) -> np.ndarray:
    """P(each need term, in order of first appearance) for a query: count^β · exp(−α·position)."""
    n = len(counts)
    weights = np.asarray(counts, dtype=np.float64) ** beta * np.exp(-alpha * np.arange(n) / n)
    return np.asarray(weights / weights.sum())


def click_rows(
    sessions: Sequence[SearchSession],
) -> tuple[list[list[float]], list[bool], list[int]]:
    """The click model's rows: every first-page result shown, whether it was clicked, its page."""
    x, y, pages = [], [], []
    page = 0
    for session in sessions:
        need = set(need_counts(session.need))
        for query in session.queries:
            words = terms(query.text)
            for result in query.results[:PAGE]:
                x.append(click_features(words, need, result, result.rank))
                y.append(any(c.rank == result.rank for c in query.clicks))
                pages.append(page)
            page += 1
    return x, y, pages


def stop_features(number: int, clicks: int) -> list[float]:
    """The stop hazard's inputs after query `number` (1 for the first) with `clicks` clicks."""
    return [math.log(number), float(clicks)]


def final_features(number: int) -> list[float]:
    """The inputs of whether new query `number` is the session's logged last one."""
    return [math.log(number)]


def _terms_loglik(
    alpha: float, beta: float, firsts: list[tuple[dict[str, int], list[str]]]
) -> float:
    total = 0.0
    for need, chosen in firsts:
        if not need:
            continue
        weights = term_weights(list(need.values()), alpha, beta)
        where = {t: i for i, t in enumerate(need)}
        total += sum(math.log(weights[where[t]]) for t in chosen if t in where)
    return total


def fit_searcher(sessions: Sequence[SearchSession]) -> SearcherModel:
    """Fit every part on `sessions` (and nothing else)."""
    if len(sessions) < 5:
        raise ValueError(f"fitting a searcher needs at least 5 sessions, got {len(sessions)}")
    if not any(q.results for s in sessions for q in s.queries):
        raise ValueError("fitting a searcher needs sessions whose queries show results")
    lengths: Counter[int] = Counter()
    firsts, kinds, added, replaced, sources = [], Counter[str](), [], [], [0, 0]
    x_stop, y_stop, x_final, y_final = [], [], [], []
    t_first: list[float] = []
    t_first_click: list[float] = []
    t_click: list[float] = []
    t_dwell: list[float] = []
    t_query: list[float] = []
    for session in sessions:
        need_terms = need_counts(session.need)
        need = set(need_terms)
        texts = session.texts()
        if texts:
            first = terms(texts[0])
            lengths[min(max(len(first), 1), MAX_QUERY_TERMS)] += 1
            firsts.append((need_terms, [t for t in first if t in need]))
        if session.queries:
            t_first.append(session.queries[0].start)
        seen_snippets: set[str] = set()
        for index, query in enumerate(session.queries):
            words = terms(query.text)
            for result in query.results[:PAGE]:
                seen_snippets |= set(terms(f"{result.title} {result.snippet}"))
            clock = query.start
            for order, click in enumerate(sorted(query.clicks, key=lambda c: c.start)):
                (t_click if order else t_first_click).append(click.start - clock)
                if click.dwell is not None:
                    t_dwell.append(click.dwell)
                    clock = click.start + click.dwell
                else:
                    clock = click.start
            following = index + 1 < len(texts)
            x_stop.append(stop_features(index + 1, len(query.clicks)))
            y_stop.append(not following)
            if following:
                x_final.append(final_features(index + 2))
                y_final.append(index + 1 == len(session.queries))  # the logged current query
                nxt = terms(texts[index + 1])
                kind = reformulation(words, nxt)
                kinds[kind] += 1
                new = [t for t in nxt if t not in words]
                if kind == "add":
                    added.append(len(new))
                if kind == "replace":
                    replaced.append(len(new))
                if kind in ("add", "replace"):
                    for term in new:
                        sources[0 if term in seen_snippets and term not in need else 1] += 1
                if index + 1 < len(session.queries):
                    t_query.append(max(session.queries[index + 1].start - clock, 0.5))
    counts = np.array([lengths.get(n, 0) + 1 for n in range(1, MAX_QUERY_TERMS + 1)], float)
    grid = [(a, b) for a in np.linspace(0.0, 8.0, 17) for b in np.linspace(0.0, 3.0, 13)]
    alpha, beta = grid[int(np.argmax([_terms_loglik(a, b, firsts) for a, b in grid]))]
    total = sum(kinds.values())
    return SearcherModel(
        sessions=len(sessions),
        first_length=tuple((counts / counts.sum()).tolist()),
        position_decay=float(alpha),
        repetition=float(beta),
        reformulation={k: (kinds[k] + 1) / (total + len(REFORMULATIONS)) for k in REFORMULATIONS},
        added_terms=float(np.mean(added)) if added else 1.0,
        replaced_terms=float(np.mean(replaced)) if replaced else 1.0,
        from_snippets=sources[0] / sum(sources) if sum(sources) else 0.0,
        click=PageLogit.fit(*click_rows(sessions), 3),
        stop=Logit.fit(x_stop, y_stop, 2),
        final=Logit.fit(x_final, y_final, 1),
        first_query=LogNormal.fit(t_first or [30.0]),
        to_first_click=LogNormal.fit(t_first_click or [10.0]),
        to_click=LogNormal.fit(t_click or [10.0]),
        dwell=LogNormal.fit(t_dwell or [20.0]),
        to_query=LogNormal.fit(t_query or [20.0]),
    )


def formulate(model: SearcherModel, need: dict[str, int], rng: np.random.Generator) -> list[str]:
    """A query from the need: a fitted length, terms by the fitted position and repetition."""
    pool = list(need)
    if not pool:
        return ["search"]
    length = 1 + int(rng.choice(len(model.first_length), p=np.asarray(model.first_length)))
    weights = term_weights(list(need.values()), model.position_decay, model.repetition)
    picked = rng.choice(len(pool), size=min(length, len(pool)), replace=False, p=weights)
    return [pool[i] for i in sorted(picked)]


def reformulate(
    model: SearcherModel,
    query: list[str],
    need: dict[str, int],
    snippets: list[str],
    rng: np.random.Generator,
) -> list[str]:
    """The next query from this one, by a fitted kind of change."""
    # A one-term query can be neither cut nor partly replaced: those kinds are not drawn.
    kinds = [k for k in model.reformulation if len(query) > 1 or k not in ("drop", "replace")]
    weights = np.array([model.reformulation[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    if kind == "repeat":
        return list(query)
    if kind == "new":
        return formulate(model, {t: c for t, c in need.items() if t not in query} or need, rng)
    if kind == "drop":
        out = list(query)
        del out[int(rng.integers(len(out)))]
        return out

    def fresh(n: int) -> list[str]:
        unused_need = [t for t in need if t not in query]
        unused_seen = [t for t in snippets if t not in query and t not in need]
        picked: list[str] = []
        for _ in range(n):
            pool = unused_seen if rng.random() < model.from_snippets else unused_need
            pool = [t for t in (pool or unused_need or unused_seen) if t not in picked]
            if pool:
                picked.append(pool[int(rng.integers(len(pool)))])
        return picked

    if kind == "add":
        extra = 1 + int(rng.poisson(max(model.added_terms - 1.0, 0.0)))
        return (list(query) + fresh(extra))[:MAX_QUERY_TERMS] or list(query)
    # replace: some terms for as many new ones (at least one old term stays)
    n = min(1 + int(rng.poisson(max(model.replaced_terms - 1.0, 0.0))), len(query) - 1)
    out = list(query)
    for term, where in zip(fresh(n), rng.permutation(len(out)), strict=False):
        out[int(where)] = term
    return out
