"""`simfolk llm serve`: the embedded model as a standing OpenAI-compatible server."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from simulator.cli.app import app as root

app = typer.Typer(
    help="The embedded language model (SmolLM2-135M-Instruct on llama.cpp).",
    no_args_is_help=True,
    add_completion=False,
)
root.add_typer(app, name="llm")


@app.callback()
def llm_group() -> None:
    """The embedded language model (SmolLM2-135M-Instruct on llama.cpp)."""
    # A callback keeps `llm` a command group even while it has one command.


@app.command()
def serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port on 127.0.0.1 (0: any)")
    ] = 8080,
    slots: Annotated[int, typer.Option(min=1, max=64, help="requests decoded in parallel")] = 4,
    context: Annotated[int, typer.Option(min=512, help="KV tokens, shared by the slots")] = 8192,
    threads: Annotated[
        int | None, typer.Option(min=1, help="compute threads (default: half the CPUs, 1-4)")
    ] = None,
) -> None:
    """Serve the embedded model on loopback until Ctrl-C."""
    from simulator.llm.server import EmbeddedServer  # xllamacpp loads only here

    server = EmbeddedServer(slots=slots, context=context, port=port, threads=threads)
    server.start()
    try:
        print(
            f"SmolLM2 serving at {server.api_base}"
            f" ({slots} slots, {context} context tokens, {server.threads} threads)"
        )
        print(f"model identity: {server.identity}")
        print("use it from a run with, e.g.:")
        print(f"  simfolk run ... --model {server.model} --api-base {server.api_base}")
        print("Ctrl-C stops it.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping")
    finally:
        server.stop()
