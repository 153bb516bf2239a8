"""`simfolk serve recommender` and `simfolk serve search`: a system under test over HTTP."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

from simulator.cli.app import app as root
from simulator.cli.app import console

app = typer.Typer(
    help="Serve a system under test over HTTP, for `--target http://HOST:PORT`.",
    no_args_is_help=True,
    add_completion=False,
)
root.add_typer(app, name="serve")


@app.callback()
def serve_group() -> None:
    """Serve a system under test over HTTP, for `--target http://HOST:PORT`."""
    # A callback keeps `serve` a command group while it has one command.


@app.command()
def recommender(
    target: Annotated[
        str, typer.Option(help="a registered target (simfolk list targets) or MODULE:ATTR")
    ],
    dataset: Annotated[
        str, typer.Option(help="the dataset whose catalogue it recommends from")
    ] = "ml-latest-small",
    seed: Annotated[int, typer.Option(min=0, help="root seed (the run's, for the same fit)")] = 0,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free one)")] = 8100,
    max_runs: Annotated[int, typer.Option(min=1, help="runs kept at once (oldest go)")] = 16,
) -> None:
    """Serve a recommender on the simfolk-recommender/1 protocol until Ctrl-C.

    A run against it (`simfolk run ... --target http://HOST:PORT`) with the same
    dataset and seed writes the same events as `--target TARGET` in process.
    """
    from simulator.core.rng import Streams
    from simulator.domains.recsys.config import RunConfig
    from simulator.domains.recsys.run import prepare
    from simulator.domains.recsys.targets import make_target
    from simulator.domains.recsys.targets.http.protocol import PROTOCOL
    from simulator.domains.recsys.targets.http.server import serve, service_app
    from simulator.domains.recsys.targets.spec import is_service

    if is_service(target):
        raise ValueError(f"--target {target!r}: serve a name or MODULE:ATTR, not another service")
    prep = prepare(RunConfig(dataset=dataset, seed=seed, target=target))
    version = f"simfolk {metadata.version('simfolk')}"
    app_ = service_app(lambda: make_target(target, prep.catalog, Streams(seed)), version, max_runs)

    def ready(url: str) -> None:
        console.print(f"serving {target} on {url} ({PROTOCOL}); Ctrl-C stops", soft_wrap=True)

    serve(app_, host, port, on_ready=ready)


@app.command()
def search(
    engine: Annotated[
        str, typer.Option(help="a registered engine (bm25, bm25-minilm) or MODULE:ATTR")
    ] = "bm25",
    dataset: Annotated[
        str, typer.Option(help="the TREC sessions whose documents it ranks")
    ] = "trec-session-2013",
    seed: Annotated[int, typer.Option(min=0, help="root seed (the run's)")] = 0,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free one)")] = 8200,
    max_runs: Annotated[int, typer.Option(min=1, help="runs kept at once (oldest go)")] = 16,
) -> None:
    """Serve a search engine on the simfolk-search/1 protocol until Ctrl-C.

    A run against it (`simfolk run scenarios/search_sessions.py --target
    http://HOST:PORT`) with the same dataset writes the same events as `--target ENGINE`.
    """
    from personas.datasets.trec import load_trec_sessions
    from simulator.core.rng import Streams
    from simulator.core.service_server import serve
    from simulator.domains.search.collection import Collection
    from simulator.domains.search.engines.http.protocol import PROTOCOL
    from simulator.domains.search.engines.http.server import search_app
    from simulator.domains.search.engines.spec import make_engine

    if engine.startswith(("http://", "https://")):
        raise ValueError(f"--engine {engine!r}: serve a name or MODULE:ATTR, not another service")
    collection = Collection.from_sessions(load_trec_sessions(dataset))
    version = f"simfolk {metadata.version('simfolk')}"
    app_ = search_app(lambda: make_engine(engine, collection, Streams(seed)), version, max_runs)

    def ready(url: str) -> None:
        console.print(f"serving {engine} on {url} ({PROTOCOL}); Ctrl-C stops", soft_wrap=True)

    serve(app_, host, port, on_ready=ready)
