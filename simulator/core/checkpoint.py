"""Checkpoints: a world's state at a boundary (a day, a checkpoint interval), written atomically."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Protocol

from personas.atomic import replace_atomically, temporary_path
from simulator.trace import TraceWriter

CHECKPOINT_VERSION = 2  # 2: the world keeps its clock in seconds, for every domain
_NAME = "checkpoint.pkl"


class Checkpointable(Protocol):
    """A world: a trace to flush and a state to save."""

    trace: TraceWriter

    def get_state(self) -> dict[str, Any]:
        """Plain, picklable data that its `set_state` accepts."""
        ...


def save_checkpoint(world: Checkpointable, run_dir: Path) -> Path:
    """Flush the trace, then write the state; a crash in between leaves the old checkpoint."""
    world.trace.flush()
    state = {"version": CHECKPOINT_VERSION, "world": world.get_state()}
    path = Path(run_dir) / _NAME
    tmp = temporary_path(path)
    with tmp.open("wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    replace_atomically(tmp, path)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The saved world state, or None if the run never reached a checkpoint."""
    path = Path(run_dir) / _NAME
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            state = pickle.load(handle)  # our own file, in our run dir
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise ValueError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); "
            "delete it to restart the run from day 0, or start afresh in a new --out"
        ) from exc
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        found = state.get("version") if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"{path}: checkpoint version {found!r}, this simfolk reads "
            f"{CHECKPOINT_VERSION}; start the run afresh in a new --out"
        )
    world: dict[str, Any] = state["world"]
    return world


def accounts_state(ledger: Any, budget: Any) -> dict[str, Any]:
    """The LLM ledger's numbering and the budget spent, for a world's state.

    The ledger is flushed first, so its rows are on disk whenever a checkpoint is.
    """
    state = None
    if ledger is not None:
        ledger.flush()
        state = ledger.get_state()
    spent = None if budget is None else (budget.spent_tokens, budget.spent_usd)
    return {"ledger": state, "spent": spent}


def restore_accounts(ledger: Any, budget: Any, state: dict[str, Any]) -> None:
    """Continue the ledger's numbering and the budget from `accounts_state`'s result."""
    if ledger is not None and state.get("ledger") is not None:
        ledger.set_state(state["ledger"])
    if budget is not None and state.get("spent") is not None:
        budget.spent_tokens, budget.spent_usd = state["spent"]
