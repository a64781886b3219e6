"""A real HTTP receiver of webhook deliveries on loopback, for the tests.

Each path has a script of answers (status codes, or HANG to hold the request until released);
every request is recorded with its headers and raw body. `unique` is what a receiver that
deduplicates by `webhook-id` would have processed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = -1


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.release = threading.Event()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status = receiver.record(Received(self.path, headers, body))
                if status == HANG:
                    receiver.release.wait(60)
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, received: Received) -> int:
        with self.lock:
            self.received.append(received)
            script = self.scripts.get(received.path, [])
            return script.pop(0) if script else 200

    def url(self, path: str, *answers: int) -> str:
        self.scripts[path] = list(answers)
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def unique(self, path: str) -> dict[str, Received]:
        """What a receiver deduplicating by webhook-id processed: the first of each id."""
        seen: dict[str, Received] = {}
        for received in self.at(path):
            seen.setdefault(received.headers["webhook-id"], received)
        return seen

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
