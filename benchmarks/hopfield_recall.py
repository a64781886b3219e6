"""Hopfield recall through HTTP: one BLAS thread in the API process against OpenBLAS's default.

Run: `.venv/bin/python benchmarks/hopfield_recall.py` (`--repeats N`). Two `neuronal serve`
processes share one embedded data directory: A with `NEURONAL_API_BLAS_THREADS=1` (the
default) and B with as many BLAS threads as the machine has cores (OpenBLAS's own default).
Both answer `POST /v1/models/{id}/recall` of 100 noisy probes (10% of bits flipped) of a
100-unit network storing 10 patterns, in alternation, first on an idle machine, then while
the embedded worker trains a job on the same cores, as it does in production on one host.
Prints the median and p90 wall time of each and the ratio B / A.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.stack import Http, Stack, port_open, running, wait_until  # noqa: E402

N_UNITS, N_STORED, N_PROBES, NOISE = 100, 10, 100, 0.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"cores {cores}; load average before: {os.getloadavg()[0]:.2f}")
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 2, size=(N_STORED, N_UNITS))
    probes = np.repeat(patterns, N_PROBES // N_STORED, axis=0)
    probes = np.where(rng.random(probes.shape) < NOISE, 1 - probes, probes)
    body = json.dumps({"patterns": probes.tolist()}).encode()
    with tempfile.TemporaryDirectory(prefix="neuronal-hopfield-bench-") as folder:
        one = Stack(Path(folder), {"NEURONAL_API_BLAS_THREADS": "1"})
        with running(one):
            key = one.create_key("bench")
            http = Http(one.port, key)
            model_id = store(http, patterns)
            default = Stack(Path(folder), {"NEURONAL_API_BLAS_THREADS": str(cores)}, embedded=False)
            with running(default):
                wait_until(lambda: port_open(default.port), timeout=60, what="the second API")
                contenders = {
                    "1 thread": Http(one.port, key),
                    f"{cores} threads": Http(default.port, key),
                }
                path = f"/v1/models/{model_id}/recall"
                for client in contenders.values():  # load the model in both processes
                    check(client.request("POST", path, body))
                report("idle", measure(contenders, path, body, args.repeats))
                http = Http(one.port, key)  # the first connection has idled past keep-alive
                job = busy_job(http)
                try:
                    contenders = {name: Http(c.conn.port, key) for name, c in contenders.items()}
                    report("while the worker trains", measure(contenders, path, body, args.repeats))
                finally:
                    Http(one.port, key).json("POST", f"/v1/jobs/{job}/cancel", expect=202)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def store(http: Http, patterns: np.ndarray) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"u{j}" for j in range(N_UNITS)])
    writer.writerows(patterns.tolist())
    dataset = upload(http, out.getvalue().encode())
    job = http.json("POST", "/v1/jobs", {"dataset_id": dataset, "network": {"kind": "hopfield"}},
                    expect=202)  # fmt: skip
    done = wait_until(lambda: finished(http, job["id"]), timeout=120, what="the Hopfield job")
    return str(done["model_id"])


def busy_job(http: Http) -> str:
    """A long training job of a 256-wide MLP on 20 000 random rows, to keep the worker busy."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_000, 32)).round(3)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*(f"x{j}" for j in range(32)), "y"])
    writer.writerows([*row, int(row[0] > 0)] for row in X.tolist())
    dataset = upload(http, out.getvalue().encode())
    spec = {"dataset_id": dataset, "network": {"layers": [{"units": 256}, {"units": 256}]},
            "training": {"epochs": 1000, "batch_size": 64}}  # fmt: skip
    job = http.json("POST", "/v1/jobs", spec, expect=202)["id"]
    wait_until(lambda: status(http, job) == "running", timeout=60, what="the busy job to start")
    time.sleep(1.0)
    return str(job)


def upload(http: Http, content: bytes) -> str:
    boundary = "neuronalbench"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    code, _, data = http.request(
        "POST", "/v1/datasets", body, f"multipart/form-data; boundary={boundary}"
    )
    if code != 201:
        raise RuntimeError(f"upload answered {code}: {data[:300]!r}")
    return str(json.loads(data)["id"])


def status(http: Http, job: str) -> str:
    return str(http.json("GET", f"/v1/jobs/{job}")["status"])


def finished(http: Http, job: str) -> dict | None:
    found = http.json("GET", f"/v1/jobs/{job}")
    return found if found["status"] in ("succeeded", "failed", "cancelled") else None


def check(answer: tuple[int, dict, bytes]) -> None:
    code, _, data = answer
    if code != 200:
        raise RuntimeError(f"recall answered {code}: {data[:300]!r}")


def measure(
    contenders: dict[str, Http], path: str, body: bytes, repeats: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, client in contenders.items():
            started = time.perf_counter()
            check(client.request("POST", path, body))
            times[name].append(time.perf_counter() - started)
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nrecall of {N_PROBES} probes x {N_UNITS} units over HTTP, {title}:")
    for name, values in times.items():
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
        print(f"  {name:>10}: median {medians[name] * 1000:8.1f} ms   p90 {p90 * 1000:8.1f} ms")
    first, other = list(medians.values())
    print(f"  ratio (default threads / 1 thread): {other / first:.1f}x")


if __name__ == "__main__":
    main()
