"""The browser dashboard: one static page and its script, served from `service/api/static/`.

The page is plain HTML and JavaScript with no build step and nothing fetched from the
internet; it talks to the same `/v1` API as any client, with the API key the user types in
(kept in `sessionStorage`, so it is forgotten when the tab closes).
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = STATIC_DIR / "index.html"
# the page may only load its own files and talk to its own origin
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'"
)


def index_headers() -> dict[str, str]:
    """Headers for the page itself: no caching of stale scripts, a strict CSP."""
    return {
        "Cache-Control": "no-cache",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
    }
