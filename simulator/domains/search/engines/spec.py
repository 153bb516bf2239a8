"""What `--engine` may name, and what the object it builds must offer.

A search engine is a registered name (`bm25`, `bm25-minilm`), `MODULE:ATTR`
(a class or factory of the user's taking `(collection, streams)`, imported from
the import path or the folder simfolk runs from), or `http://HOST:PORT[/prefix]`,
a service on `simfolk-search/1` (`engines/http/`). Any of them is checked
against `SearchEngine` before anything runs.
"""

from __future__ import annotations

from typing import Any

from simulator.core.conformance import construct, method_problems, name_problems, refuse
from simulator.core.redact import redact
from simulator.core.refs import is_ref, load_ref
from simulator.core.rng import Streams
from simulator.core.service_client import service_url
from simulator.domains.search.collection import Collection
from simulator.domains.search.engines import ENGINES
from simulator.domains.search.interfaces import SearchEngine

_SIGNATURES = {
    "search": ("query: str", "k: int", "context: SearchContext"),
    "feedback": ("click: SearchClick",),
    "get_state": (),
    "set_state": ("state: dict",),
}
_SEE = "simulator.domains.search.interfaces.SearchEngine"


def check_engine_name(spec: str) -> None:
    """Refuse, before anything runs, what cannot name an engine (MODULE:ATTR is checked built)."""
    if spec.startswith(("http://", "https://")):
        service_url(spec)  # a malformed URL or setting is refused here
    elif not is_ref(spec):
        ENGINES.check(spec)


def make_engine(spec: str, collection: Collection, streams: Streams) -> SearchEngine:
    """The engine `spec` names, built on `collection` and checked against the protocol."""
    check_engine_name(spec)
    if spec.startswith(("http://", "https://")):
        from simulator.domains.search.engines.http.client import HttpSearchEngine

        return checked_engine(HttpSearchEngine(spec), redact(spec))
    if not is_ref(spec):
        return checked_engine(ENGINES.make(spec, collection, streams), spec)
    obj = load_ref(spec)
    if isinstance(obj, type):  # what the class lacks, before it is built
        refuse(obj, f"engine {spec!r}", method_problems(obj, _SIGNATURES, unbound=True),
               "a search engine", _SEE)  # fmt: skip
    elif not callable(obj) and not _looks_built(obj):
        raise ValueError(
            f"engine {spec!r} is a {type(obj).__name__}: give a class or a factory taking "
            "(collection, streams), or a search engine object"
        )
    built = construct(obj, (collection, streams), "(collection, streams)", f"engine {spec!r}",
                      _looks_built)  # fmt: skip
    return checked_engine(built, spec)


def checked_engine(obj: Any, where: str) -> SearchEngine:
    """`obj`, if it offers every method of `SearchEngine` with a signature that fits."""
    problems = name_problems(obj) + method_problems(obj, _SIGNATURES, unbound=False)
    refuse(obj, f"engine {where!r}", problems, "a search engine", _SEE)
    engine: SearchEngine = obj
    return engine


def _looks_built(obj: Any) -> bool:
    return not isinstance(obj, type) and callable(getattr(obj, "search", None))
