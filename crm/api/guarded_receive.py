"""Run an app whose `receive` may refuse the body, and answer the refusal when no route did.

A middleware that bounds the body raises from `receive`; inside a route the error handlers
answer it, but a body read outside one (or after a route let the error through) must still get
its answer, unless a response has already begun.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

E = TypeVar("E", bound=Exception)


async def run_refusing(
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    guarded: Receive,
    refused: type[E],
    refusal: Callable[[E], ASGIApp],
) -> None:
    """`app` reading through `guarded`; a `refused` it raises is answered with `refusal(exc)`."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        started = started or message["type"] == "http.response.start"
        await send(message)

    try:
        await app(scope, guarded, tracking_send)
    except refused as exc:
        if started:
            raise
        await refusal(exc)(scope, receive, send)
