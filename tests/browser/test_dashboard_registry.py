"""Registered models in the dashboard, in headless Chromium against a real `neuronal serve`:
names with their versions and aliases, registering a model, moving an alias (with If-Match,
so a move made elsewhere first is reported), and no script errors."""

from __future__ import annotations

from typing import Any

from tests.browser.test_dashboard import browser  # noqa: F401  (the Chromium fixture)
from tests.inputs.helpers import train_iris
from tests.stack import Stack

RM = "/v1/registered-models"


def test_registered_models_versions_and_aliases(
    embedded_stack: Stack,
    browser: Any,  # noqa: F811
    iris_bytes: bytes,
) -> None:
    key = embedded_stack.create_key("dashboard-registry")
    first = train_iris(embedded_stack, key, iris_bytes)["model_id"]
    second = train_iris(embedded_stack, key, iris_bytes)["model_id"]
    with embedded_stack.client(key) as client:
        client.post(RM, json={"name": "flowers", "description": "iris, retrained weekly"})
        client.post(f"{RM}/flowers/versions", json={"model_id": first})
        client.put(f"{RM}/flowers/aliases/production", json={"version": 1})

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", key)
    page.click("#key-form button")
    row = "#registry tbody tr[data-name='flowers']"
    page.wait_for_selector(row, timeout=10_000)
    assert "production → 1" in page.inner_text(row)

    page.fill("#register-model", second)
    page.fill("#register-name", "flowers")
    page.click("#register-form button")
    page.wait_for_selector("#register-status:has-text('flowers version 2')")
    page.wait_for_selector("#registry-versions tbody tr[data-version='2']")
    assert second in page.inner_text("#registry-versions tbody tr[data-version='2']")
    assert "production" in page.inner_text("#registry-versions tbody tr[data-version='1']")
    assert page.inner_text("#registry-description") == "iris, retrained weekly"

    page.fill("#alias-name", "production")
    page.fill("#alias-version", "2")
    page.click("#alias-form button")
    page.wait_for_selector("#alias-status:has-text('flowers@production → version 2')")
    page.wait_for_selector(f"{row}:has-text('production → 2')")
    with embedded_stack.client(key) as client:
        assert client.get(f"{RM}/flowers").json()["aliases"] == {"production": 2}
        client.put(f"{RM}/flowers/aliases/production", json={"version": 1})  # elsewhere

    page.fill("#alias-name", "production")
    page.fill("#alias-version", "2")
    page.click("#alias-form button")  # the page still thinks production → 2: If-Match: 2
    page.wait_for_selector("#alias-status:has-text('Not moved')")
    assert "points at version 1" in page.inner_text("#alias-status")
    page.wait_for_selector(f"{row}:has-text('production → 1')")
    # the browser logs the refused PUT itself; nothing else may go wrong
    assert [e for e in errors if "status of 412" not in e] == [], errors
    page.close()
