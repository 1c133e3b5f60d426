"""Answer 408 and close the connection when a request body stops arriving.

Without a bound, a client that sends its headers and part of a body keeps a connection (and a
worker waiting on it) for as long as it likes; a few hundred of them starve the API.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.errors import error_response

# Longest wait for the next part of a request body. Read when a request arrives, so tests (and
# a deployment behind slow links) can change it; each passed pause starts a new wait.
BODY_IDLE_SECONDS = 30.0

CLOSE = {"Connection": "close"}


class StalledBody(HTTPException):
    """Raised from `receive` into the route reading the body; the error handlers answer it."""

    def __init__(self, seconds: float, received: int):
        super().__init__(408, _message(seconds, received), headers=CLOSE)


def _message(seconds: float, received: int) -> str:
    return (f"the request body stopped arriving: nothing for {seconds:g} seconds after {received} "
            "bytes; send the whole body without pausing (this connection is closed)")


class BodyTimeout:
    def __init__(self, app: ASGIApp, idle_seconds: float | None = None):
        self.app = app
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seconds = self.idle_seconds if self.idle_seconds is not None else BODY_IDLE_SECONDS
        complete, received, started = False, 0, False

        async def timed_receive() -> Message:
            nonlocal complete, received
            if complete:  # after the body, receive only waits for a disconnect: no bound on that
                return await receive()
            try:
                async with asyncio.timeout(seconds):
                    message = await receive()
            except TimeoutError:
                raise StalledBody(seconds, received) from None
            received += len(message.get("body", b""))
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except StalledBody as stalled:  # read outside a route, where no handler answers it
            if started:
                raise
            await error_response(408, "request_timeout", stalled.detail, headers=CLOSE)(scope, receive, send)
