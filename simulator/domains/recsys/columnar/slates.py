"""Pages for many personas at once: one batched request, or one request each.

A target with `recommend_many(users, k, contexts)` answers the whole batch (a
list per request, or a (requests, <= k) integer array padded with -1); any
other target, or a batch its `recommend_many` refuses, is asked persona by
persona, so one bad answer ends only that persona's session.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulator.domains.recsys.catalog import Catalog
from simulator.domains.recsys.columnar.population import BrowseState
from simulator.domains.recsys.interfaces import RecContexts, TargetError
from simulator.domains.recsys.targets.spec import check_slate


def _checked_batch(answer: Any, catalog: Catalog, name: str, n: int, k: int) -> np.ndarray:
    """A batched answer as (n, k) item ids padded with -1, or TargetError saying why not."""
    if isinstance(answer, np.ndarray):
        if answer.ndim != 2 or answer.shape[0] != n or answer.shape[1] > k:
            raise TargetError(f"target {name!r} answered an array of shape {answer.shape}: "
                              f"need ({n}, <= {k})")  # fmt: skip
        if not np.issubdtype(answer.dtype, np.integer):
            raise TargetError(f"target {name!r} answered {answer.dtype} item ids: need integers")
        slates = np.full((n, k), -1, dtype=np.int64)
        slates[:, : answer.shape[1]] = answer
        present = slates >= 0
        try:
            catalog.index(slates[present])
        except KeyError as exc:
            raise TargetError(
                f"target {name!r} recommended unknown {exc.args[0]}", "unknown_item"
            ) from None
        ordered = np.sort(np.where(present, slates, -1 - np.arange(k)), axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise TargetError(f"target {name!r} repeated an item within a page")
        return slates
    if not isinstance(answer, list) or len(answer) != n:
        raise TargetError(f"target {name!r} answered {type(answer).__name__}: need {n} pages")
    slates = np.full((n, k), -1, dtype=np.int64)
    for i, slate in enumerate(answer):
        row = check_slate(slate, catalog, name, k)
        slates[i, : len(row)] = row
    return slates


def ask_target(
    target: Any,
    catalog: Catalog,
    users: np.ndarray,
    state: BrowseState,
    idx: np.ndarray,
    t: np.ndarray,
    k: int,
) -> tuple[np.ndarray, list[TargetError | None]]:
    """Each persona's page (item ids, -1 padded) and, where it failed, why."""
    empty = np.zeros(0, dtype=np.int64)
    shown = [state.shown_items(i) if i in state.shown else empty for i in idx.tolist()]
    pointers = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in shown], out=pointers[1:])
    contexts = RecContexts(
        t=t,
        session=state.session[idx],
        page=state.page[idx],
        pointers=pointers,
        items=np.concatenate(shown) if shown else empty,
    )
    keys = [str(u) for u in users]
    many = getattr(target, "recommend_many", None)
    if callable(many):
        try:
            return _checked_batch(many(keys, k, contexts), catalog, target.name, len(keys), k), [
                None
            ] * len(keys)
        except TargetError:
            pass  # ask one by one: only the personas it cannot serve lose their session
    slates = np.full((len(keys), k), -1, dtype=np.int64)
    errors: list[TargetError | None] = [None] * len(keys)
    for j, (user, context) in enumerate(zip(keys, contexts, strict=True)):
        try:
            row = check_slate(target.recommend(user, k, context), catalog, target.name, k)
        except TargetError as error:
            errors[j] = error
            continue
        slates[j, : len(row)] = row
    return slates, errors
