"""The HTTP/1.1 protocol `neuronal serve` runs: uvicorn's httptools one, with a bounded head.

httptools sets no limit on a request's line and headers: a client could send a 100 MB
header, which the parser keeps concatenating (seconds of CPU on the event loop, hundreds of
MB of memory), or trickle a head in one byte at a time and hold a connection forever. Here
the head (request line and headers) is refused with 431 once it passes
`max_header_bytes` or `max_header_count`, and the connection is answered 408 and closed when
the head is not complete within `header_timeout_seconds` of its first byte. Both checks run
before the application sees the request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.problems import PROBLEM_MEDIA_TYPE, problem_body
from service.core.config import get_settings
from service.core.errors import HeadersTooLarge, NeuronalError, RequestTimeout


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with limits on the size, count and read time of a head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_head_bytes = settings.max_header_bytes
        self.max_header_count = settings.max_header_count
        self.head_timeout = settings.header_timeout_seconds
        self._head_bytes = 0
        self._header_count = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # a connection that never sends a head is closed too

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._start_head_timer()
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            # the whole chunk belongs to the head: its end has not been parsed yet
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(
                    HeadersTooLarge(
                        f"The request line and headers are over this server's limit of "
                        f"{self.max_head_bytes:,} bytes; send shorter headers."
                    )
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_header_count:
            self._refuse(
                HeadersTooLarge(
                    f"The request has more than this server's limit of {self.max_header_count} "
                    "headers; send fewer."
                )
            )
            raise httptools.HttpParserError("too many headers")  # stops parsing this chunk
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._end_of_head()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _end_of_head(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._in_head = True  # the next bytes on this keep-alive connection start a new head

    def send_400_response(self, msg: str) -> None:
        if not self.transport.is_closing():  # not after a refusal of our own
            super().send_400_response(msg)

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(
                RequestTimeout(
                    f"The request line and headers did not arrive within {self.head_timeout:g} s; "
                    "send the whole head at once."
                )
            )

    def _refuse(self, error: NeuronalError) -> None:
        """Answer `error` as problem+json and close, without involving the application."""
        self._end_of_head()
        if self.transport.is_closing():
            return
        self.logger.warning("refused a request head: %s", error.detail)
        body = json.dumps(problem_body(error, None)).encode()  # no request id yet
        head = (
            f"HTTP/1.1 {error.status} {error.title}\r\n"
            f"content-type: {PROBLEM_MEDIA_TYPE}\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        ).encode()
        self.transport.write(head + body)
        self.transport.close()
