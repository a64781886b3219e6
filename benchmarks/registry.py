"""Predict by alias against predict by id, in the same run, on the same cached model.

Part `registry` of `benchmarks/service.py` (`--only registry`), which calls `run`; alone:
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/registry.py`
(`--quick` for a shorter run). Starts the embedded default, trains the digits model
(64-64-10), registers it as version 1 of `digits` with the alias `production`, then measures
`POST /v1/models/{id}/predict`, `.../aliases/production/predict` and `.../versions/1/predict`
with one row: sequential p50 (one request to each in turn), and 32 `wrk` connections in rounds
whose order rotates, so that a change in background load hits each alike. Targets (issue 15):
predict by alias within 10% of predict by id, in p50 and in throughput.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import jobs, load, sections, workloads  # noqa: E402
from benchmarks.stack import Http, Stack, running  # noqa: E402

ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (about a minute)")
    args = parser.parse_args()
    if not load.wrk_available():
        sys.exit("wrk is not installed: apt-get install -y wrk (it drives the predict load)")
    results = sections.Results()
    with tempfile.TemporaryDirectory(prefix="neuronal-bench-registry-") as folder:
        run(Path(folder), args.quick, results)
    results.summary()
    print(f"\n{sections.loadavg()}")


def run(folder: Path, quick: bool, results: sections.Results) -> None:
    """The registry part of the service benchmark: its own embedded stack in `folder`."""
    count, seconds = (300, 6.0) if quick else (1000, 18.0)
    sections.header("registry: predict by id, by alias and by version, digits model, 1 row")
    stack = Stack(folder, sections.BENCH_ENV)
    with running(stack):
        key = stack.create_key("bench-registry")
        paths = prepare(stack, key)
        compare(stack.port, key, paths, count, seconds, results)
    print()


def prepare(stack: Stack, key: str) -> dict[str, str]:
    X, y = workloads.digits()
    with jobs.client(stack.port, key) as http:
        dataset = jobs.upload(http, "digits.csv", workloads.table_csv(X, y))
        job = jobs.submit(
            http, dataset["id"], workloads.DIGITS_NETWORK, workloads.digits_training()
        )
        model_id = jobs.succeeded(http, job["id"], timeout=300)["model_id"]
        http.post("/v1/registered-models", json={"name": "digits"}).raise_for_status()
        http.post(
            "/v1/registered-models/digits/versions", json={"model_id": model_id}
        ).raise_for_status()
        http.put(
            "/v1/registered-models/digits/aliases/production", json={"version": 1}
        ).raise_for_status()
    return {
        "id": f"/v1/models/{model_id}/predict",
        "alias": "/v1/registered-models/digits/aliases/production/predict",
        "version": "/v1/registered-models/digits/versions/1/predict",
    }


def compare(
    port: int,
    key: str,
    paths: dict[str, str],
    count: int,
    seconds: float,
    results: sections.Results,
) -> None:
    body = sections.digits_body()
    p50, errors = interleaved(port, key, paths, body, count)
    runs: dict[str, list[load.Concurrent]] = {name: [] for name in paths}
    names = list(paths)
    for round_ in range(ROUNDS * 2):  # each path first, middle and last in turn
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            runs[name].append(
                load.concurrent(
                    port, paths[name], body, key, connections=32, seconds=seconds / ROUNDS / 2
                )
            )
    wrk = {name: load.combined(r) for name, r in runs.items()}
    for name in paths:
        print(f"  by {name:8} sequential p50 {p50[name]:.3f} ms; 32 connections {wrk[name].line()}")
        failed = errors[name] + wrk[name].errors
        results.check(f"errors, predict by {name}", str(failed), "0", failed == 0)
    for name in ("alias", "version"):
        p50_ratio = p50[name] / p50["id"]
        rps_ratio = wrk[name].rps / wrk["id"].rps
        results.check(
            f"predict by {name} p50 vs by id", f"{p50_ratio:.3f}x ({p50[name]:.3f} vs "
            f"{p50['id']:.3f} ms)", "<= 1.10x", p50_ratio <= 1.10,
        )  # fmt: skip
        results.check(
            f"predict by {name} throughput vs by id", f"{rps_ratio:.3f}x ({wrk[name].rps:,.0f} "
            f"vs {wrk['id'].rps:,.0f} req/s)", ">= 0.90x", rps_ratio >= 0.90,
        )  # fmt: skip


def interleaved(
    port: int, key: str, paths: dict[str, str], body: bytes, count: int
) -> tuple[dict[str, float], dict[str, int]]:
    """Sequential latency, one request to each path in turn on one connection, so that a
    change in background load hits every path alike: each path's p50 and its errors."""
    client = Http(port, key)
    latencies: dict[str, list[float]] = {name: [] for name in paths}
    errors = dict.fromkeys(paths, 0)
    try:
        for i in range(count + 50):  # the first 50 warm up
            for name, path in paths.items():
                start = time.perf_counter()
                status, _, _ = client.request("POST", path, body)
                if i >= 50:
                    latencies[name].append((time.perf_counter() - start) * 1000)
                    errors[name] += status != 200
    finally:
        client.close()
    return {name: load.percentile(values, 50) for name, values in latencies.items()}, errors


if __name__ == "__main__":
    main()
