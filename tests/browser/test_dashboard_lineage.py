"""A warm-started job in the dashboard, in headless Chromium against a real `neuronal serve`:
its page links the model it started from, that model's job page links back to it, and no
script errors."""

from __future__ import annotations

from typing import Any

from tests.api.test_submission_rules import two_classes, upload
from tests.browser.test_dashboard import browser  # noqa: F401  (the Chromium fixture)
from tests.stack import Stack, wait_for_job


def test_a_warm_started_job_shows_its_lineage(embedded_stack: Stack, browser: Any) -> None:  # noqa: F811
    key = embedded_stack.create_key("dashboard-lineage")
    with embedded_stack.client(key) as client:
        dataset_id = upload(client, two_classes(80))
        body = {"dataset_id": dataset_id, "network": {"layers": [{"units": 4}]},
                "training": {"epochs": 2}}  # fmt: skip
        source = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"])
        warm = {"init_from": {"model_id": source["model_id"]}, "mode": "continue",
                "training": {"epochs": 1}}  # fmt: skip
        child = wait_for_job(client, client.post("/v1/jobs", json=warm).json()["id"])
    assert child["status"] == "succeeded", embedded_stack.logs()

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector(f"#jobs tbody tr[data-id='{child['id']}']")
    page.click(f"#jobs tbody tr[data-id='{child['id']}']")
    page.wait_for_selector("#lineage", state="visible", timeout=30_000)
    assert f"Continues model {source['model_id']}" in page.inner_text("#lineage")

    page.click(f"#lineage a[data-model='{source['model_id']}']")  # to the source's job
    page.wait_for_selector(f"#detail-id:text('{source['id']}')")
    page.wait_for_selector(f"#lineage a[data-model='{child['model_id']}']", timeout=30_000)
    assert "Started from it" in page.inner_text("#lineage")
    assert not errors, errors
    page.close()
