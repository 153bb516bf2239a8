"""The broker: batches by simulated time, wakes agents in a fixed order, never moves the clock."""

from __future__ import annotations

import asyncio

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.core.broker import Broker


def _world(arrivals: list[tuple[float, str]], delays: dict[str, float], window: float):
    """Agents that each ask once at their arrival time; answers take `delays` wall seconds."""
    env = simpy.Environment()
    broker = Broker(window)
    woke: list[tuple[float, str, float, str]] = []
    answers: dict[str, str] = {}

    def agent(t: float, name: str):
        yield env.timeout(t)

        async def job() -> str:
            await asyncio.sleep(delays.get(name, 0.0))
            return f"answer-{name}"

        yield broker.submit(env, (t, name), job, lambda result: answers.__setitem__(name, result))
        woke.append((env.now, name, t, answers[name]))

    for t, name in arrivals:
        env.process(agent(t, name))
    return env, broker, woke


def test_agents_wake_in_request_order_whatever_order_answers_arrive():
    arrivals = [(10.0, "c"), (10.0, "a"), (10.0, "b")]
    # "a" answers last in wall time, "c" first.
    env, broker, woke = _world(arrivals, {"a": 0.05, "b": 0.02, "c": 0.0}, window=0.0)
    env.run()
    assert [name for _, name, _, _ in woke] == ["a", "b", "c"]
    assert all(answer == f"answer-{name}" for _, name, _, answer in woke)
    # Same instant, window 0: one batch, and the clock did not move while waiting.
    assert broker.batches == [3]
    assert [now for now, *_ in woke] == [10.0, 10.0, 10.0]


def test_window_gathers_requests_due_within_it():
    arrivals = [(0.0, "a"), (20.0, "b"), (59.0, "c"), (61.0, "d")]
    env, broker, woke = _world(arrivals, {}, window=60.0)
    env.run()
    assert broker.batches == [3, 1]
    assert [(now, name) for now, name, _, _ in woke] == [
        (60.0, "a"),
        (60.0, "b"),
        (60.0, "c"),
        (121.0, "d"),
    ]


def test_flush_by_hand_answers_early_and_the_old_timer_does_nothing():
    env, broker, woke = _world([(0.0, "a"), (30.0, "b")], {}, window=100.0)
    env.run(until=10.0)
    broker.flush()  # e.g. at midnight, before a checkpoint
    env.run(until=50.0)
    # "b" arrived after the manual flush; the first timer (due at 100) must not take it early.
    assert [name for _, name, _, _ in woke] == ["a"]
    env.run()
    assert broker.batches == [1, 1]
    assert [(now, name) for now, name, _, _ in woke] == [(10.0, "a"), (130.0, "b")]


def test_a_raising_job_stops_the_flush():
    env = simpy.Environment()
    broker = Broker(0.0)

    async def job() -> None:
        raise RuntimeError("budget gone")

    def agent():
        yield broker.submit(env, (0.0, "a"), job, lambda _r: None)

    env.process(agent())
    with pytest.raises(RuntimeError, match="budget gone"):
        env.run()


def test_negative_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        Broker(-1.0)


@settings(max_examples=30, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.integers(0, 5).map(float), st.sampled_from("abcdefgh")),
        min_size=1,
        max_size=8,
        unique_by=lambda x: x[1],
    ),
    delays=st.dictionaries(st.sampled_from("abcdefgh"), st.sampled_from([0.0, 0.001, 0.003])),
    window=st.sampled_from([0.0, 1.0, 3.0]),
)
def test_wake_order_depends_only_on_simulated_requests(arrivals, delays, window):
    runs = []
    for answer_delays in (delays, {}):
        env, broker, woke = _world(arrivals, answer_delays, window)
        env.run()
        runs.append(([name for _, name, _, _ in woke], list(broker.batches)))
        broker.close()
    assert runs[0] == runs[1]
    order = runs[0][0]
    requested = {name: t for t, name in arrivals}
    # Within a batch agents wake sorted by (request time, name); batches go in time order.
    assert sorted(order, key=lambda n: (requested[n], n)) == order
