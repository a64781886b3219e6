"""Per-job overhead of a digits job: queued -> first epoch, last epoch -> model stored.

The worker logs the end of a job's first and last epochs (with the first epoch's length);
the job record holds when it was queued (`created_at`) and when its model was stored
(`finished_at`), all on this host's clock.
"""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks import jobs, workloads

TARGET_MS = 60.0


def epoch_ends(folder: Path, job_id: str) -> dict[int, tuple[datetime, float]]:
    """{epoch: (logged at, epoch seconds)} from the worker's JSON log lines for `job_id`;
    epoch 0 is when its inputs were loaded (and how long that took)."""
    found: dict[int, tuple[datetime, float]] = {}
    for path in folder.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if job_id not in line or not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            words = str(record.get("message", "")).split()
            if words[:1] != ["job"] or words[1:2] != [job_id]:
                continue
            if "loaded" in words:
                epoch = 0
            elif "ended" in words:
                epoch = int(words[3].split("/")[0])
            else:
                continue
            found[epoch] = (_moment(record["time"]), float(words[-2]))
    return found


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.astimezone()


def job_phases(http: Any, folder: Path, dataset_id: str, repeats: int) -> list[tuple[float, ...]]:
    """(queued -> first epoch, last epoch -> model stored, queue, claimed -> inputs loaded)
    in seconds, per digits job."""
    phases = []
    for attempt in range(repeats + 1):  # the first warms the worker up
        job = jobs.submit(http, dataset_id, workloads.DIGITS_NETWORK, workloads.digits_training())
        done = jobs.succeeded(http, job["id"], timeout=120)
        ends = {}
        for _ in range(50):  # the log line may still be on its way to the file
            ends = epoch_ends(folder, job["id"])
            if len(ends) == 3:
                break
        if attempt == 0 or len(ends) != 3:
            continue
        _, loading = ends[0]
        first_end, first_seconds = ends[1]
        last_end, _ = ends[max(ends)]
        queued, stored = _moment(done["created_at"]), _moment(done["finished_at"])
        before = (first_end - queued).total_seconds() - first_seconds
        after = (stored - last_end).total_seconds()
        queue = jobs.seconds_between(done["created_at"], done["started_at"])
        phases.append((before, after, queue, loading))
    return phases


def report(phases: list[tuple[float, ...]], where: str, results: Any) -> None:
    if not phases:
        print(f"  per-job overhead ({where}): no worker log lines found")
        return
    before = statistics.median(p[0] for p in phases) * 1000
    after = statistics.median(p[1] for p in phases) * 1000
    print(
        f"  per-job overhead, digits 64-64-10 (30 epochs), median of {len(phases)}: queued -> "
        f"first epoch {before:.0f} ms (runs {', '.join(f'{p[0] * 1000:.0f}' for p in phases)}), "
        f"last epoch -> model stored {after:.0f} ms "
        f"(runs {', '.join(f'{p[1] * 1000:.0f}' for p in phases)})"
    )
    queue = statistics.median(p[2] for p in phases) * 1000
    loading = statistics.median(p[3] for p in phases) * 1000
    print(
        f"    of queued -> first epoch: queue (queued -> claimed) {queue:.0f} ms, loading the "
        f"job and its data set {loading:.0f} ms, the rest (claim, fit's set-up) "
        f"{before - queue - loading:.0f} ms"
    )
    for name, figure in (("queued -> first epoch", before), ("last epoch -> model stored", after)):
        results.check(
            f"per-job overhead, {name} ({where})",
            f"{figure:.0f} ms",
            f"<= {TARGET_MS:.0f} ms",
            figure <= TARGET_MS,
        )
