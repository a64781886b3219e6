"""The run harness in process, on a real database, through the steps that plug into it: the
time limit, a worker shutting down, a step's bad input, an attempt fenced out mid-run, and a
cancel that arrives after the last progress write."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from service.core.config import Settings
from service.core.db import transaction
from service.core.tables import PredictionJob, TrainingJob
from service.engine import Model
from tests.worker.conftest import N_ROWS
from tests.worker.test_batch_predictions import add_job, job
from tests.worker.test_reaper import add_job as add_training_job
from tests.worker.test_reaper import status_of
from worker.batch_predictions import PREDICTION, BatchPrediction, run_batch
from worker.fencing import SHUTDOWN
from worker.harness import Ending, Run, run_attempt
from worker.training import run_job

SENT: list[str] = []


def record(job_id: str) -> bool:
    """Stands in for the broker: the ids a hand-back puts on the queue again."""
    SENT.append(job_id)
    return True


Columns = dict[str, np.ndarray]
Queue = Callable[[str], str]


@pytest.fixture
def queue(settings: Settings, model: Model, columns: Columns) -> Queue:
    """Queues a batch prediction of `columns` by `model` under the id given; returns it."""
    return lambda job_id: add_job(model, columns, job_id)


def attempt(job_id: str, step: BatchPrediction, settings: Settings) -> str:
    """One attempt of the prediction job by worker "w" through `step`."""
    return run_attempt(PREDICTION, job_id, worker="w", settings=settings, enqueue=record,
                       step_for=lambda _session, _run: step)  # fmt: skip


def test_the_time_limit_fails_the_job_after_a_chunk(queue: Queue, settings: Settings) -> None:
    job_id = queue("pj_slow")
    hurried = settings.model_copy(update={"job_time_limit_seconds": 0.0})
    outcome = run_batch(job_id, worker="w", settings=hurried, enqueue=record, chunk_rows=40)
    assert outcome == "time_limit"
    ended = job(job_id)
    assert (ended.status, ended.error_code, ended.rows_done) == ("failed", "time_limit", 40)
    assert "after 40 of 150 rows" in (ended.error or "") and ended.output_data is None


def test_a_worker_shutting_down_claims_nothing(queue: Queue, settings: Settings) -> None:
    job_id = queue("pj_declined")
    SHUTDOWN.set()
    try:
        assert run_batch(job_id, worker="w", settings=settings, enqueue=record) == "skipped"
    finally:
        SHUTDOWN.clear()
    declined = job(job_id)
    assert (declined.status, declined.attempts, declined.enqueued_at) == ("queued", 0, None)


class ShutdownAfterFirstChunk(BatchPrediction):
    """The real batch step, with the worker's shutdown beginning during its first chunk."""

    def _stop_after(self, run: Run, rows_done: int, n_rows: int) -> bool:
        SHUTDOWN.set()
        return super()._stop_after(run, rows_done, n_rows)


def test_a_run_stopped_by_shutdown_is_handed_back_without_spending_an_attempt(
    queue: Queue, settings: Settings
) -> None:
    job_id = queue("pj_handed_back")
    step = ShutdownAfterFirstChunk(chunk_rows=40)
    try:
        outcome = attempt(job_id, step, settings)
    finally:
        SHUTDOWN.clear()
    assert outcome == Ending.HANDED_BACK == "handed_back"
    back = job(job_id)
    assert (back.status, back.attempts, back.rows_done, back.worker) == ("queued", 0, 0, None)
    assert SENT[-1] == job_id  # put on the queue again
    assert run_batch(job_id, worker="w2", settings=settings, enqueue=record) == "succeeded"
    assert job(job_id).rows_done == N_ROWS and job(job_id).attempts == 1


class CancelledAtTheEnd(BatchPrediction):
    """The real batch step; the tenant cancels after the last chunk's progress was written."""

    def execute(self, run: Run) -> tuple[bytes, int]:
        result = super().execute(run)
        with transaction() as session:
            found = session.get(PredictionJob, run.job_id)
            assert found is not None
            found.cancel_requested = True
        return result


def test_a_cancel_after_the_last_progress_write_is_honoured(
    queue: Queue, settings: Settings
) -> None:
    job_id = queue("pj_late_cancel")
    step = CancelledAtTheEnd(chunk_rows=N_ROWS)
    outcome = attempt(job_id, step, settings)
    assert outcome == "cancelled"
    ended = job(job_id)
    assert ended.status == "cancelled" and ended.output_data is None


class FencedOutMidRun(BatchPrediction):
    """The real batch step; the reaper gives the job to another attempt during chunk one."""

    def _stop_after(self, run: Run, rows_done: int, n_rows: int) -> bool:
        with transaction() as session:
            found = session.get(PredictionJob, run.job_id)
            assert found is not None
            found.attempts += 1
        return super()._stop_after(run, rows_done, n_rows)


def test_an_attempt_fenced_out_mid_run_writes_nothing_more(
    queue: Queue, settings: Settings
) -> None:
    job_id = queue("pj_fenced")
    step = FencedOutMidRun(chunk_rows=40)
    outcome = attempt(job_id, step, settings)
    assert outcome == "lost"
    taken = job(job_id)
    assert (taken.status, taken.attempts, taken.rows_done) == ("running", 2, 0)


def test_a_training_job_whose_data_set_is_gone_fails_with_the_steps_code(
    settings: Settings,
) -> None:
    job_id = add_training_job("queued", 0, 0)  # its data set ds_1 does not exist
    assert run_job(job_id, worker="w", settings=settings, enqueue=record) == "failed"
    failed: TrainingJob = status_of(job_id)
    assert (failed.status, failed.error_code, failed.attempts) == ("failed", "training_error", 1)
    assert "has been deleted" in (failed.error or "")
    assert run_job(job_id, worker="w", settings=settings, enqueue=record) == "skipped"
