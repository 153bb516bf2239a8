"""Checkpoints: the world's state at a day boundary, written atomically."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

from simulator.world import World

CHECKPOINT_VERSION = 1
_NAME = "checkpoint.pkl"


def save_checkpoint(world: World, run_dir: Path) -> Path:
    """Flush the trace, then write the state; a crash in between leaves the old checkpoint."""
    world.trace.flush()
    state = {"version": CHECKPOINT_VERSION, "world": world.get_state()}
    path = Path(run_dir) / _NAME
    tmp = path.with_name(_NAME + ".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The saved world state, or None if the run never reached a checkpoint."""
    path = Path(run_dir) / _NAME
    if not path.exists():
        return None
    with path.open("rb") as handle:
        state: dict[str, Any] = pickle.load(handle)  # our own file, in our run dir
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {state.get('version')!r}, this simfolk reads "
            f"{CHECKPOINT_VERSION}; start the run afresh in a new --out"
        )
    world: dict[str, Any] = state["world"]
    return world
