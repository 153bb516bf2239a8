"""Options shared by the commands that simulate (run, ab and the benches)."""

from __future__ import annotations

from typing import Annotated

import typer

# Open the doors besides the page; None keeps the scenario's choice.
ExposureFlag = Annotated[
    bool | None,
    typer.Option(
        "--exposure/--no-exposure",
        help="open the doors besides the page (intent, friends, trending), fitted on train",
    ),
]
PageShareOption = Annotated[
    float | None, typer.Option(help="with --exposure: share of sessions on the page")
]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
