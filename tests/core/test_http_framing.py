"""HTTP framing at the socket, against the real API under uvicorn: a request that states its
length twice is refused and its connection closed (nothing smuggled behind it is served), and a
body that stops arriving is answered 408 and its connection closed after a bounded wait."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from crm.api import body_timeout

GIVE_UP_SECONDS = 20  # far past the wait under test: a server that never answers fails, not hangs


def connect(api) -> socket.socket:  # noqa: F811
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=GIVE_UP_SECONDS)
    sock.settimeout(GIVE_UP_SECONDS)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:  # closed with our later bytes unread: a close all the same
        pass
    return data


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses in a byte stream: status, headers (lower-case names), body."""
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        found.append((status, headers, rest[:length]))
        data = rest[length:]
    return found


def request_head(path: str, key: str, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {key}",
        "Content-Type: application/json",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


SMUGGLED = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize("transfer_encoding", ["chunked", "Chunked"])
def test_content_length_with_transfer_encoding_is_refused_and_nothing_behind_it_is_served(
    api, api_key, db, transfer_encoding
):  # noqa: F811
    # Read by Content-Length (as a proxy might) the body is 5 bytes; read as chunked it is empty
    # and a second request follows it on the same connection.
    body = b"0\r\n\r\n" + SMUGGLED
    with connect(api) as sock:
        sock.sendall(
            request_head("/api/v1/customers", api_key, "Content-Length: 5", f"Transfer-Encoding: {transfer_encoding}")
            + body
        )
        answered = responses(read_until_closed(sock))
    assert len(answered) == 1, f"the smuggled request was served too: {[s for s, _, _ in answered]}"
    status, headers, raw = answered[0]
    assert status == 400
    assert headers["connection"] == "close"
    error = json.loads(raw)["error"]
    assert error["code"] == "ambiguous_length"
    assert "Content-Length" in error["message"] and "Transfer-Encoding" in error["message"]
    assert db.customers.count_documents({}) == 0


def test_a_request_with_one_length_still_works_on_the_same_server(api, api_key, db):  # noqa: F811
    body = b'{"customer_id": "c1", "name": "Asha"}'
    with connect(api) as sock:
        sock.sendall(
            request_head("/api/v1/customers", api_key, f"Content-Length: {len(body)}", "Connection: close") + body
        )
        ((status, _, raw),) = responses(read_until_closed(sock))
    assert status in (200, 201), raw
    assert db.customers.count_documents({"customer_id": "c1"}) == 1


@pytest.fixture
def short_wait(monkeypatch) -> float:
    monkeypatch.setattr(body_timeout, "BODY_IDLE_SECONDS", 1.0)
    return 1.0


@pytest.mark.parametrize(
    "framing, first_part",
    [
        ("Content-Length: 200", b'[{"customer_id": "c1", '),
        ("Transfer-Encoding: chunked", b'17\r\n[{"customer_id": "c1", \r\n'),
    ],
)
def test_a_stalled_body_is_answered_408_and_its_connection_closed(api, api_key, db, short_wait, framing, first_part):  # noqa: F811
    with connect(api) as sock:
        sock.sendall(request_head("/api/v1/customers", api_key, framing) + first_part)
        began = time.monotonic()
        ((status, headers, raw),) = responses(read_until_closed(sock))  # then nothing more is sent
        waited = time.monotonic() - began
    assert status == 408
    assert headers["connection"] == "close"
    error = json.loads(raw)["error"]
    assert error["code"] == "request_timeout"
    assert "stopped arriving" in error["message"] and "23 bytes" in error["message"]
    assert waited < GIVE_UP_SECONDS
    assert db.customers.count_documents({}) == 0


def test_a_body_dripping_in_slower_than_the_whole_body_bound_is_answered_408(api, api_key, db, short_wait, monkeypatch):  # noqa: F811
    monkeypatch.setattr(body_timeout, "BODY_SECONDS", 2.0)
    stop = threading.Event()

    def drip(sock):  # one byte per 0.3 s: never a pause of 1 s, yet never done
        while not stop.wait(0.3):
            try:
                sock.sendall(b" ")
            except OSError:  # the server closed the connection
                return

    with connect(api) as sock:
        sock.sendall(request_head("/api/v1/customers", api_key, "Content-Length: 100000") + b"[")
        dripper = threading.Thread(target=drip, args=(sock,), daemon=True)
        dripper.start()
        try:
            ((status, headers, raw),) = responses(read_until_closed(sock))
        finally:
            stop.set()
            dripper.join(5)
    assert status == 408
    assert headers["connection"] == "close"
    assert "took longer than 2 seconds" in json.loads(raw)["error"]["message"]
    assert db.customers.count_documents({}) == 0


def test_a_stalled_receipt_body_is_answered_408_too(api, short_wait):  # noqa: F811
    # The receipt endpoint reads its body for the signature check: the same bound applies.
    with connect(api) as sock:
        sock.sendall(
            b"POST /api/v1/delivery-receipts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":'
        )
        ((status, headers, raw),) = responses(read_until_closed(sock))
    assert status == 408
    assert json.loads(raw)["error"]["code"] == "request_timeout"
    assert headers["connection"] == "close"
