"""A recommender's memory of who consumed what: arrays from the fit, sets from feedback."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.domains.recsys.interfaces import INTERACTIONS_SCHEMA
from simulator.domains.recsys.targets.history import UserHistory

_users = st.sampled_from(["7", "42", "a", "b", "sampled-0-1", "é", ""])
_pairs = st.lists(st.tuples(_users, st.integers(0, 40)), max_size=40)


def _fitted(pairs: list[tuple[str, int]]) -> UserHistory:
    history = UserHistory()
    history.reset(
        pl.DataFrame(
            {
                "user": [u for u, _ in pairs],
                "item_id": [i for _, i in pairs],
                "rating": [3.0] * len(pairs),
                "t": [0.0] * len(pairs),
                "count": [None] * len(pairs),
            },
            schema=INTERACTIONS_SCHEMA,
        )
    )
    return history


@settings(max_examples=200, deadline=None)
@given(_pairs, _pairs, st.lists(_users, max_size=8))
def test_the_history_is_what_was_fitted_and_heard(fitted, heard, asked) -> None:
    history = _fitted(fitted)
    history.add_many([u for u, _ in heard[::2]], [i for _, i in heard[::2]])
    for user, item in heard[1::2]:
        history.add(user, item)
    expected: dict[str, set[int]] = {}
    for user, item in fitted + heard:
        expected.setdefault(user, set()).add(item)
    everyone = sorted({u for u, _ in fitted + heard} | set(asked))
    assert {u: history.of(u) for u in everyone} == {u: expected.get(u, set()) for u in everyone}
    # By the array: the same items, each row in item order.
    pointers, items = history.rows(asked)
    rows = [items[pointers[b] : pointers[b + 1]].tolist() for b in range(len(asked))]
    assert rows == [sorted(expected.get(u, set())) for u in asked]
    # A checkpoint holds all of it, and folding it in changes nothing.
    state = history.get_state()
    again = UserHistory()
    again.set_state(state)
    assert {u: again.of(u) for u in everyone} == {u: history.of(u) for u in everyone}
    assert np.array_equal(again.rows(asked)[1], history.rows(asked)[1])


def test_a_checkpoint_of_users_in_any_order_reads_back() -> None:
    history = UserHistory()
    history.set_state(
        {"users": np.array(["b", "a"]), "sizes": np.array([2, 1]), "items": np.array([5, 3, 9])}
    )
    assert history.of("a") == {9} and history.of("b") == {3, 5} and history.of("c") == set()
