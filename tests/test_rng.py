import numpy as np

from simulator.core.rng import Streams, generator_state, restore_generator


def test_same_key_same_draws_whatever_the_order():
    a, b = Streams(3), Streams(3)
    first = a.generator("p1", "choice").random(5)
    b.generator("p2", "choice").random(100)  # other streams in between change nothing
    assert np.array_equal(first, b.generator("p1", "choice").random(5))


def test_keys_separate_streams():
    s = Streams(3)
    draws = {
        key: s.generator(*key).random(4).tobytes()
        for key in [("p1", "choice"), ("p1", "arrival"), ("p2", "choice")]
    }
    assert len(set(draws.values())) == 3
    assert Streams(4).generator("p1", "choice").random(4).tobytes() != draws[("p1", "choice")]


def test_state_round_trip_continues_exactly():
    rng = Streams(1).generator("p", "x")
    rng.random(10)
    restored = restore_generator(generator_state(rng))
    assert np.array_equal(rng.random(20), restored.random(20))


def test_negative_seed_is_rejected():
    import pytest

    with pytest.raises(ValueError, match="root seed"):
        Streams(-1)
