"""One run-directory lifecycle for every domain: claim, restore, record, drive, finish.

A run directory holds `manifest.json`, `personas.json`, `events/part-*.parquet`,
`timeseries.parquet`, the domain's own files and, while the run can still be
continued, the checkpoint. Whatever the domain, a run goes through the same
steps, so the checks on a resume are written once:

1. `claim`: refuse to overwrite a run, to resume nothing, or to resume with
   another config;
2. `restore`: the world's state from the checkpoint (or a fresh trace);
3. `record`: the manifest, first written while the world runs; on a resume,
   the original, checked against what this resume would use (the same
   dataset, the same persona file), with a note of the resume;
4. `drive`: run the world, checkpointing on its schedule, and close the
   language model and the broker whatever happens;
5. `finish`: the time series and the manifest's final status and counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel

from personas.atomic import replace_atomically, temporary_path
from simulator.core.checkpoint import load_checkpoint, save_checkpoint
from simulator.core.manifest import read_manifest, write_manifest
from simulator.core.world import ClockWorld

PERSONAS_FILE = "personas.json"
TIMESERIES_FILE = "timeseries.parquet"
# What a resume must find unchanged: manifest key -> what the error calls it.
PINNED = (("dataset", "dataset"), ("personas", "persona file"))


class RunDirError(ValueError):
    """The output directory cannot take this run; the message says what to do."""


def claim(out: Path, config: BaseModel, resume: bool) -> None:
    """Refuse to overwrite a run, to resume nothing, or to resume with another config."""
    has_run = (out / "manifest.json").exists()
    if resume and not has_run:
        raise RunDirError(f"{out}: nothing to resume (no manifest.json); drop --resume to start")
    if not resume and has_run:
        raise RunDirError(
            f"{out}: already holds a run; pass --resume to continue it, or choose another --out"
        )
    if resume:
        saved = read_manifest(out)["config"]
        wanted = config.model_dump(mode="json")
        diff = sorted(k for k in wanted.keys() | saved.keys() if wanted.get(k) != saved.get(k))
        if diff:
            raise RunDirError(
                f"{out}: cannot resume with a different config (differs in: {', '.join(diff)})"
            )
    out.mkdir(parents=True, exist_ok=True)


def restore(world: ClockWorld[Any], out: Path, resume: bool) -> dict[str, Any] | None:
    """Continue `world` from the run's checkpoint; None if there is none (a fresh start)."""
    state = load_checkpoint(out) if resume else None
    if state is not None:
        world.set_state(state)
    elif resume:
        world.trace.set_state({"next_seq": 0, "next_part": 0})  # no checkpoint: start over
    return state


def record(out: Path, fresh: dict[str, Any], resume: bool, at: dict[str, Any]) -> dict[str, Any]:
    """Write the running manifest: `fresh`, or on a resume the original, checked, plus a note.

    A trace must not silently mix two datasets or two persona files; another code
    revision is allowed but recorded. `at` says where the resume starts (its day,
    its simulated second).
    """
    manifest = fresh
    if resume:
        original = read_manifest(out)
        for key, what in PINNED:
            then = (original.get(key) or {}).get("sha256")
            now = (fresh.get(key) or {}).get("sha256")
            if then != now:
                raise RunDirError(
                    f"{out}: the {what} changed since the run started (sha256 "
                    f"{str(then)[:12]}… then, {str(now)[:12]}… now); "
                    "resume with the same one, or start afresh in a new --out"
                )
        note = {**at, "git_revision": fresh["git_revision"], "versions": fresh["versions"]}
        manifest = {**original, "status": "running"}
        manifest["resumes"] = [*original.get("resumes", []), note]
    write_manifest(out, manifest)
    return manifest


def drive(
    world: ClockWorld[Any],
    out: Path,
    run: Callable[[Callable[[Any], object]], None],
    *,
    closers: Sequence[Callable[[], Awaitable[Any]]] = (),
    ledger: Any = None,
) -> None:
    """`run(checkpoint)` the world; then close what it opened, on the broker's loop.

    The ledger is flushed whenever a checkpoint is written (the world's state
    flushes it), and once more at the end, so every paid call is on disk.
    """
    try:
        run(lambda w: save_checkpoint(w, out))
    finally:
        for close in closers:
            world.broker.loop.run_until_complete(close())
        world.broker.close()
        if ledger is not None:
            ledger.flush()


def finish(
    world: ClockWorld[Any],
    out: Path,
    manifest: dict[str, Any],
    *,
    complete: bool,
    usage: dict[str, Any] | None = None,
    **counts: Any,
) -> dict[str, Any]:
    """Write the time series and the manifest's final status, event count and parts."""
    write_parquet_atomically(world.timeseries(), out / TIMESERIES_FILE)
    if usage is not None:
        manifest["llm"]["usage"] = usage
    manifest.update(
        status=world.halted or ("complete" if complete else "paused"),
        **counts,
        events=world.trace.next_seq,
        event_parts=world.trace.next_part,
    )
    write_manifest(out, manifest)
    return manifest


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    """Write `frame` beside `path`, then move it into place: a reader sees all or nothing."""
    frame.write_parquet(temporary_path(path))
    replace_atomically(temporary_path(path), path)
