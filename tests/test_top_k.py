"""Top k of many rows at once is `top_k` row by row, ties and exclusions included."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.domains.recsys.targets.history import top_k, top_k_many


class _Items(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.item_ids)


@st.composite
def _scores(draw: Any) -> tuple[np.ndarray, int]:
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 80))
    k = draw(st.integers(0, 24))
    # Few distinct values, so ties at the k-th score are common; -inf is an exclusion.
    cells = st.sampled_from([-np.inf, 0.0, 1e-6, 0.5, 1.0, 2.0, 3.5])
    values = draw(st.lists(cells, min_size=n * m, max_size=n * m))
    return np.array(values, dtype=np.float64).reshape(n, m), k


@settings(max_examples=300, deadline=None)
@given(_scores(), st.integers(0, 10**6))
def test_many_rows_pick_what_one_row_picks(case: tuple[np.ndarray, int], offset: int) -> None:
    scores, k = case
    catalog = _Items(item_ids=np.arange(scores.shape[1], dtype=np.int64) * 3 + offset)
    many = top_k_many(scores, catalog, k)  # type: ignore[arg-type]
    for row, picked in zip(scores, many, strict=True):
        excluded = catalog.item_ids[np.isneginf(row)].tolist()
        finite = np.where(np.isneginf(row), 0.0, row)
        single = top_k(finite, catalog, excluded, k)  # type: ignore[arg-type]
        assert [int(i) for i in picked if i >= 0] == single
        assert (picked[len(single) :] == -1).all()  # the rest is empty


def test_a_score_that_is_no_number_is_never_chosen() -> None:
    scores = np.arange(32, dtype=np.float64)[None, :]
    scores[0, 16:] = np.nan  # every chunk but one holds no number
    catalog = _Items(item_ids=np.arange(32, dtype=np.int64))
    assert top_k_many(scores, catalog, 3).tolist() == [[15, 14, 13]]  # type: ignore[arg-type]
