"""Checkpoints: a world's state at a boundary (a day, a checkpoint interval), written atomically.

The state is data (`core.statecodec`): reading a checkpoint builds only plain
values, arrays and the classes marked `@state_type`, so a crafted file can
fail to load but cannot run code. The encoded state carries its sha256, checked
before it is decoded, so a damaged file is named as such instead of resuming
into a world that fails later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

from personas.atomic import replace_atomically, temporary_path
from simulator.core.protocols import StateUnavailable
from simulator.core.statecodec import StateError, decode, encode
from simulator.trace import TraceWriter

# 2: the world keeps its clock in seconds, for every domain; 3: data, not pickle;
# 4: the state's sha256 beside it; 5: simulated interactions carry their count;
# 6: a recommender's user histories as arrays; 7: the columnar engine's state by shard
CHECKPOINT_VERSION = 7
CHECKPOINT_FILE = "checkpoint.msgpack"
_PICKLED = "checkpoint.pkl"  # what versions before 3 wrote; never read


class Checkpointable(Protocol):
    """A world: a trace to flush and a state to save."""

    trace: TraceWriter

    def get_state(self) -> dict[str, Any]:
        """Plain data (see `core.statecodec`) that its `set_state` accepts."""
        ...


def save_checkpoint(world: Checkpointable, run_dir: Path) -> Path | None:
    """Flush the trace, then write the state; a crash in between leaves the old checkpoint.

    A world that cannot give its whole state now (`StateUnavailable`) leaves the old
    checkpoint too (None): a resume from it drops the parts written since and redoes them.
    """
    world.trace.flush()
    try:
        world_bytes = encode(world.get_state())
    except StateUnavailable:
        counters = getattr(world, "counters", None)
        if counters is not None:  # the final manifest says how many were left unwritten
            counters["checkpoints_skipped"] += 1
        return None
    digest = hashlib.sha256(world_bytes).hexdigest()
    state = {"version": CHECKPOINT_VERSION, "sha256": digest, "world": world_bytes}
    path = Path(run_dir) / CHECKPOINT_FILE
    tmp = temporary_path(path)
    tmp.write_bytes(encode(state))
    replace_atomically(tmp, path)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The saved world state, or None if the run never reached a checkpoint."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        if (Path(run_dir) / _PICKLED).exists():
            raise ValueError(
                f"{Path(run_dir) / _PICKLED}: a checkpoint from an older simfolk (a pickle, "
                "which is not read because loading it could run code); start afresh in a new --out"
            )
        return None
    try:
        state = decode(path.read_bytes())
    except (OSError, StateError) as exc:
        raise ValueError(
            f"{path}: unreadable checkpoint ({exc}); "
            "delete it to restart the run from day 0, or start afresh in a new --out"
        ) from exc
    if not isinstance(state, dict) or "version" not in state:
        raise ValueError(
            f"{path}: not a simfolk checkpoint (no version); delete it to restart the run "
            "from day 0, or start afresh in a new --out"
        )
    if state["version"] != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {state['version']!r}, this simfolk reads "
            f"{CHECKPOINT_VERSION}; start the run afresh in a new --out"
        )
    world_bytes = state.get("world")
    if not isinstance(world_bytes, bytes) or state.get("sha256") != (
        hashlib.sha256(world_bytes).hexdigest()
    ):
        raise ValueError(
            f"{path}: damaged checkpoint (its state does not match the sha256 saved with it); "
            "delete it to restart the run from day 0, or start afresh in a new --out"
        )
    try:
        world = decode(world_bytes)
    except StateError as exc:
        raise ValueError(f"{path}: unreadable checkpoint state ({exc})") from exc
    if not isinstance(world, dict):
        raise ValueError(f"{path}: field 'world': not a saved world; start afresh in a new --out")
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
