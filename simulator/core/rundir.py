"""One run-directory lifecycle for every domain: claim, restore, record, drive, finish.

A run directory holds `manifest.json`, `personas.json`, `events/part-*.parquet`,
`timeseries.parquet`, the domain's own files and, while the run can still be
continued, the checkpoint. Whatever the domain, a run goes through the same
steps, so the checks on a resume are written once:

1. `claim`: lock the folder for the run's life (one run per folder), refuse
   to overwrite a run, to start in a folder of other files, to resume nothing,
   or to resume with another config; a fresh start writes the manifest at
   once (status "starting"), so a kill at any instant leaves a resumable run;
2. `restore`: the world's state from the checkpoint (or a fresh trace);
3. `record`: the manifest, first written while the world runs; on a resume,
   the original, checked against what this resume would use (the same
   dataset, the same persona file), with a note of the resume;
4. `drive`: run the world, checkpointing on its schedule, and close the
   language model and the broker whatever happens;
5. `finish`: the time series and the manifest's final status and counts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from filelock import FileLock, Timeout
from pydantic import BaseModel, ValidationError

from personas.atomic import replace_atomically, temporary_path
from personas.validation import first_error
from simulator.core.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from simulator.core.manifest import MANIFEST_VERSION, file_sha256, read_manifest, write_manifest
from simulator.core.redact import redact_tree
from simulator.core.world import ClockWorld

PERSONAS_FILE = "personas.json"
LOCK_FILE = ".simfolk.lock"  # held (an OS lock) for as long as a process writes the folder
TIMESERIES_FILE = "timeseries.parquet"
# What a resume must find unchanged: manifest key -> what the error calls it.
PINNED = (("dataset", "dataset"), ("personas", "persona file"))


class RunDirError(ValueError):
    """The output directory cannot take this run; the message says what to do."""


@contextmanager
def hold(out: Path) -> Iterator[None]:
    """Lock `out` for as long as the block runs; a second process is refused, not queued."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{out}: is a file, not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunDirError(
            f"{out}: another simfolk process is writing this folder; "
            "wait for it to finish, or choose another --out"
        ) from None
    try:
        yield
    finally:
        lock.release()


def refuse_strangers(out: Path, *, what: str = "run") -> None:
    """A fresh start needs an empty folder: files of another kind would mix into it."""
    strangers = sorted(p.name for p in out.iterdir() if p.name != LOCK_FILE)
    if strangers:
        shown = ", ".join(strangers[:3]) + (", …" if len(strangers) > 3 else "")
        raise RunDirError(
            f"{out}: holds files that are not a simfolk {what} ({shown}); "
            "choose an empty or new --out"
        )


def run_id(config: BaseModel) -> str:
    """What names a run: a digest of its config, less where its system under test is.

    The field a domain's config names as `SYSTEM_UNDER_TEST` is left out (and those it
    names as `PLACEMENT`: where the work runs), so the same
    people against the same system, in process or over HTTP, write the same event files
    byte for byte; which system it was is the manifest's to say (and the manifest's
    digests of the parts tell two arms' files apart).
    """
    left_out = getattr(type(config), "SYSTEM_UNDER_TEST", None)
    # Where the run's work is done (e.g. in how many shards) changes no event either.
    placement = set(getattr(type(config), "PLACEMENT", ()))
    excluded = placement | ({left_out} if left_out else set())
    canonical = config.model_dump_json(round_trip=True, exclude=excluded or None)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@contextmanager
def claim(out: Path, config: BaseModel, resume: bool) -> Iterator[bool]:
    """Hold `out` for the run; yield whether it continues an earlier start.

    A resume of a run killed while "starting" (before its world ran) starts it
    over, in the same folder, from the manifest's config.
    """
    with hold(out):
        has_run = (out / "manifest.json").exists()
        if resume and not has_run:
            raise RunDirError(
                f"{out}: nothing to resume (no manifest.json); drop --resume to start"
            )
        if not resume and has_run:
            raise RunDirError(
                f"{out}: already holds a run; pass --resume to continue it, or choose another --out"
            )
        if resume:
            saved = read_manifest(out)
            wanted = redact_tree(config.model_dump(mode="json"))  # as the manifest keeps it
            old = saved.get("config")
            old = old if isinstance(old, dict) else {}
            diff = sorted(k for k in wanted.keys() | old.keys() if wanted.get(k) != old.get(k))
            if diff:
                raise RunDirError(
                    f"{out}: cannot resume with a different config (differs in: {', '.join(diff)})"
                )
            continues = saved.get("status") != "starting"
        else:
            refuse_strangers(out)
            continues = False
        if not continues:
            write_manifest(out, _starting(config))
        yield continues


def _starting(config: BaseModel) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run_id(config),
        "config": config.model_dump(mode="json"),
        "status": "starting",
    }


def restore(world: ClockWorld[Any], out: Path, resume: bool) -> dict[str, Any] | None:
    """Continue `world` from the run's checkpoint; None if there is none (a fresh start)."""
    state = load_checkpoint(out) if resume else None
    if state is not None:
        try:
            world.set_state(state)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ValueError) and str(out) in str(exc):
                raise  # already names the file at fault
            # The file decoded as data, but not as this world's state: damaged or foreign.
            what = f"{type(exc).__name__}: {exc}"
            raise ValueError(
                f"{out / CHECKPOINT_FILE}: not a checkpoint of this run ({what[:200]}); "
                "start afresh in a new --out"
            ) from None
    else:  # from the start: drop any part an earlier, killed start wrote
        world.trace.set_state({"next_seq": 0, "next_part": 0})
    return state


def record(out: Path, fresh: dict[str, Any], resume: bool, at: dict[str, Any]) -> dict[str, Any]:
    """Write the running manifest: `fresh`, or on a resume the original, checked, plus a note.

    A trace must not silently mix two datasets or two persona files; another code
    revision is allowed but recorded. `at` says where the resume starts (its day,
    its simulated second).
    """
    manifest = {**fresh, "run_id": read_manifest(out).get("run_id")}
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
    parts = [world.trace.dir / f"part-{i:05d}.parquet" for i in range(world.trace.next_part)]
    manifest.update(
        status=world.halted or ("complete" if complete else "paused"),
        **counts,
        events=world.trace.next_seq,
        event_parts=world.trace.next_part,
        event_sha256={p.name: file_sha256(p) for p in parts},  # what readers check
    )
    if skipped := world.counters.get("checkpoints_skipped"):  # a service gave no state then
        manifest["checkpoints_skipped"] = skipped
    write_manifest(out, manifest)
    return manifest


def write_parquet_atomically(frame: pl.DataFrame, path: Path) -> None:
    """Write `frame` beside `path`, then move it into place: a reader sees all or nothing."""
    frame.write_parquet(temporary_path(path))
    replace_atomically(temporary_path(path), path)


M = TypeVar("M", bound=BaseModel)


def read_run_file(path: Path, model: type[M], what: str, hint: str = "") -> M:
    """A JSON file a run saved (its calibration, stop model, ...), or an error naming it.

    Args:
        path: The file.
        model: The pydantic model it holds.
        what: What the file is, in words, for the message.
        hint: Appended to the message: what to do about it.

    Raises:
        ValueError: The file is missing, not UTF-8 JSON, or does not fit `model`.
    """
    tail = f"; {hint}" if hint else ""
    if not path.is_file():
        raise ValueError(f"{path}: no {what}{tail}")
    try:
        return model.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        place, message = first_error(exc)
        where = place or "the top level"
        raise ValueError(f"{path}: not a {what} ({where}: {message}){tail}") from None
