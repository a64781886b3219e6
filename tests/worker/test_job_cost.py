"""The memory estimate of service/domain/job_cost.py against the peak resident memory a real worker
process reaches training real jobs of a few shapes (the job's part: the worker's peak while
it trains minus its resident memory before)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from service.core.config import Settings
from service.domain.job_cost import estimate
from tests.stack import Stack, wait_for_job, wait_until

MiB = 1 << 20


def numeric_npz(rows: int, columns: int) -> bytes:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(rows, columns))
    buffer = io.BytesIO()
    np.savez(buffer, X=X, y=(X[:, 0] > 0).astype(np.int64))
    return buffer.getvalue()


def categorical_csv(rows: int, categories: int) -> bytes:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, categories, rows)
    x = rng.normal(size=(rows, 3)).round(3)
    lines = ["kind,a,b,c,label"] + [
        f"k{c},{a},{b},{d},{'yn'[c % 2]}" for c, (a, b, d) in zip(codes, x, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


SHAPES: dict[str, tuple[str, Any, dict[str, Any], dict[str, Any]]] = {
    # name: (file name, file bytes, network, training)
    "full batch float64": (
        "wide.npz", lambda: numeric_npz(8000, 16),
        {"layers": [{"units": 1024}, {"units": 1024}]},
        {"batch_size": "full", "dtype": "float64", "optimizer": {"name": "sgd"}},
    ),
    "many rows": (
        "long.npz", lambda: numeric_npz(150_000, 40),
        {"layers": [{"units": 32}]},
        {"batch_size": 256, "optimizer": {"name": "adam"}},
    ),
    "many parameters": (
        "deep.npz", lambda: numeric_npz(500, 64),
        {"layers": [{"units": 2048}, {"units": 2048}, {"units": 2048}]},
        {"batch_size": 50, "dtype": "float64", "optimizer": {"name": "adam"}},
    ),
    "one-hot inputs": (
        "kinds.csv", lambda: categorical_csv(60_000, 500),
        {"layers": [{"units": 64}]},
        {"batch_size": 32, "dtype": "float64", "optimizer": {"name": "momentum"}},
    ),
    # a fold holds every row as loaded besides its copy of 4/5 of them: its peak, not the
    # final training's, is the job's
    "cross-validated": (
        "folds.npz", lambda: numeric_npz(100_000, 60),
        {"layers": [{"units": 16}]},
        {"batch_size": 256, "optimizer": {"name": "adam"}, "cross_validation": {"folds": 5}},
    ),
}  # fmt: skip


def status(pid: int, field: str) -> int:
    """A `kB` figure of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("cost"), {}, embedded=True)
    stack.start_api()
    yield stack
    stack.stop()


def worker_pid(stack: Stack) -> int:
    assert stack.api is not None

    def find() -> int | None:
        assert stack.api is not None
        for proc in psutil.Process(stack.api.pid).children(recursive=True):
            if "celery" in " ".join(proc.cmdline()):
                return proc.pid
        return None

    pid: int = wait_until(find, timeout=30, what="the embedded worker")
    return pid


@pytest.mark.parametrize("shape", list(SHAPES))
def test_memory_estimate_is_near_the_measured_peak(stack: Stack, shape: str) -> None:
    name, data, network, training = SHAPES[shape]
    with stack.client(stack.create_key("cost")) as client:
        answer = client.post("/v1/datasets", files={"file": (name, data())})
        assert answer.status_code == 201, answer.text
        dataset = answer.json()
        pid = worker_pid(stack)
        wait_until(lambda: _idle(client), timeout=60, what="no job running")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak to the current RSS
        before = status(pid, "VmRSS")
        body = {"dataset_id": dataset["id"], "network": network,
                "training": {"epochs": 2, "validation_fraction": 0.1, **training}}  # fmt: skip
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 202, answer.text
        job = wait_for_job(client, answer.json()["id"], timeout=300)
        assert job["status"] == "succeeded", (job, stack.logs())
        measured = status(pid, "VmHWM") - before
    cost = estimate(SimpleNamespace(**dataset), job["network"], job["training"], job["task"],
                    Settings())  # fmt: skip
    ratio = cost.peak_bytes / measured
    print(f"{shape}: estimated {cost.peak_bytes / MiB:.0f} MiB, measured {measured / MiB:.0f} "
          f"MiB ({ratio:.2f}x)")  # fmt: skip
    assert 0.5 <= ratio <= 2.0, (shape, cost, measured)


def _idle(client: httpx.Client) -> bool:
    return not client.get("/v1/jobs", params={"status": "running"}).json()["items"]
