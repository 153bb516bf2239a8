"""The server side every domain's reference service shares: bodies, answers, refusals, uvicorn.

A domain's service (`simfolk serve recommender`, `simfolk serve search`) is a
starlette app whose endpoints read a request with `parse` (a size cap, then
its pydantic model, or a 413/422 that says what is wrong), answer with
`json_response`, and refuse with `Refused(status, body)`. `serve` runs it on
uvicorn on a socket bound first, so port 0 picks a free port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from personas.validation import first_error

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 256 * 1024 * 1024  # a fit of ml-latest-small's 100k ratings is about 8 MB


class Refused(Exception):
    """An answer other than 200: its status and body."""

    def __init__(self, status: int, body: BaseModel) -> None:
        self.status, self.body = status, body


async def parse(request: Request, model: type[M], error: Callable[[str], BaseModel]) -> M:
    """The request's body as `model`; `Refused` (413, 422) with `error(text)` if it is not."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise Refused(413, error(f"body of {len(body)} bytes; at most {MAX_BODY}"))
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        place, message = first_error(exc)
        where = place or model.__name__
        raise Refused(422, error(f"not a {model.__name__}: {where}: {message}")) from None


def json_response(body: BaseModel, status: int = 200) -> Response:
    """`body` as a JSON answer."""
    return Response(body.model_dump_json(), status_code=status, media_type="application/json")


def run_route(
    path: str,
    method: str,
    work: Callable[..., BaseModel],
    body: type[BaseModel] | None,
    error: Callable[[str], BaseModel],
) -> Route:
    """A route of one run: `work(run[, parsed body])` in a worker thread, its answer as JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            args: list[Any] = [request.path_params["run"]]
            if body is not None:
                args.append(await parse(request, body, error))
            return json_response(await run_in_threadpool(work, *args))
        except Refused as refused:
            return json_response(refused.body, refused.status)

    return Route(path, endpoint, methods=[method])


def serve(
    app: Starlette, host: str, port: int, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve `app` with uvicorn until interrupted; `on_ready` hears the URL once it listens.

    The socket is bound here, so port 0 picks a free port and the URL says which.
    """
    import socket

    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without, a response's body waits on the client's
    # delayed ACK of its headers (40 ms a request on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)  # listening before the URL is told: a client may connect at once
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    if on_ready is not None:
        on_ready(f"http://{shown}:{bound}")
    server.run(sockets=[sock])
