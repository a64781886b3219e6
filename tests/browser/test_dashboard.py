"""The dashboard at `/`, driven in headless Chromium against a real `neuronal serve`.

Debian's Chromium (`/usr/bin/chromium`) is driven with Playwright, which brings its own
driver and downloads no browser. Without Chromium the browser test skips, unless
NEURONAL_REQUIRE_SERVICES=1, when it fails. The screenshot for the README is written to
docs/images/dashboard.png when that file is missing or NEURONAL_UPDATE_IMAGES=1 (so a test
run does not leave a changed binary behind every time).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest

from tests.stack import ROOT, Stack, services_required

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "images" / "dashboard.png"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
EPOCHS = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if services_required():
            pytest.fail(message + " and NEURONAL_REQUIRE_SERVICES=1")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


def circle_csv(path: Path, n: int = 2000) -> Path:
    """Points inside or outside a circle, with a categorical colour column."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y", "colour", "label"])
        for x, y in rng.uniform(-1, 1, (n, 2)).tolist():
            inside = "inside" if x * x + y * y < 0.5 else "outside"
            writer.writerow([round(x, 3), round(y, 3), rng.choice(["red", "blue"]), inside])
    return path


def test_page_and_static_files_are_served_outside_the_api(embedded_stack: Stack) -> None:
    page = httpx.get(embedded_stack.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        asset = httpx.get(f"{embedded_stack.url}/static/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    assert httpx.get(embedded_stack.url + "/static/nope.js").status_code == 404
    paths = httpx.get(embedded_stack.url + "/openapi.json", timeout=60).json()["paths"]
    assert "/" not in paths and not any(p.startswith("/static") for p in paths)
    assert "/v1/models/{model_id}/onnx" in paths and "/v1/jobs/{job_id}/curves.svg" in paths


def test_a_wrong_key_is_refused(embedded_stack: Stack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", "not-a-key")
    page.click("#key-form button")
    page.wait_for_selector("#login-error:has-text('not accepted')")
    assert page.is_hidden("#app")
    assert page.evaluate("sessionStorage.getItem('neuronal.apiKey')") is None
    page.close()


def test_upload_train_watch_and_inspect(
    embedded_stack: Stack, browser: Any, tmp_path: Path
) -> None:
    key = embedded_stack.create_key("dashboard")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(embedded_stack.url + "/")

    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector("#app", state="visible")
    assert page.evaluate("sessionStorage.getItem('neuronal.apiKey')") == key
    page.reload()  # the key survives a reload of the tab
    page.wait_for_selector("#app", state="visible")

    page.set_input_files("#upload-file", str(circle_csv(tmp_path / "circle.csv")))
    page.fill("#upload-name", "circle")
    page.click("#upload-form button")
    page.wait_for_selector("#upload-status:has-text('Uploaded circle: 2000 rows')")
    page.wait_for_selector("#datasets tbody tr:has-text('circle')")

    page.fill("#train-layers", "16, 16")
    page.select_option("#train-activation", "tanh")
    page.select_option("#train-optimizer", "adam")
    page.fill("#train-lr", "0.005")
    page.fill("#train-epochs", str(EPOCHS))
    page.fill("#train-batch", "1")  # stochastic gradient descent: slow enough to watch
    page.click("#train-form button")
    page.wait_for_selector("#job-detail", state="visible")

    seen = watch_points(page, timeout=120)
    assert seen[-1] == EPOCHS, seen
    assert seen == sorted(seen) and len(seen) >= 3, f"the curve did not grow live: {seen}"
    assert any(0 < n < EPOCHS for n in seen), seen
    assert page.get_attribute("#accuracy-chart", "data-points") == str(EPOCHS)
    assert page.locator("#loss-chart polyline").count() == 2  # train and validation

    page.wait_for_selector("#confusion-block", state="visible", timeout=30_000)
    caption = page.inner_text("#confusion-caption")
    assert "200 validation rows" in caption, caption
    cells = [int(c) for c in page.locator("#confusion td").all_inner_texts()]
    assert len(cells) == 4 and sum(cells) == 200
    assert page.locator("#confusion th").all_inner_texts()[1:3] == ["inside", "outside"]
    assert "validation accuracy" in page.inner_text("#final-metrics")
    page.wait_for_selector("#jobs tbody tr.selected .badge.succeeded")

    with page.expect_download() as download:  # fetched with the key, saved from a blob
        page.click("#download-onnx")
    assert download.value.suggested_filename.endswith(".onnx")
    graph = onnx.load_from_string(Path(download.value.path()).read_bytes()).graph
    assert [i.name for i in graph.input] == ["numeric", "categorical:colour"]

    if not SCREENSHOT.exists() or os.environ.get("NEURONAL_UPDATE_IMAGES") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert not errors, errors
    page.close()


def watch_points(page: Any, *, timeout: float) -> list[int]:
    """The distinct numbers of plotted epochs seen while the job runs, in order."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        points = int(page.get_attribute("#loss-chart", "data-points") or 0)
        if points and (not seen or points != seen[-1]):
            seen.append(points)
        if page.inner_text("#detail-status") in ("succeeded", "failed", "cancelled"):
            points = int(page.get_attribute("#loss-chart", "data-points") or 0)
            return seen if seen and seen[-1] == points else [*seen, points]
        page.wait_for_timeout(100)
    raise AssertionError(f"the job did not finish in {timeout} s; plotted points seen: {seen}")


def test_series_dataset_and_lstm_job_show_without_errors(
    embedded_stack: Stack, browser: Any, tmp_path: Path
) -> None:
    from tests.sequence_data import sequences_npz, series_csv

    key = embedded_stack.create_key("dashboard-recurrent")
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector("#app", state="visible")

    sequences = tmp_path / "sequences.npz"
    sequences.write_bytes(sequences_npz(n=40)[0])
    page.set_input_files("#upload-file", str(sequences))
    page.click("#upload-form button")
    page.wait_for_selector("#datasets tbody tr:has-text('sequences of 10 steps')")

    series = tmp_path / "load.csv"
    series.write_bytes(series_csv())
    page.set_input_files("#upload-file", str(series))
    page.fill("#upload-name", "load")
    page.select_option("#upload-layout", "series")
    page.fill("#upload-time", "day")
    page.fill("#upload-group", "site")
    page.click("#upload-form button")
    page.wait_for_selector("#upload-status:has-text('Uploaded load: 240 rows')")
    page.wait_for_selector("#datasets tbody tr:has-text('2 series by day')")

    page.select_option("#train-dataset", label="load")
    page.fill("#train-layers", "lstm:8, 4")
    page.fill("#train-window", "6")
    page.fill("#train-epochs", "3")
    page.fill("#train-batch", "16")
    page.click("#train-form button")
    page.wait_for_selector("#jobs tbody tr.selected .badge.succeeded", timeout=60_000)
    page.wait_for_selector("#final", state="visible")
    assert page.get_attribute("#loss-chart", "data-points") == "3"
    assert page.locator("#confusion-block").is_hidden()  # a forecast has no classes
    assert not errors, errors
    page.close()
