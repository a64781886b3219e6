"""The service end to end against baselines measured in the same run.

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/service.py`
(`--quick` for a shorter run). Starts the real service on 127.0.0.1 (the embedded default,
then PostgreSQL + Redis when they answer on 127.0.0.1:5432 / :6379) and prints:

0. steps: a 1000-row predict in-process, each step in CPU time (`benchmarks/predict_steps.py`);
1. predictions: a cached digits model (64-64-10), sequential p50/p99 and 32 `wrk`
   connections, against a bare FastAPI route under the same uvicorn settings; 1 vs 2 API
   processes; the server time of a 1000-row request (Server-Timing);
2. job overhead: digits end to end, and a ~20 s job against the engine's `fit` alone;
   queue latency; per digits job, queued -> first epoch and last epoch -> model stored;
3. ingest: a 100 MB CSV uploaded, parsed and stored, against `pandas.read_csv` alone, and the
   API's peak RSS;
4. training memory: the worker's peak RSS training on that 1M-row data set;
5. scale-out: 40 small jobs on 1 vs 2 worker processes (PostgreSQL + Redis);
6. predictions while a large job trains, with 1 and 2 BLAS threads in the worker;
7. registry: predict by alias and by version against predict by id, p50 and throughput in
   the same run, on a stack of its own (`benchmarks/registry.py`);
8. webhooks: delivery lag from a job's success to its receiver, 100 jobs at once (30 with
   `--quick`), with and without a receiver that never answers (`benchmarks/webhook_lag.py`;
   PostgreSQL + Redis).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import registry, sections  # noqa: E402
from benchmarks.load import wrk_available  # noqa: E402
from benchmarks.stack import services_available  # noqa: E402


@dataclass(frozen=True)
class Plan:
    """How long each measurement runs."""

    quick: bool
    sequential: int = 2000
    wrk_seconds: float = 20.0
    e2e_repeats: int = 5
    overhead_rows: int = 200_000
    overhead_epochs: int = 48
    ingest_rows: int = 1_000_000
    scale_jobs: int = 40
    blas_seconds: float = 12.0

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            sequential=500,
            wrk_seconds=6.0,
            e2e_repeats=3,
            overhead_rows=40_000,
            overhead_epochs=10,
            ingest_rows=200_000,
            scale_jobs=12,
            blas_seconds=5.0,
        )


def machine() -> None:
    import numpy as np
    import threadpoolctl

    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  host {platform.node()}")
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")), platform.processor(),
    )  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"cpu {cpu}, {os.cpu_count()} cores, {memory:.0f} GiB; {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        print(f"  {name}={os.environ.get(name, '(unset)')}")
    for lib in threadpoolctl.threadpool_info():
        print(
            f"  BLAS {lib['internal_api']} {lib.get('version')} kernel={lib.get('architecture')} "
            f"threads={lib['num_threads']}"
        )
    print(f"load {load_average()}\n")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def predict_steps_part(plan: Plan, results: sections.Results) -> None:
    """A 1000-row predict step by step in-process (CPU time, so a loaded machine's waiting
    is left out), against the same target as its server time over HTTP."""
    from benchmarks import predict_steps

    answered = predict_steps.run(1000, 60 if plan.quick else 200)["application/json"]
    results.check(
        "1000-row JSON predict in-process, CPU time (predict_steps)",
        f"{answered['answered']:.2f} ms (parse {answered['parse']:.2f} ms)",
        "<= 5 ms",
        answered["answered"] <= 5,
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a shorter run (about 1.5 minutes; the full run takes about 4)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        choices=[
            "embedded",
            "predict",
            "steps",
            "ingest",
            "workers",
            "blas",
            "services",
            "overhead",
            "registry",
            "webhooks",
        ],
        help="run only these parts",
    )
    args = parser.parse_args()
    if not wrk_available():
        sys.exit("wrk is not installed: apt-get install -y wrk (it drives the predict load)")
    plan = Plan.make(args.quick)
    default = ["embedded", "steps", "workers", "blas", "services", "registry", "webhooks"]
    parts = set(args.only or default)
    started = time.monotonic()
    machine()
    results = sections.Results()
    if "steps" in parts:
        predict_steps_part(plan, results)
    with tempfile.TemporaryDirectory(prefix="neuronal-bench-") as folder:
        root = Path(folder)
        if parts & {"embedded", "predict", "ingest", "workers", "blas", "overhead"}:
            state = sections.embedded(root / "embedded", plan, results, parts=parts)
            if "workers" in parts:
                sections.two_api_processes(state, plan, results)
            if "blas" in parts:
                sections.blas_threads(state, plan, results)
        if parts & {"services", "overhead"}:
            if services_available():
                only = "services" not in parts
                sections.postgres_redis(root / "services", plan, results, only_overhead=only)
            else:
                print("PostgreSQL + Redis: skipped (nothing answers on 127.0.0.1:5432 / :6379)\n")
        if "registry" in parts:
            registry.run(root / "registry", plan.quick, results)
    if "webhooks" in parts:
        if services_available():
            from benchmarks import webhook_lag

            webhook_lag.run(30 if plan.quick else 100, results)
        else:
            print("webhooks: skipped (nothing answers on 127.0.0.1:5432 / :6379)\n")
    results.summary()
    print(f"\nwhole run {time.monotonic() - started:.0f} s; load {load_average()}")


if __name__ == "__main__":
    main()
