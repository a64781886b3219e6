"""Requests to the API with retries, typed errors, cursors and server-sent events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse

from neuronal_client.errors import ServerUnreachable, UnsendableRequest, error_for

DEFAULT_URL = "http://127.0.0.1:8000"
TRANSIENT_STATUSES = (502, 503, 504)


def checked_base_url(base_url: str) -> str:
    """`base_url` without a trailing slash; ValueError unless it is an http(s) address."""
    try:
        parsed = httpx.URL(base_url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"an http:// or https:// address such as {DEFAULT_URL}, not {base_url!r}")
    return base_url.rstrip("/")


class Transport:
    """One connection pool to one server; retries what is safe to retry."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        timeout: float,
        retries: int,
        backoff: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.base_url = checked_base_url(base_url)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.timeout = timeout
        self.http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def json(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Any:
        """Send, retrying transient failures; the decoded JSON (None for 204), or raise."""
        response = self.send(method, path, retry=retry, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def send(
        self, method: str, path: str, *, retry: bool, answers: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """The response to a request; `retry` says whether it is safe to send twice, and
        `answers` are error statuses returned like a success instead of raised."""
        if "params" in kwargs:
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.InvalidURL as exc:
                raise UnsendableRequest(method, path, exc) from exc
            except httpx.TransportError as exc:
                # a connection that never opened sent nothing: safe to retry any request
                if attempt >= self.retries or not (retry or isinstance(exc, httpx.ConnectError)):
                    raise ServerUnreachable(self.base_url, exc) from exc
            else:
                if response.status_code < 400 or response.status_code in answers:
                    return response
                if not (retry and response.status_code in TRANSIENT_STATUSES) or (
                    attempt >= self.retries
                ):
                    raise error_for(response)
            time.sleep(self.backoff * 2**attempt)
            attempt += 1

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[Any]:
        """Every item of a listing, following `next_cursor`."""
        cursor: str | None = None
        while True:
            page = self.json("GET", path, params={**params, "cursor": cursor})
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def events(
        self, path: str, last_event_id: str | None, read_timeout: float
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """A stream's server-sent events as `(event, data)`, not retried."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            with connect_sse(self.http, "GET", path, headers=headers, timeout=timeout) as source:
                if source.response.status_code >= 400:
                    source.response.read()
                    raise error_for(source.response)
                for event in source.iter_sse():
                    if event.data:
                        yield event.event, event.json()
        except httpx.InvalidURL as exc:
            raise UnsendableRequest("GET", path, exc) from exc
        except httpx.TransportError as exc:
            raise ServerUnreachable(self.base_url, exc) from exc
