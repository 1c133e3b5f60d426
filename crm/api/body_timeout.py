"""Answer 408 and close the connection when a request body stops arriving, or drips in.

Without a bound, a client that sends its headers and part of a body keeps a connection (and a
worker waiting on it) for as long as it likes; a few hundred of them starve the API. So each
part of a body must follow the last within BODY_IDLE_SECONDS, and the whole body must be in
within BODY_SECONDS (a byte every few seconds would otherwise pass the first bound forever).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.errors import error_response
from crm.api.guarded_receive import run_refusing

# Read when a request arrives, so tests (and a deployment behind slow links) can change them.
BODY_IDLE_SECONDS = 30.0  # longest pause before the next part of a body
BODY_SECONDS = 300.0  # longest time for a whole body: the 10 MB limit at about 35 KB/s

CLOSE = {"Connection": "close"}


class StalledBody(HTTPException):
    """Raised from `receive` into the route reading the body; the error handlers answer it."""

    def __init__(self, message: str):
        super().__init__(408, message, headers=CLOSE)


def _stalled(seconds: float, received: int) -> str:
    return (
        f"the request body stopped arriving: nothing for {seconds:g} seconds after {received} "
        "bytes; send the whole body without pausing (this connection is closed)"
    )


def _too_slow(seconds: float, received: int) -> str:
    return (
        f"the request body took longer than {seconds:g} seconds ({received} bytes by then); "
        "send it faster or in smaller batches (this connection is closed)"
    )


class BodyTimeout:
    def __init__(self, app: ASGIApp, idle_seconds: float | None = None, body_seconds: float | None = None):
        self.app = app
        self.idle_seconds, self.body_seconds = idle_seconds, body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        idle = self.idle_seconds if self.idle_seconds is not None else BODY_IDLE_SECONDS
        whole = self.body_seconds if self.body_seconds is not None else BODY_SECONDS
        loop = asyncio.get_running_loop()
        deadline = loop.time() + whole
        complete, received = False, 0

        async def timed_receive() -> Message:
            nonlocal complete, received
            if complete:  # after the body, receive only waits for a disconnect: no bound on that
                return await receive()
            left = deadline - loop.time()
            if left <= 0:
                raise StalledBody(_too_slow(whole, received))
            try:
                async with asyncio.timeout(min(idle, left)):
                    message = await receive()
            except TimeoutError:
                reason = _stalled(idle, received) if idle < left else _too_slow(whole, received)
                raise StalledBody(reason) from None
            received += len(message.get("body", b""))
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await run_refusing(
            self.app,
            scope,
            receive,
            send,
            timed_receive,
            StalledBody,
            lambda stalled: error_response(408, "request_timeout", stalled.detail, headers=CLOSE),
        )
