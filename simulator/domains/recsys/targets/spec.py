"""What `--target` may name, and what the object it builds must offer.

A target is one of three things:

- a registered name (`simfolk list targets`): `itemknn`, `als`, ...;
- `MODULE:ATTR`, a class or factory of the user's taking `(catalog, streams)`,
  imported from the import path or the folder simfolk runs from;
- `http://HOST:PORT[/prefix]`, a service speaking the recommender protocol
  (`targets.http.protocol`).

Whatever builds it, the object is checked against `Recommender` before the run
starts, so a missing method is one clear line, not a traceback on day three.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from simulator.core.conformance import construct, method_problems, name_problems, refuse
from simulator.core.refs import is_ref, load_ref
from simulator.core.rng import Streams
from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.interfaces import Recommender, TargetError
from simulator.domains.recsys.targets.builtin import TARGETS

Factory = Callable[[Catalog, Streams], Recommender]

BRING_YOUR_OWN = (
    "MODULE:ATTR (your class or factory taking (catalog, streams)), or "
    "http://HOST:PORT[/prefix] (your service on protocol simfolk-recommender/1; "
    "simfolk serve recommender is one)"
)

# What each method of the protocol is called with (after self).
_SIGNATURES = {
    "fit": ("interactions: polars.DataFrame",),
    "recommend": ("user: str", "k: int", "context: RecContext"),
    "feedback": ("event: Interaction",),
    "get_state": (),
    "set_state": ("state: dict",),
}


def is_service(spec: str) -> bool:
    """Whether `spec` names a recommender served over HTTP."""
    return spec.startswith(("http://", "https://"))


def check_target(spec: str) -> None:
    """Raise ValueError, saying what is accepted, if `spec` cannot name a target.

    Names and URLs are checked without a network call; a ref is imported.
    """
    if is_service(spec):
        from simulator.domains.recsys.targets.http.client import service_url

        service_url(spec)
    elif is_ref(spec):
        _callable_ref(spec)
    elif spec not in TARGETS.names():
        raise ValueError(
            f"unknown target {spec!r}; choose one of: {', '.join(TARGETS.names())}; "
            f"or bring your own: {BRING_YOUR_OWN}"
        )


def make_target(spec: str, catalog: Catalog, streams: Streams) -> Recommender:
    """Build the (unfitted) recommender `spec` names, checked against the protocol."""
    check_target(spec)
    if is_service(spec):
        from simulator.domains.recsys.targets.http.client import HttpRecommender

        return HttpRecommender(spec)
    if is_ref(spec):
        return built(_callable_ref(spec), catalog, streams, where=spec)
    return checked_recommender(TARGETS.make(spec, catalog, streams), spec)


def built(
    target: Recommender | Factory, catalog: Catalog, streams: Streams, where: str
) -> Recommender:
    """`target` itself if it is a recommender, else what calling it with the run's parts gives."""
    if isinstance(target, type):  # what the class lacks, before it is built
        _raise_problems(target, where, method_problems(target, _SIGNATURES, unbound=True))
    built_target = construct(
        target, (catalog, streams), "(catalog, streams)", f"target {where!r}", _looks_built
    )
    return checked_recommender(built_target, where)


def checked_recommender(obj: Any, where: str) -> Recommender:
    """`obj`, if it offers every method of `Recommender` with a signature that fits."""
    problems = name_problems(obj) + method_problems(obj, _SIGNATURES, unbound=False)
    _raise_problems(obj, where, problems)
    return obj


def _raise_problems(obj: Any, where: str, problems: list[str]) -> None:
    refuse(
        obj,
        f"target {where!r}",
        problems,
        "a recommender",
        "simulator.domains.recsys.interfaces.Recommender",
    )


def check_slate(slate: Any, catalog: Catalog, name: str, size: int) -> list[int]:
    """A page the target answered, or TargetError saying why it cannot be shown."""
    if isinstance(slate, tuple | np.ndarray):
        slate = list(slate)
    if not isinstance(slate, list) or not all(
        isinstance(x, int | np.integer) and not isinstance(x, bool) for x in slate
    ):
        raise TargetError(f"target {name!r} returned {slate!r:.200}: need a list of item ids")
    slate = [int(x) for x in slate]
    if len(slate) > size or len(set(slate)) != len(slate):
        raise TargetError(f"target {name!r} returned {slate}: need at most {size} distinct items")
    try:
        catalog.index(slate)
    except KeyError as exc:
        raise TargetError(
            f"target {name!r} recommended unknown {exc.args[0]}", "unknown_item"
        ) from None
    return slate


def target_origin(spec: str) -> tuple[Literal["file", "module"], str] | None:
    """Where a registered target comes from, if a fresh process must load it to know it.

    A target registered by a scenario script lives in a module no import finds
    (the script is loaded from its path): a worker must run the file. One a
    package registers on import needs that module imported. The built-ins need
    nothing.
    """
    if is_service(spec) or is_ref(spec) or spec not in TARGETS.names():
        return None
    factory = TARGETS.factory(spec)
    factory = getattr(factory, "func", factory)  # a functools.partial: its function
    module = getattr(factory, "__module__", None) or ""
    if module.startswith("simulator.") or module == "simulator":
        return None
    try:
        if module and importlib.util.find_spec(module) is not None:
            return ("module", module)
    except (ImportError, ValueError):  # __main__, or a name no finder knows
        pass
    try:
        return ("file", str(Path(inspect.getfile(factory)).resolve()))
    except TypeError:  # defined nowhere a file says
        return None


def _callable_ref(spec: str) -> Any:
    obj = load_ref(spec)
    if not callable(obj) and not _looks_built(obj):
        raise ValueError(
            f"target {spec!r} is a {type(obj).__name__}: give a class or a factory taking "
            "(catalog, streams), or a recommender object"
        )
    return obj


def _looks_built(obj: Any) -> bool:
    return not isinstance(obj, type) and callable(getattr(obj, "recommend", None))
