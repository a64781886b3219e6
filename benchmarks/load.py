"""Load generation for the service benchmark: sequential requests over one keep-alive
connection, and `wrk` with many connections. Every loop is bounded in count and time."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.stack import HOST, Http

LUA = Path(__file__).resolve().parent / "post.lua"


@dataclass(frozen=True)
class Sequential:
    count: int
    p50_ms: float
    p99_ms: float
    errors: int
    server_ms: float | None  # median of the Server-Timing `predict` figure, when sent

    def line(self) -> str:
        server = f", server {self.server_ms:.3f} ms" if self.server_ms is not None else ""
        return (
            f"p50 {self.p50_ms:.3f} ms  p99 {self.p99_ms:.3f} ms  ({self.count} requests, "
            f"{self.errors} errors{server})"
        )


@dataclass(frozen=True)
class Concurrent:
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self) -> str:
        return (
            f"{self.rps:,.0f} req/s  p50 {self.p50_ms:.2f} ms  p99 {self.p99_ms:.2f} ms  "
            f"({self.requests:,} requests in {self.seconds:.1f} s over {self.connections} "
            f"connections, {self.errors} errors)"
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def server_timing(header: str | None, name: str = "predict") -> float | None:
    """The `dur` (ms) of metric `name` in a Server-Timing header."""
    for part in (header or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0] == name:
            for field in fields[1:]:
                if field.startswith("dur="):
                    return float(field[4:])
    return None


def sequential(
    port: int, path: str, body: bytes, key: str | None, *, count: int, max_seconds: float
) -> Sequential:
    """`count` requests one after another (after a warm-up), stopping early at `max_seconds`."""
    client = Http(port, key)
    try:
        for _ in range(min(50, count)):
            client.request("POST", path, body)
        latencies: list[float] = []
        servers: list[float] = []
        errors = 0
        deadline = time.monotonic() + max_seconds
        for _ in range(count):
            start = time.perf_counter()
            status, headers, _ = client.request("POST", path, body)
            latencies.append((time.perf_counter() - start) * 1000)
            errors += status != 200
            figure = server_timing(headers.get("server-timing"))
            if figure is not None:
                servers.append(figure)
            if time.monotonic() > deadline:
                break
    finally:
        client.close()
    return Sequential(
        len(latencies),
        percentile(latencies, 50),
        percentile(latencies, 99),
        errors,
        statistics.median(servers) if servers else None,
    )


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def concurrent(
    port: int, path: str, body: bytes, key: str | None, *, connections: int, seconds: float
) -> Concurrent:
    """`wrk` with `connections` keep-alive connections for `seconds` (one wrk thread, so the
    load generator takes one core at most)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as body_file:
        body_file.write(body)
        body_file.flush()
        env = {**os.environ, "WRK_BODY_FILE": body_file.name, "WRK_KEY": key or ""}
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
             "-s", str(LUA), f"http://{HOST}:{port}{path}"],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON "))
    figures = json.loads(line.removeprefix("WRKJSON "))
    elapsed = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Concurrent(
        connections,
        elapsed,
        figures["requests"],
        figures["requests"] / elapsed,
        figures["p50_us"] / 1000,
        figures["p99_us"] / 1000,
        errors,
    )


def combined(runs: list[Concurrent]) -> Concurrent:
    """Several runs as one: their total rate, the median p50 and the worst p99."""
    seconds = sum(run.seconds for run in runs)
    requests = sum(run.requests for run in runs)
    return Concurrent(
        runs[0].connections,
        seconds,
        requests,
        requests / seconds,
        statistics.median(run.p50_ms for run in runs),
        max(run.p99_ms for run in runs),
        sum(run.errors for run in runs),
    )
