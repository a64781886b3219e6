"""Load on the real service, bounded in count and time, loopback only.

Run: `.venv/bin/python benchmarks/load_test.py` (needs `wrk`; PostgreSQL and Redis on
127.0.0.1 are used when they answer, else the embedded default).

1. 200 small jobs submitted concurrently by 20 clients: every job must end `succeeded`, with
   exactly one model and one metrics row per epoch; nothing is duplicated.
2. 32 concurrent clients (wrk connections) on `POST /v1/models/{id}/predict` for 30 s: zero
   errors; p50/p95/p99 and req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import jobs  # noqa: E402
from benchmarks.load import LUA, wrk_available  # noqa: E402
from benchmarks.stack import HOST, Stack, postgres_and_redis, running, services_available  # noqa: E402
from benchmarks.workloads import digits, table_csv  # noqa: E402

SMALL_NETWORK = {"layers": [{"units": 16, "activation": "relu"}]}
SMALL_TRAINING = {
    "epochs": 5,
    "batch_size": 64,
    "optimizer": {"name": "adam", "learning_rate": 0.01},
}


def many_jobs(stack: Stack, csv: bytes, *, clients: int, per_client: int) -> bool:
    """Each client is its own tenant and submits its jobs concurrently with the others."""
    keys = [stack.create_key(f"load-{i}") for i in range(clients)]

    def one_client(key: str) -> list[str]:
        with jobs.client(stack.port, key) as http:
            dataset = jobs.upload(http, "digits.csv", csv)
            ids = []
            for n in range(per_client):
                answer = http.post(
                    "/v1/jobs",
                    json={"dataset_id": dataset["id"], "network": SMALL_NETWORK,
                          "training": SMALL_TRAINING},
                    headers={"Idempotency-Key": f"submission-{n}"},
                )  # fmt: skip
                if answer.status_code != 202:
                    raise RuntimeError(
                        f"POST /v1/jobs answered {answer.status_code}: {answer.text}"
                    )
                ids.append(answer.json()["id"])
            return ids

    start = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        submitted = list(pool.map(one_client, keys))
    submit_seconds = time.monotonic() - start
    total = clients * per_client
    print(f"  submitted {total} jobs from {clients} clients in {submit_seconds:.1f} s")
    finished = [_wait_all(stack.port, key, ids) for key, ids in zip(keys, submitted, strict=True)]
    elapsed = time.monotonic() - start
    statuses = [job["status"] for group in finished for job in group["jobs"]]
    ok = statuses.count("succeeded")
    attempts = [job["attempts"] for group in finished for job in group["jobs"]]
    models = sum(group["models"] for group in finished)
    model_jobs = {j for group in finished for j in group["model_jobs"]}
    listed = sum(group["listed"] for group in finished)
    metric_rows_ok = all(group["metrics_ok"] for group in finished)
    print(f"  all finished after {elapsed:.1f} s ({total / elapsed * 60:.0f} jobs/min)")
    print(f"  succeeded {ok}/{total}; jobs listed {listed}; models {models} for "
          f"{len(model_jobs)} distinct jobs; attempts max {max(attempts)}; "
          f"one metrics row per epoch: {metric_rows_ok}")  # fmt: skip
    passed = ok == total == listed == models == len(model_jobs) and metric_rows_ok
    print(f"  result: {'PASS' if passed else 'FAIL'} (all succeeded, none duplicated)")
    return passed


def _wait_all(port: int, key: str, ids: list[str]) -> dict[str, Any]:
    with jobs.client(port, key) as http:
        finished = [jobs.wait(http, job_id, timeout=900) for job_id in ids]
        models = http.get("/v1/models", params={"limit": 500}).json()["items"]
        listed = len(http.get("/v1/jobs", params={"limit": 500}).json()["items"])
        metrics_ok = all(
            [m["epoch"] for m in http.get(f"/v1/jobs/{job_id}/metrics").json()["items"]]
            == list(range(1, SMALL_TRAINING["epochs"] + 1))
            for job_id in ids
        )
    return {
        "jobs": finished,
        "models": len(models),
        "model_jobs": [m["job_id"] for m in models],
        "listed": listed,
        "metrics_ok": metrics_ok,
    }


def predict_load(stack: Stack, csv: bytes, *, connections: int, seconds: int) -> bool:
    key = stack.create_key("predict-load")
    with jobs.client(stack.port, key) as http:
        dataset = jobs.upload(http, "digits.csv", csv)
        job = jobs.submit(http, dataset["id"], {"layers": [{"units": 64, "activation": "relu"}]},
                          {"epochs": 10, "batch_size": 32})  # fmt: skip
        model_id = jobs.succeeded(http, job["id"], timeout=300)["model_id"]
        X, _ = digits()
        body = json.dumps({"inputs": [X[0].tolist()]}).encode()
        assert (
            http.post(
                f"/v1/models/{model_id}/predict",
                content=body,
                headers={"content-type": "application/json"},
            ).status_code
            == 200
        )
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        env = {**os.environ, "WRK_BODY_FILE": body_file.name, "WRK_KEY": key}
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", str(LUA),
             f"http://{HOST}:{stack.port}/v1/models/{model_id}/predict"],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    elapsed = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    print(f"  {connections} clients for {elapsed:.1f} s: {figures['requests']:,} requests, "
          f"{figures['requests'] / elapsed:,.0f} req/s, p50 {figures['p50_us'] / 1000:.2f} ms, "
          f"p95 {figures['p95_us'] / 1000:.2f} ms, p99 {figures['p99_us'] / 1000:.2f} ms, "
          f"max {figures['max_us'] / 1000:.2f} ms, errors {errors}")  # fmt: skip
    print(f"  result: {'PASS' if errors == 0 else 'FAIL'} (zero errors)")
    return errors == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    if not wrk_available():
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    X, y = digits()
    csv = table_csv(X, y)
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    with ExitStack() as scope, tempfile.TemporaryDirectory(prefix="neuronal-load-") as folder:
        production = services_available()
        env = scope.enter_context(postgres_and_redis()) if production else {}
        # the per-tenant caps (tested in tests/security) would turn this load into 429s
        env["NEURONAL_MAX_RUNNING_JOBS_PER_TENANT"] = "1000"
        env["NEURONAL_RATE_LIMIT_PER_MINUTE"] = "100000000"
        print("per-tenant job and request-rate limits raised for this run")
        stack = Stack(Path(folder), env, embedded=not production)
        where = "PostgreSQL + Redis" if production else "the embedded default"
        with running(stack):
            if production:
                for _ in range(args.workers):
                    stack.start_worker()
            print(f"== {args.jobs} small jobs from {args.clients} concurrent clients, on {where}"
                  f" ({args.workers if production else 1} worker process(es))")  # fmt: skip
            jobs_ok = many_jobs(stack, csv, clients=args.clients,
                                per_client=args.jobs // args.clients)  # fmt: skip
            print(f"== {32} concurrent clients on /predict for {args.seconds} s, on {where}")
            predict_ok = predict_load(stack, csv, connections=32, seconds=args.seconds)
    return 0 if jobs_ok and predict_ok else 1


if __name__ == "__main__":
    sys.exit(main())
