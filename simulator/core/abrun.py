"""An A/B run's folder, whatever the domain: its record `ab.json` and its arms' state.

`ab.json` is written first (status running) and last (complete, with each
arm's wall time); a resume must ask for the same arms, control, CRN and
config. Each arm is an ordinary run directory under `arms/<name>/`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personas.atomic import write_text_atomically
from simulator.core.manifest import read_manifest
from simulator.core.redact import redact_tree
from simulator.core.rundir import RunDirError, hold, refuse_strangers

AB_FILE = "ab.json"


@dataclass(frozen=True)
class ABRun:
    """What an A/B run produced: its directory and one run directory per arm."""

    run_dir: Path
    control: str
    arms: dict[str, Path]
    complete: bool
    wall_seconds: dict[str, float]  # per arm, the simulation's own wall time
    events: int  # over all arms


def arm_resumes(out: Path) -> bool | None:
    """True: resume it; False: start it; None: it is complete already."""
    if not (out / "manifest.json").exists():
        return False
    status = read_manifest(out).get("status")
    return None if status == "complete" else True


@contextmanager
def ab_folder(out: Path, record: dict[str, Any], resume: bool) -> Iterator[None]:
    """Hold `out` for the A/B run, claim it or check a resume against its record."""
    with hold(out):
        if (out / AB_FILE).exists() and not resume:
            raise RunDirError(
                f"{out}: already holds an A/B run; pass --resume, or choose another --out"
            )
        if resume:
            if not (out / AB_FILE).exists():
                raise RunDirError(
                    f"{out}: nothing to resume (no {AB_FILE}); drop --resume to start"
                )
            saved = read_manifest_file(out / AB_FILE)
            wanted = redact_tree(record)  # as `_write` keeps it
            if {k: saved.get(k) for k in wanted} != wanted:
                raise RunDirError(f"{out}: cannot resume with other arms, control, CRN or config")
        else:
            refuse_strangers(out, what="A/B run")
        _write(out, {**record, "status": "running"})
        yield


def finish_record(
    out: Path, record: dict[str, Any], complete: bool, wall: dict[str, float]
) -> None:
    """Write the A/B record's final status and the arms' wall times."""
    _write(out, {**record, "status": "complete" if complete else "running", "wall_seconds": wall})


def read_manifest_file(path: Path) -> dict[str, Any]:
    """An A/B run's `ab.json`, with an error that names it when it does not parse."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunDirError(f"{path}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != "ab":
        raise RunDirError(f"{path}: not an A/B run record (kind must be 'ab')")
    return data


def _write(out: Path, record: dict[str, Any]) -> None:
    write_text_atomically(out / AB_FILE, json.dumps(redact_tree(record), indent=2, sort_keys=True))
