"""`simfolk`: the command line, one module per command group.

Each module imports the engine only inside its commands, so `simfolk --help`
and light commands answer without loading the numeric stack.
"""

from simulator.cli import (
    ab,
    analyse,
    bench,
    bench_archetypes,
    bench_population,
    bench_search,
    lists,
    llm,
    personas,
    run,
    serve,
)
from simulator.cli.app import app, console, main

__all__ = [
    "ab",
    "analyse",
    "app",
    "bench",
    "bench_archetypes",
    "bench_population",
    "bench_search",
    "console",
    "lists",
    "llm",
    "main",
    "personas",
    "run",
    "serve",
]
