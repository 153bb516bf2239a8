"""RUN_DIR/manifest.json: what a run was, so it can be read, compared and repeated.

It records the config, seed, package versions, the source revision, the
dataset and its checksum. It is built from named fields only, never from the
environment, and every string in it is redacted as it is written
(`core.redact`), so a credential typed into a URL does not reach it either.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from personas.atomic import write_text_atomically
from simulator.core.redact import redact_tree

_PACKAGES = (
    "simfolk",
    "simpy",
    "mesa",
    "polars",
    "pyarrow",
    "numpy",
    "scipy",
    "implicit",
    "pydantic",
)
MANIFEST_VERSION = 1


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a run's results depend on."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision() -> str | None:
    """The source checkout's commit (with '+dirty' if modified), or None outside git."""
    source = Path(__file__).resolve().parents[2]  # simulator/core/manifest.py -> the checkout
    if not (source / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def write_manifest(run_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write atomically, so a crash never leaves half a manifest; credentials masked."""
    return write_text_atomically(
        Path(run_dir) / "manifest.json", json.dumps(redact_tree(manifest), indent=2, sort_keys=True)
    )


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, or a clear error if this is not a run directory."""
    path = Path(run_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; is {run_dir} a simfolk run directory?")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a JSON {type(data).__name__}, not a manifest (an object)")
    if data.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(
            f"{path}: manifest_version {data.get('manifest_version')!r} is not {MANIFEST_VERSION}"
        )
    return data


def environment() -> dict[str, str]:
    """The interpreter and platform, for the record."""
    return {"python": platform.python_version(), "platform": platform.platform(terse=True)}


def file_sha256(path: Path) -> str:
    """Checksum of a file written into the run."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


__all__ = [
    "MANIFEST_VERSION",
    "environment",
    "file_sha256",
    "git_revision",
    "package_versions",
    "read_manifest",
    "write_manifest",
]
