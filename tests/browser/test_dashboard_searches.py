"""Searches in the dashboard, in headless Chromium against a real `neuronal serve`: a small
iris search with ASHA, its page (one mark per ended trial, the best-so-far line ending at the
leaderboard's best, pruned trials marked) and the compare view (two trials overlaid, the
parameter they differ in highlighted), with no script errors."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from tests.browser.test_dashboard import browser  # noqa: F401  (the Chromium fixture)
from tests.search_helpers import (
    TRIAL_ENDED,
    base_body,
    create,
    search_body,
    trials,
    upload_iris,
    wait_search,
)
from tests.stack import ROOT, Stack

LR = "training.optimizer.learning_rate"
# trial 1 is slower than trial 2 at the first rung, so both go on; the crawling two are pruned
SPACE = {LR: {"choice": [0.05, 0.3, 1e-6, 5e-7]}}
SCREENSHOT = ROOT / "docs" / "images" / "search.png"  # written when missing, as dashboard.png


def test_search_page_and_compare_view(
    embedded_stack: Stack,
    browser: Any,  # noqa: F811
    iris_bytes: bytes,
) -> None:
    key = embedded_stack.create_key("dashboard-searches")
    with embedded_stack.client(key) as client:
        body = search_body(
            upload_iris(client, iris_bytes), SPACE, strategy="grid",
            base=base_body(epochs=4, batch_size=8),
            early_termination={"name": "asha", "min_epochs": 1, "reduction_factor": 2},
            limits={"max_trials": 4, "max_parallel": 1},
        )  # fmt: skip
        search_id = create(client, body)["id"]

    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    ours = urlsplit(embedded_stack.url).netloc  # nothing from another host
    page.on("request", lambda r: urlsplit(r.url).netloc in (ours, "") or outside.append(r.url))
    page.goto(embedded_stack.url + "/")
    page.fill("#api-key", key)
    page.click("#key-form button")
    row = f"#searches tbody tr[data-id='{search_id}']"
    page.wait_for_selector(row, timeout=10_000)
    page.click(row)  # likely while it still runs: the page follows its events
    page.wait_for_selector("#search-detail", state="visible")
    page.wait_for_selector("#search-status.succeeded", timeout=120_000)

    with embedded_stack.client(key) as client:
        search = wait_search(client, search_id)
        jobs = trials(client, search_id)
        board = client.get(f"/v1/searches/{search_id}/trials").json()["items"]
    ended = [j for j in jobs if j["status"] in TRIAL_ENDED]
    pruned = sorted(j["trial"] for j in jobs if j["status"] == "pruned")
    assert len(ended) == 4 and pruned, jobs

    chart = "#search-chart"
    page.wait_for_selector(f"{chart}[data-points='{len(ended)}']")
    assert page.locator(f"{chart} .trial").count() == len(ended)
    marked = page.locator(f"{chart} .trial.pruned").evaluate_all(
        "nodes => nodes.map(n => Number(n.dataset.trial))"
    )
    assert sorted(marked) == pruned
    best = float(page.get_attribute(f"{chart} polyline.best", "data-best") or "nan")
    assert best == board[0]["objective"] == search["best"]["objective"]
    assert board[0]["status"] == "succeeded"

    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == len(jobs)
    assert rows.nth(0).get_attribute("data-job") == board[0]["job_id"]
    assert page.locator("#leaderboard tbody tr.status-pruned .badge.pruned").count() == len(pruned)
    assert f"{len(pruned)} pruned" in page.inner_text("#search-summary dd[data-field='trials']")
    assert "4 trials · 1 at once" in page.inner_text("#search-summary dd[data-field='limits']")

    # the compare view: the two best trials, ticked in the leaderboard
    picked = [board[0]["job_id"], board[1]["job_id"]]
    for job_id in picked:
        page.check(f"#leaderboard tbody tr[data-job='{job_id}'] .compare-pick")
    page.wait_for_selector("#compare-loss-chart[data-curves='2']")
    drawn = page.locator("#compare-loss-chart .curve").evaluate_all(
        "nodes => [...new Set(nodes.map(n => n.dataset.job))]"
    )
    assert sorted(drawn) == sorted(picked)
    assert page.locator("#compare-accuracy-chart").get_attribute("data-curves") == "2"
    lr_row = page.locator(f"#compare-params tbody tr[data-name='{LR}']")
    assert "differs" in (lr_row.get_attribute("class") or "")
    learning_rates = lr_row.locator("td").all_inner_texts()
    assert learning_rates == [str(row["params"][LR]) for row in board[:2]], learning_rates
    same = page.locator("#compare-params tbody tr[data-name='training.epochs']")
    assert "differs" not in (same.get_attribute("class") or "")
    assert page.locator("#compare-params tbody tr.differs").count() == 1

    if not SCREENSHOT.exists() or os.environ.get("NEURONAL_UPDATE_IMAGES") == "1":
        page.locator("#search-detail").screenshot(path=str(SCREENSHOT))
        page.locator("#compare").screenshot(path=str(SCREENSHOT.with_name("compare.png")))

    # the same trial is ticked in the Jobs list too; unticking it there drops its curves
    page.wait_for_selector(f"#jobs tbody tr[data-id='{picked[1]}'] .compare-pick:checked")
    page.uncheck(f"#jobs tbody tr[data-id='{picked[1]}'] .compare-pick")
    page.wait_for_selector("#compare-loss-chart[data-curves='1']")
    assert not page.is_checked(f"#leaderboard tbody tr[data-job='{picked[1]}'] .compare-pick")
    assert not errors and not outside, (errors, outside)
    page.close()
