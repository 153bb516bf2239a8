"""Checkpoints are data: what goes in comes back equal, and no file can make a load run code."""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass

import numpy as np
import ormsgpack
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from simulator.core.checkpoint import CHECKPOINT_FILE, load_checkpoint
from simulator.core.statecodec import StateError, decode, encode, state_type
from simulator.domains.recsys.actions import Click, Leave
from simulator.domains.recsys.agent import AgentState

scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: a PCG64 state is 128-bit
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
)
keys = st.text() | st.integers() | st.tuples(st.integers(), st.text())
states = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
        | st.frozensets(st.integers(), max_size=4)
    ),
    max_leaves=30,
)


def _typed(a, b) -> bool:
    """Equal, and of the same types all the way down (a tuple must not come back a list)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_typed(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_typed(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(states)
def test_plain_state_round_trips_with_its_types(state):
    assert _typed(decode(encode(state)), state)


def test_a_map_that_holds_the_tag_key_is_not_mistaken_for_a_tag():
    state = {"~": "obj", "type": "AgentState", "v": {}}
    assert decode(encode(state)) == state


def test_arrays_sparse_numpy_scalars_and_marked_classes_round_trip():
    vector = np.arange(6, dtype="<f4").reshape(2, 3)
    matrix = sp.random(5, 4, density=0.4, format="csr", random_state=1)
    pending = [(1.5, Click(item_id=3, position=0), 2), (2.0, Leave(reason="bored"), 0)]
    agent = AgentState(phase="act", session=2, reviews={3: "fine"}, pending=pending)
    back = decode(encode({"v": vector, "m": matrix, "x": np.float64(0.1), "agent": agent}))
    assert back["v"].dtype == vector.dtype and np.array_equal(back["v"], vector)
    assert (back["m"] != matrix).nnz == 0
    assert type(back["x"]) is np.float64 and back["x"] == np.float64(0.1)
    assert back["agent"] == agent


def test_an_unmarked_class_is_refused_at_save_naming_where_it_is():
    @dataclass
    class Loose:
        x: int

    with pytest.raises(StateError, match=r"state\.world\[0\]: .*Loose.*@state_type"):
        encode({"world": [Loose(1)]})


def test_a_state_type_is_a_dataclass_or_a_model():
    with pytest.raises(TypeError, match="only dataclasses"):
        state_type(int)


@pytest.mark.parametrize(
    "tree",
    [
        {"~": "obj", "type": "os.system", "v": {"command": "touch pwned"}},
        {"~": "reduce", "v": ["os", "system"]},
        {"~": "nd", "dtype": "|O", "shape": [1], "v": b"\0" * 8},
        {"~": "nd", "dtype": "<f8", "shape": [4], "v": b"\0" * 8},
        {"~": "obj", "type": "AgentState", "v": {"no_such_field": 1}},
    ],
)
def test_crafted_state_is_an_error_not_an_object(tree):
    with pytest.raises(StateError):
        decode(ormsgpack.packb(tree))


def test_a_pickled_checkpoint_is_refused_unread(tmp_path):
    """What a checkpoint before version 3 was: loading it would have run `os.system`."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match=r"checkpoint\.pkl: .*older simfolk.*could run code"):
        load_checkpoint(tmp_path)
    (tmp_path / CHECKPOINT_FILE).write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match=r"(unreadable|not a simfolk) checkpoint"):
        load_checkpoint(tmp_path)
    assert not marker.exists()
