"""A Hopfield job in the dashboard, in headless Chromium against a real `neuronal serve`: it
shows its capacity figures and the recall route, no loss curves, and no script errors."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from tests.browser.test_dashboard import browser  # noqa: F401  (the Chromium fixture)
from tests.stack import Stack, wait_for_job


def test_a_hopfield_job_shows_its_capacity(embedded_stack: Stack, browser: Any) -> None:  # noqa: F811
    key = embedded_stack.create_key("dashboard-hopfield")
    patterns = np.random.default_rng(0).integers(0, 2, size=(6, 40))
    out = io.StringIO()
    csv.writer(out).writerows([[f"u{j}" for j in range(40)], *patterns.tolist()])
    with embedded_stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("p.csv", out.getvalue())}).json()
        network = {"kind": "hopfield", "rule": "storkey"}
        created = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "network": network})
        job = wait_for_job(client, created.json()["id"])
    assert job["status"] == "succeeded", embedded_stack.logs()

    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector(f"#jobs tbody tr[data-id='{job['id']}']")
    assert "1/1" in page.inner_text(f"#jobs tbody tr[data-id='{job['id']}']")
    page.click(f"#jobs tbody tr[data-id='{job['id']}']")
    page.wait_for_selector("#final", state="visible", timeout=30_000)
    page.wait_for_selector("#detail-status.succeeded")

    assert page.inner_text("#final-title") == "Capacity"
    note = page.inner_text("#hopfield-note")
    assert "storkey rule" in note and f"/v1/models/{job['model_id']}/recall" in note
    figures = page.inner_text("#final-metrics")
    for name in ("n patterns", "n units", "capacity ratio", "stable fraction"):
        assert name in figures, figures
    assert not page.is_visible("#charts")
    assert not page.is_visible("#download-onnx") and not page.is_visible("#download-svg")
    assert page.is_visible("#download-npz") and not page.is_visible("#confusion-block")
    assert not errors, errors
    page.close()
