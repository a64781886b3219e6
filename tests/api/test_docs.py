"""/docs works offline: every script, style and icon it loads comes from the service itself,
and nothing on the page names another host (there is no /redoc: its bundle fetches a logo)."""

from __future__ import annotations

import re

import httpx

from tests.stack import Stack

REFERENCE = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def test_the_docs_page_loads_everything_from_the_service(embedded_stack: Stack) -> None:
    html = httpx.get(embedded_stack.url + "/docs")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "://" not in html.text, "a docs page names another host"
    assets = [a or b for a, b in REFERENCE.findall(html.text)]
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and "/openapi.json" in html.text
    for asset in assets:
        loaded = httpx.get(embedded_stack.url + asset)
        assert loaded.status_code == 200, asset
        assert len(loaded.content) > 500, asset
    for script in scripts:
        assert len(httpx.get(embedded_stack.url + script).content) > 100_000, "the real bundle"


def test_swagger_ui_calls_no_outside_validator(embedded_stack: Stack) -> None:
    html = httpx.get(embedded_stack.url + "/docs").text
    assert re.search(r'"validatorUrl":\s*null', html), html
    assert httpx.get(embedded_stack.url + "/redoc").status_code == 404
