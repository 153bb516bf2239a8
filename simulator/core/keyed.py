"""Counter-based draws: a uniform that is a pure function of (seed, persona, counters).

The per-agent engine keeps one generator per (persona, purpose) and draws from
it in order. An engine that decides thousands of personas in one array call
cannot: which draw a persona gets would depend on who else was due. Here every
draw is addressed instead -- a persona's key, its session, page, slot and a
purpose -- and hashed (SplitMix64's finaliser, applied per counter) into 53
random bits. The same address gives the same number in any batch, on any shard,
in any order, which is what keeps common random numbers across A/B arms and
the same events whatever the batching.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / float(1 << 53)


def text_key(text: str) -> int:
    """A stable 64-bit key for a name (a persona id, a purpose); hash() is salted per process."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    # SplitMix64's finaliser: a bijection on 64-bit words whose output bits all depend on
    # every input bit. uint64 arithmetic wraps, which is the point.
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    result: np.ndarray = x ^ (x >> np.uint64(31))
    return result


def uniforms(keys: np.ndarray, *counters: np.ndarray | int) -> np.ndarray:
    """Uniforms in [0, 1), one per element of the broadcast of `keys` and `counters`.

    Args:
        keys: 64-bit keys (e.g. `text_key(seed|persona id)`), any shape.
        counters: non-negative integers (session, page, slot, a purpose's key), broadcast
            against `keys`.
    """
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(keys, dtype=np.uint64))
        for counter in counters:
            h = _mix(h ^ np.asarray(counter, dtype=np.int64).astype(np.uint64))
    result: np.ndarray = (h >> np.uint64(11)).astype(np.float64) * _TO_UNIT
    return result


def exponentials(keys: np.ndarray, *counters: np.ndarray | int) -> np.ndarray:
    """Standard exponential draws (mean 1), addressed like `uniforms`."""
    result: np.ndarray = -np.log1p(-uniforms(keys, *counters))
    return result


def normals(keys: np.ndarray, *counters: np.ndarray | int) -> np.ndarray:
    """Standard normal draws (Box-Muller on two addressed uniforms)."""
    u1 = uniforms(keys, *counters, 1)
    u2 = uniforms(keys, *counters, 2)
    result: np.ndarray = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)
    return result
