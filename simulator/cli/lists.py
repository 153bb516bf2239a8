"""`simfolk list`: the names each registry knows, for --target, --brain and --target in chat."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from simulator.cli.app import app, console

Registry = Literal["targets", "brains", "chatbots"]


@app.command("list")
def list_command(
    what: Annotated[Registry, typer.Argument(help="targets, brains or chatbots")],
) -> None:
    """The registered names of one kind, one per line."""
    if what == "targets":
        from simulator.domains.recsys.targets import target_names as names
    elif what == "brains":
        from simulator.domains.recsys.brains import brain_names as names
    else:
        from simulator.domains.chat.chatbots import chatbot_names as names
    for name in names():
        console.print(name, highlight=False)
