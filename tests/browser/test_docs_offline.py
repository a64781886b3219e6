"""/docs renders in headless Chromium with every request to another host refused: Swagger UI
needs nothing but the service itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.test_dashboard import browser  # noqa: F401  (the Chromium fixture)
from tests.stack import Stack


@pytest.fixture
def offline_page(browser: Any, embedded_stack: Stack) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    """A page whose requests to any host but the service's are aborted and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    ours = urlsplit(embedded_stack.url).netloc
    outside: list[str] = []

    def only_ours(route: Any) -> None:
        if urlsplit(route.request.url).netloc in (ours, ""):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_ours)
    yield page, outside
    page.close()


def test_swagger_ui_renders_every_route_offline(
    embedded_stack: Stack, offline_page: tuple[Any, list[str]]
) -> None:
    page, outside = offline_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(embedded_stack.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/v1/models/{model_id}/predict" in p.replace("\u200b", "") for p in paths), paths
    assert not outside and not errors, (outside, errors)
