"""Cross-validation across workers: the wall time of a job's 5 folds on 2 worker processes
against the same 5 folds on 1, on PostgreSQL + Redis (target: ≤ 0.65×; 5 equal folds on 2
workers take 3 fold-durations, 0.6×, when both runs get the same CPU). The folds' wall time
runs from the first fold's start to the last fold's end, read from the folds' rows; the whole
job's (submission to success, the final training included) is printed beside it. A stack
with one worker and a stack with two run side by side and take turns, `--repeats` jobs each
after one to warm up, and the medians are compared: one job's folds last under a second and
this VM's speed drifts by tens of percent over seconds (single pairs gave 0.63 to 2.4).

    .venv/bin/python -m benchmarks.cross_validation [--rows 2000] [--epochs 6] [--repeats 5]

Redis: NEURONAL_BENCH_REDIS_PORT (default 6379), database NEURONAL_BENCH_REDIS_DB (14).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from benchmarks.jobs import client, seconds_between, submit, succeeded, upload
from benchmarks.stack import REDIS_DB, ROOT, Stack, postgres_and_redis, wait_until

TARGET = 0.65
FOLDS = 5


def dataset_csv(rows: int) -> bytes:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 8)).round(4)
    label = np.where(X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0, "yes", "no")
    lines = ["a,b,c,d,e,f,g,h,label"]
    lines += [",".join(map(str, x)) + f",{y}" for x, y in zip(X, label, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def fold_span(database_url: str, job_id: str) -> tuple[float, float, int]:
    """Seconds from the job's first fold start to its last fold end, the folds' seconds
    summed, and how many workers ran them."""
    from sqlalchemy import select

    from service.core.db import transaction
    from service.core.tables import CvFold

    with transaction(database_url) as session:
        spans = session.execute(
            select(CvFold.started_at, CvFold.finished_at, CvFold.worker).where(
                CvFold.job_id == job_id
            )
        ).all()
    ended = [(start, end) for start, end, _ in spans if start is not None and end is not None]
    wall = max(end for _, end in ended) - min(start for start, _ in ended)
    busy = sum((end - start).total_seconds() for start, end in ended)
    return wall.total_seconds(), busy, len({worker for _, _, worker in spans})


def ready(stack: Stack, proc: subprocess.Popen[bytes]) -> None:
    log = stack.folder / f"worker-{stack.workers.index(proc)}.log"
    wait_until(lambda: log.exists() and " ready." in log.read_text(errors="replace"),
               timeout=90, what="a worker", every=0.2)  # fmt: skip


def measure(
    http: httpx.Client, dataset_id: str, database_url: str, epochs: int
) -> tuple[float, float, float, int]:
    network = {"layers": [{"units": 32, "activation": "tanh"}]}
    training = {"epochs": epochs, "batch_size": 4, "seed": 1, "validation_fraction": 0.1,
                "optimizer": {"name": "adam", "learning_rate": 0.002},
                "cross_validation": {"folds": FOLDS}}  # fmt: skip
    job = submit(http, dataset_id, network, training)
    # every figure comes from the job's and folds' own timestamps: polls every 20 ms would
    # only take CPU from the two workers (the API and PostgreSQL share their cores)
    done = succeeded(http, job["id"], timeout=1800, every=0.25)
    whole = seconds_between(job["created_at"], done["finished_at"])
    wall, busy, workers = fold_span(database_url, job["id"])
    return wall, whole, busy, workers


def report(label: str, figures: tuple[float, float, float, int]) -> None:
    wall, whole, busy, workers = figures
    print(
        f"{label}: {FOLDS} folds {wall:.2f} s wall ({busy:.2f} fold-seconds, "
        f"{busy / wall:.2f} folds at a time, on {workers} worker(s)); whole job {whole:.2f} s"
    )


@dataclass
class Bench:
    """A stack of its own with `workers` worker processes and the data set uploaded."""

    workers: int
    http: httpx.Client
    dataset_id: str
    database_url: str
    figures: list[tuple[float, float, float, int]] = field(default_factory=list)


def open_bench(scope: ExitStack, folder: Path, rows: int, workers: int) -> Bench:
    env = scope.enter_context(postgres_and_redis(redis_db=REDIS_DB - workers + 1))
    stack = Stack(folder / f"w{workers}", env, embedded=False)
    subprocess.run([sys.executable, "-m", "service.cli", "migrate"], env=stack.env, cwd=ROOT,
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    scope.callback(stack.stop)
    stack.start_api()
    for _ in range(workers):
        ready(stack, stack.start_worker())
    http = scope.enter_context(client(stack.port, stack.create_key("bench-cv")))
    dataset_id = upload(http, "cv.csv", dataset_csv(rows))["id"]
    return Bench(workers, http, dataset_id, env["NEURONAL_DATABASE_URL"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5, help="jobs timed on each stack")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with ExitStack() as scope:
        folder = Path(scope.enter_context(tempfile.TemporaryDirectory()))
        one, two = (open_bench(scope, folder, args.rows, workers) for workers in (1, 2))
        for bench in (one, two):  # each worker imports what training needs, reads the data
            measure(bench.http, bench.dataset_id, bench.database_url, args.epochs)
        time.sleep(1.0)
        for round_ in range(args.repeats):
            for bench in (one, two) if round_ % 2 == 0 else (two, one):
                figures = measure(bench.http, bench.dataset_id, bench.database_url, args.epochs)
                bench.figures.append(figures)
                report(f"{bench.workers} worker(s)", figures)
    walls = [statistics.median(f[0] for f in bench.figures) for bench in (one, two)]
    ratio = walls[1] / walls[0]
    verdict = "MET" if ratio <= TARGET else "MISSED"
    print(f"  -> folds on 2 workers / on 1, medians of {args.repeats} jobs each: {ratio:.3f} "
          f"({walls[1]:.2f} s / {walls[0]:.2f} s; target <= {TARGET}): {verdict}")  # fmt: skip
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
