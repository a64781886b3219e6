"""The one HTTP request of a delivery attempt, to the address the guard checked.

The request goes to the checked IP address itself; the URL's host name travels in the Host
header and as TLS's server name (certificates are verified against it), so the address cannot
change between the check and the connection. Redirects are not followed (a 3xx is an answer
that is not 2xx, retried), the answer's body is never read, and every phase (connecting,
sending, waiting for the answer) has the configured time-out.
"""

from __future__ import annotations

import time

import httpx

from service.core.webhook_urls import Target

USER_AGENT = "Neuronal-Webhooks/1"


class Poster:
    """One HTTP client per delivery worker: pooled connections, no redirects, and no proxy
    from the environment (a proxy would connect to the name, not to the checked address)."""

    def __init__(self, timeout_seconds: float, max_connections: int) -> None:
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_connections=max_connections),
            follow_redirects=False,
            trust_env=False,
        )

    def post(
        self, target: Target, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, str | None, float]:
        """POST `body` to `target`: (status code or None, error or None, seconds taken)."""
        start = time.perf_counter()
        request = self.client.build_request(
            "POST",
            target.connect_url,
            content=body,
            headers={
                **headers,
                "Host": target.host_header,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            extensions={"sni_hostname": target.host},
        )
        try:
            response = self.client.send(request, stream=True)
            response.close()
        except httpx.TimeoutException as exc:
            return None, f"timed out ({type(exc).__name__})", time.perf_counter() - start
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500], time.perf_counter() - start
        return response.status_code, None, time.perf_counter() - start
