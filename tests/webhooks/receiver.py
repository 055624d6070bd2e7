"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies every message with
the `standardwebhooks` package, and answers 500 to the first `fail_first` requests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int
    verified: dict[str, Any] = field(default_factory=dict)  # secret -> parsed payload, or the error


class Receiver:
    def __init__(self, secrets: list[str] | None = None, fail_first: int = 0, status: int = 500) -> None:
        self.secrets = list(secrets or [])
        self.fail_first = fail_first
        self.fail_status = status
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    status = receiver.fail_status if len(receiver.received) < receiver.fail_first else 200
                    item = Received(time.monotonic(), headers, body, status)
                    for secret in receiver.secrets:
                        try:
                            item.verified[secret] = Webhook(secret).verify(body, headers)
                        except WebhookVerificationError as exc:
                            item.verified[secret] = exc
                    receiver.received.append(item)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"expected {n} webhook(s), got {len(self.received)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
