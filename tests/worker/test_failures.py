"""How a training job ends when its step raises, run in process against a real database: the
user's own errors (a divergence, a deleted data set) fail it with their message and code; a
bug fails it as `internal`, with a message that tells the tenant nothing of the code, and its
traceback in the worker's JSON log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.core.config import Settings
from service.core.db import transaction
from service.core.logs import ContextFilter, JsonLines, logging_config
from service.core.tables import Dataset, Tenant, TrainingJob
from service.domain.datasets import create_dataset
from service.domain.jobs import create_job
from worker.failures import INTERNAL_MESSAGE
from worker.training import run_job

BUG = "operands could not be broadcast together with shapes (16,3) (16,2)"


def blobs_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    lines = ["a,b,label"]
    for i in range(120):
        centre = 2.0 if i % 2 else -2.0
        a, b = rng.normal(centre, 0.5, 2)
        lines.append(f"{a:.4f},{b:.4f},{'yes' if i % 2 else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def submit(
    settings: Settings,
    tmp_path: Path,
    training: dict[str, Any],
    activation: str = "tanh",
) -> str:
    """A classification job on a real uploaded data set, queued as the API queues it."""
    csv_path = blobs_csv(tmp_path / "blobs.csv")
    with transaction() as session:
        if session.get(Tenant, "ten_1") is None:
            session.add(Tenant(id="ten_1", name="t"))
            session.flush()
        dataset = create_dataset(
            session, "ten_1", csv_path, filename="blobs.csv", content_type="text/csv",
            name=None, target="label", size_bytes=csv_path.stat().st_size, sha256="0" * 64,
            max_rows=settings.max_dataset_rows, max_columns=settings.max_dataset_columns,
        )  # fmt: skip
        request = {
            "dataset_id": dataset.id,
            "network": {"layers": [{"units": 4, "activation": activation}]},
            "training": training,
        }
        job, _ = create_job(session, "ten_1", request, settings)
        return job.id


def ended(job_id: str) -> TrainingJob:
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return job


@pytest.fixture
def worker_log() -> Iterator[io.StringIO]:
    """The worker logger's records as the worker writes them: JSON lines with the job's
    fields (the formatter and filter of `logging_config`)."""
    spec = dict(logging_config(Settings())["formatters"]["json"])
    spec.pop("()")
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonLines(**spec))
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("neuronal.worker")
    logger.addHandler(handler)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)


def test_a_bug_in_a_step_fails_the_job_as_internal_with_the_traceback_logged(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    worker_log: io.StringIO,
) -> None:
    job_id = submit(settings, tmp_path, {"epochs": 3, "batch_size": 16})

    def broken(*args: Any) -> int:  # a plain ValueError, as numpy raises on a real bug
        raise ValueError(BUG)

    monkeypatch.setattr("service.engine.run.count_correct", broken)
    assert run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True) == "failed"
    job = ended(job_id)
    assert job.status == "failed" and job.error_code == "internal"
    assert job.error == INTERNAL_MESSAGE and "broadcast" not in job.error
    assert job.model_id is None
    records = [json.loads(line) for line in worker_log.getvalue().splitlines()]
    failures = [r for r in records if r["level"] == "ERROR"]
    assert len(failures) == 1, records
    logged = failures[0]
    assert logged["logger"] == "neuronal.worker" and logged["job_id"] == job_id
    assert logged["exc_info"].startswith("Traceback (most recent call last):")
    assert "in _epoch" in logged["exc_info"] and f"ValueError: {BUG}" in logged["exc_info"]


def test_a_divergence_fails_the_job_with_its_code_and_advice(
    settings: Settings,
    tmp_path: Path,
    worker_log: io.StringIO,
) -> None:
    training = {"epochs": 20, "optimizer": {"name": "sgd", "learning_rate": 1e6}}
    job_id = submit(settings, tmp_path, training, activation="relu")
    assert run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True) == "failed"
    job = ended(job_id)
    assert job.status == "failed" and job.error_code == "training_error"
    assert (job.error or "").startswith("Training diverged at epoch")
    assert "Lower the learning rate (now 1000000.0)" in (job.error or "")
    assert "ERROR" not in worker_log.getvalue()  # the user's fault is no bug to report


def test_a_data_set_deleted_before_the_run_is_the_users_error(
    settings: Settings,
    tmp_path: Path,
) -> None:
    job_id = submit(settings, tmp_path, {"epochs": 2})
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        dataset = session.get(Dataset, job.dataset_id)
        session.delete(dataset)
    assert run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True) == "failed"
    job = ended(job_id)
    assert job.error_code == "training_error"
    assert job.error == f"The dataset {job.dataset_id!r} of this job has been deleted."
