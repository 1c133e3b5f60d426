"""Refuse request bodies over the limit without reading them whole.

A declared Content-Length over the limit is refused before any byte of the body is read; a
chunked body is counted as it streams in and refused as soon as it passes the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.api.errors import ApiError, error_response
from crm.api.guarded_receive import run_refusing


class BodyTooLarge(ApiError):
    """Raised from `receive` once a streamed body passes the limit; the route stops reading."""

    def __init__(self, max_bytes: int):
        super().__init__(413, "body_too_large", _message(max_bytes))


def _message(max_bytes: int) -> str:
    return f"the request body is larger than {max_bytes} bytes; send smaller batches"


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self):
        return error_response(413, "body_too_large", _message(self.max_bytes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refusal()(scope, receive, send)
            return

        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await run_refusing(self.app, scope, receive, send, counting_receive, BodyTooLarge, lambda _: self._refusal())
