"""Cross-validation across workers: the wall time of a job's 5 folds on 2 worker processes
against the same 5 folds on 1, on PostgreSQL + Redis (target: ≤ 0.65×; 5 equal folds on 2
workers take 3 fold-durations, 0.6×, when both runs get the same CPU). The folds' wall time
runs from the first fold's start to the last fold's end, read from the folds' rows; the whole
job's (submission to success, the final training included) is printed beside it.

    .venv/bin/python -m benchmarks.cross_validation [--rows 2000] [--epochs 6]

Redis: NEURONAL_BENCH_REDIS_PORT (default 6379), database NEURONAL_BENCH_REDIS_DB (14).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.jobs import client, seconds_between, submit, succeeded, upload
from benchmarks.stack import ROOT, Stack, postgres_and_redis, wait_until

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
    done = succeeded(http, job["id"], timeout=1800)
    whole = seconds_between(job["created_at"], done["finished_at"])
    wall, busy, workers = fold_span(database_url, job["id"])
    return wall, whole, busy, workers


def report(label: str, figures: tuple[float, float, float, int]) -> None:
    wall, whole, busy, workers = figures
    print(
        f"{label}: {FOLDS} folds {wall:.2f} s wall ({busy:.2f} fold-seconds, "
        f"{busy / wall:.2f} folds at a time, on {workers} worker(s)); whole job {whole:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    with postgres_and_redis() as env, tempfile.TemporaryDirectory() as folder:
        stack = Stack(Path(folder), env, embedded=False)
        subprocess.run([sys.executable, "-m", "service.cli", "migrate"], env=stack.env, cwd=ROOT,
                       check=True, capture_output=True, timeout=300)  # fmt: skip
        try:
            stack.start_api()
            ready(stack, stack.start_worker())
            with client(stack.port, stack.create_key("bench-cv")) as http:
                dataset_id = upload(http, "cv.csv", dataset_csv(args.rows))["id"]
                one = measure(http, dataset_id, env["NEURONAL_DATABASE_URL"], args.epochs)
                report("1 worker ", one)
                ready(stack, stack.start_worker())
                time.sleep(1.0)
                two = measure(http, dataset_id, env["NEURONAL_DATABASE_URL"], args.epochs)
                report("2 workers", two)
        finally:
            stack.stop()
    ratio = two[0] / one[0]
    verdict = "MET" if ratio <= TARGET else "MISSED"
    print(f"  -> folds on 2 workers / on 1 = {ratio:.3f} (target <= {TARGET}): {verdict}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
