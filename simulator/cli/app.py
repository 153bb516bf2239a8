"""The `simfolk` app, its console, and the entry point every command runs under."""

from __future__ import annotations

import re
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

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


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def shown(text: object) -> str:
    """Text from outside (a path, a dataset value, a server's error) as the console prints it.

    Credentials are masked; Rich markup is escaped, so `[/x]` is shown, not parsed;
    control bytes (ESC and the like) become visible escapes instead of reaching the
    terminal.
    """
    from simulator.core.redact import redact

    visible = _CONTROL.sub(lambda m: repr(m.group())[1:-1], redact(str(text)))
    return escape(visible)


def main() -> None:
    """Entry point: bad input ends with its message and exit status 2, not a traceback."""
    try:
        app()
    except (ValueError, OSError) as exc:
        console.print(f"[red]error:[/] {shown(exc)}", highlight=False)
        raise SystemExit(2) from None
