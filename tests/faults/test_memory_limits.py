"""The per-job memory budget and time limit: refused at submission with a 422 that says what
to lower, checked again by the worker before it loads anything, and enforced in the worker
process so a job the estimate got wrong fails cleanly while the worker lives on."""

from __future__ import annotations

import numpy as np
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.servers import finished, submit, synthetic_csv, upload

pytestmark = pytest.mark.faults

MiB = 1 << 20


def test_a_job_over_the_memory_budget_is_refused(make_stack: MakeStack) -> None:
    stack = make_stack(NEURONAL_MAX_JOB_MEMORY_BYTES=str(256 * MiB))
    stack.start(workers=1)
    with stack.client(stack.create_key("memory")) as client:
        dataset_id = upload(client, synthetic_csv(20_000))
        body = {
            "dataset_id": dataset_id,
            "network": {"layers": [{"units": 1024}, {"units": 1024}]},
            "training": {"epochs": 1, "batch_size": "full", "dtype": "float64"},
        }
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        for words in ("of memory", "256 MiB per job", "training.batch_size", '"float32"'):
            assert words in detail, detail
        body["training"] = {"epochs": 1, "batch_size": 64, "dtype": "float32"}
        job = finished(client, submit(client, body), timeout=120)
        assert job["status"] == "succeeded", job


def wide_csv(rows: int, columns: int) -> bytes:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(rows, columns)).round(3)
    header = ",".join(f"x{i}" for i in range(columns)) + ",label"
    lines = [header] + [",".join(map(str, x)) + f",{'yn'[int(x[0] > 0)]}" for x in X]
    return ("\n".join(lines) + "\n").encode()


def test_a_job_whose_folds_are_over_the_memory_budget_is_refused(make_stack: MakeStack) -> None:
    """A fold holds every row as loaded and trains on a copy of 9/10 of them: with 10 folds
    the largest task is a fold (about 27 MiB here), not the final training (about 22 MiB)."""
    stack = make_stack(NEURONAL_MAX_JOB_MEMORY_BYTES=str(24 * MiB))
    stack.start_api()
    with stack.client(stack.create_key("fold-memory")) as client:
        dataset_id = upload(client, wide_csv(5000, 200))
        body = {"dataset_id": dataset_id, "network": {"layers": [{"units": 8}]},
                "training": {"epochs": 1, "batch_size": 64}}  # fmt: skip
        assert client.post("/v1/jobs", json=body).status_code == 202  # the final task fits
        body["training"]["cross_validation"] = {"folds": 10}
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert "of memory" in detail and "24 MiB per job" in detail, detail
        body["training"]["cross_validation"] = {"folds": 2}  # a fold of half the rows fits
        assert client.post("/v1/jobs", json=body).status_code == 202


def test_a_job_that_would_run_for_days_is_refused(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start_api()
    with stack.client(stack.create_key("days")) as client:
        dataset_id = upload(client, synthetic_csv(20_000))
        body = {
            "dataset_id": dataset_id,
            "network": {"layers": [{"units": 4096}, {"units": 4096}]},
            "training": {"epochs": 10_000, "batch_size": 1},
        }
        answer = client.post("/v1/jobs", json=body)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert "days" in problem["detail"] and "training.epochs" in problem["detail"], problem
        assert problem["errors"][0]["loc"] == ["training", "epochs"]


def test_the_worker_checks_its_own_budget(make_stack: MakeStack) -> None:
    stack = make_stack()  # the API's budget is the default; this worker's is smaller
    stack.start_api()
    stack.ready_worker(NEURONAL_MAX_JOB_MEMORY_BYTES=str(64 * MiB))
    with stack.client(stack.create_key("worker-budget")) as client:
        body = {
            "dataset_id": upload(client, synthetic_csv(20_000)),
            "network": {"layers": [{"units": 1024}, {"units": 1024}]},
            "training": {"epochs": 1, "batch_size": "full"},
        }
        job = finished(client, submit(client, body), timeout=60)
    assert job["status"] == "failed" and job["error_code"] == "memory_limit", job
    assert "64 MiB per job" in job["error"] and job["progress"]["epoch"] == 0, job


def long_label_csv(rows: int) -> bytes:
    """Short labels, and one so long that every row's decoded cell is 20 kB (the summary's
    most frequent labels, all the estimate sees, are short)."""
    rng = np.random.default_rng(4)
    labels = [f"k{i}" for i in range(20)]
    lines = ["kind,x,label"]
    for r in range(rows):
        kind = "z" * 5000 if r == rows // 2 else labels[r % 20]
        lines.append(f"{kind},{rng.normal():.3f},{'yn'[r % 2]}")
    return ("\n".join(lines) + "\n").encode()


def test_a_job_the_estimate_got_wrong_fails_cleanly(make_stack: MakeStack) -> None:
    stack = make_stack()
    stack.start_api()
    worker = stack.ready_worker(NEURONAL_MAX_JOB_MEMORY_BYTES=str(100 * MiB))
    with stack.client(stack.create_key("long-labels")) as client:
        body = {
            "dataset_id": upload(client, long_label_csv(20_000)),
            "network": {"layers": [{"units": 8}]},
            "training": {"epochs": 1},
        }
        job = finished(client, submit(client, body), timeout=60)
        assert job["status"] == "failed" and job["error_code"] == "memory_limit", job
        assert "ran out of the memory" in job["error"] and "batch_size" in job["error"], job
        assert worker.poll() is None  # the worker lives on and trains the next job
        small = {**body, "dataset_id": upload(client, synthetic_csv(500))}
        assert finished(client, submit(client, small), timeout=60)["status"] == "succeeded"
    assert "Traceback" not in stack.worker_log(worker)
