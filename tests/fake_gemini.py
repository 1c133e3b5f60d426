"""A local stand-in for the Gemini API: scripted answers, and a record of every request.

The real google-genai client is pointed at it with `HttpOptions(base_url=...)`, so tests check
exactly what the SDK sends and how our code handles what comes back.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    path: str
    headers: dict
    body: dict


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    hang: bool = False  # never answer (until the server stops): the client must time out


def answer(data) -> Reply:
    """A 200 whose model text is `data` (JSON-encoded unless it is already text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    return Reply(
        200,
        json.dumps(
            {
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
                "modelVersion": "fake-model",
            }
        ).encode(),
    )


def error(status: int, name: str, message: str = "scripted error") -> Reply:
    return Reply(status, json.dumps({"error": {"code": status, "message": message, "status": name}}).encode())


@dataclass
class FakeGemini:
    replies: list[Reply] = field(default_factory=list)  # answered in order; the last one repeats
    seen: list[Seen] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def start(self) -> FakeGemini:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                fake.seen.append(
                    Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw or b"{}"))
                )
                reply = fake.replies[min(len(fake.seen), len(fake.replies)) - 1]
                if reply.hang:
                    fake.stopping.wait(30)
                    return
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
