"""Refuse a request that states its body's length twice: Content-Length and Transfer-Encoding.

Our HTTP parser reads such a request as chunked; a proxy in front that trusts Content-Length
instead would cut the byte stream elsewhere, and what it takes for body could reach us as a
second, smuggled request. RFC 9112 (section 6.1) lets a server refuse the request, and then it
must close the connection: whatever follows on it is never read as a request.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from crm.api.errors import error_response

MESSAGE = (
    "the request has both Content-Length and Transfer-Encoding headers, so its length is "
    "ambiguous; send only one of them (Content-Length for a body of known size)"
)


class OneBodyLength:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _both_lengths(scope["headers"]):
            refusal = error_response(400, "ambiguous_length", MESSAGE, headers={"Connection": "close"})
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _both_lengths(headers: list[tuple[bytes, bytes]]) -> bool:
    names = {name.lower() for name, _ in headers}
    return b"content-length" in names and b"transfer-encoding" in names
