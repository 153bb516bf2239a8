import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.minds.memory import EpisodicMemory, MemoryConfig, MemoryEntry

DAY = 86400.0
ACTION = (1.0, 0.0, 0.0)
DRAMA = (0.0, 1.0, 0.0)


def entry(t, item, features=ACTION, importance=0.5):
    return MemoryEntry(t=t, item_id=item, rating=4.0, importance=importance, features=features)


def test_recency_is_in_simulated_time():
    memory = EpisodicMemory(MemoryConfig(recall_k=1, relevance_weight=0.0, importance_weight=0.0))
    memory.store(entry(0.0, 1), now=0.0)
    memory.store(entry(5 * DAY, 2), now=5 * DAY)
    assert memory.recall(np.array([ACTION]), now=5 * DAY).entries[0].item_id == 2


def test_relevance_picks_the_matching_genre_and_sets_familiarity():
    memory = EpisodicMemory(MemoryConfig(recall_k=1))
    memory.store(entry(0.0, 1, ACTION), now=0.0)
    memory.store(entry(0.0, 2, DRAMA), now=0.0)
    # A page with more drama on it recalls the drama first, and the other way round.
    assert memory.recall(np.array([DRAMA, DRAMA, ACTION]), now=0.0).entries[0].item_id == 2
    assert memory.recall(np.array([ACTION, ACTION, DRAMA]), now=0.0).entries[0].item_id == 1
    drama_only = memory.recall(np.array([DRAMA]), now=0.0)
    assert drama_only.entries[0].item_id == 2
    assert drama_only.familiarity[0] > 0.99


def test_importance_breaks_even_recency():
    memory = EpisodicMemory(MemoryConfig(recall_k=1, relevance_weight=0.0))
    memory.store(entry(0.0, 1, importance=0.1), now=0.0)
    memory.store(entry(0.0, 2, importance=0.9), now=0.0)
    assert memory.recall(np.array([ACTION]), now=0.0).entries[0].item_id == 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 30 * DAY), st.floats(0, 1)), min_size=1, max_size=60),
    st.integers(1, 10),
)
def test_bounded_and_forgets_the_least_retained(stored, capacity):
    memory = EpisodicMemory(MemoryConfig(capacity=capacity))
    now = 0.0
    for i, (dt, importance) in enumerate(stored):
        now += dt
        memory.store(entry(now, i, importance=importance), now=now)
        assert len(memory.entries) <= capacity
    assert memory.consumed == set(range(len(stored)))
    kept = [e.item_id for e in memory.entries]
    assert kept == sorted(kept)  # forgetting never reorders what is left
    assert len(kept) == min(capacity, len(stored))


def test_state_round_trip():
    memory = EpisodicMemory(MemoryConfig(capacity=3))
    for i in range(5):
        memory.store(entry(i * DAY, i, importance=i / 5), now=i * DAY)
    clone = EpisodicMemory(MemoryConfig(capacity=3))
    clone.set_state(memory.get_state())
    assert clone.entries == memory.entries and clone.consumed == memory.consumed
    query = np.array([ACTION])
    assert clone.recall(query, 6 * DAY).entries == memory.recall(query, 6 * DAY).entries
