"""The `simfolk` app, its console, and the entry point every command runs under."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

app = typer.Typer(
    help="simfolk: persona agents using your system, traced and held against real people.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
# Progress goes to stderr, so `--json` output on stdout stays one clean object.
progress_console = Console(stderr=True)


def working(what: str) -> Any:
    """A spinner on stderr while `what` runs (benches run for minutes)."""
    return progress_console.status(f"{what}: running (the figures follow when it ends)")


def main() -> None:
    """Entry point: bad input ends with its message and exit status 2, not a traceback."""
    try:
        app()
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
