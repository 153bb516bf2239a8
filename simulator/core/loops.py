"""Entry points that work where an event loop is already running (a notebook) and where not.

A run drives its own asyncio loop (the broker's, `loop.run_until_complete`),
which asyncio refuses inside a thread whose loop is running, as in Jupyter.
There the run goes to a thread of its own; the caller gets the same result.
The async twins (`asimulate`, `asimulate_chat`) hand the run to a thread and
await it, so a notebook's loop stays free while it runs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def outside_running_loop(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, run in a thread of its own when called where an event loop is running."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with ThreadPoolExecutor(1, thread_name_prefix="simfolk-run") as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return run


async def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Await `fn(*args, **kwargs)` run in a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)
