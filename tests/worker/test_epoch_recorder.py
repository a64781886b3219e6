"""Epoch rows are written together on a time budget, one row per epoch, with the checkpoint
and at the end (the last epochs' rows in the attempt's final transaction); a cancel is seen at
the next write."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from service.core.config import Settings
from service.core.db import transaction
from service.core.tables import EpochMetric, JobCheckpoint, TrainingJob
from tests.worker.test_reaper import add_job
from worker.training import EpochRecorder


@dataclass
class Progress:
    """What the engine hands `on_epoch`."""

    epoch: int
    epochs: int
    stopped: list[int] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float | int]:
        return {
            "epoch": self.epoch,
            "train_loss": 1.0 / self.epoch,
            "learning_rate": 0.01,
            "seconds": 0.01,
        }

    def checkpoint(self) -> bytes:
        return f"state of epoch {self.epoch}".encode()

    def stop(self) -> None:
        self.stopped.append(self.epoch)


def running_job() -> str:
    job_id = add_job("running", 1, 0)
    return job_id


def rows_of(job_id: str) -> list[int]:
    with transaction() as session:
        return list(
            session.scalars(
                select(EpochMetric.epoch)
                .where(EpochMetric.job_id == job_id)
                .order_by(EpochMetric.epoch)
            )
        )


def recorder(settings: Settings, job_id: str, **changes: float) -> EpochRecorder:
    return EpochRecorder(job_id, 1, settings.model_copy(update=changes))


def test_rows_wait_for_the_interval_and_all_arrive_at_the_end(
    settings: Settings,
) -> None:
    job_id = running_job()
    record = recorder(settings, job_id, progress_interval_seconds=3600)
    for epoch in (1, 2):
        record(Progress(epoch, 3))
    assert rows_of(job_id) == []  # nothing written yet: the interval has not passed
    record(Progress(3, 3))
    assert rows_of(job_id) == []  # the last epoch's rows go with the attempt's final write
    with transaction() as session:
        record.add_pending(session)
    assert rows_of(job_id) == [1, 2, 3]
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None and job.epoch == 3 and job.metrics["epoch"] == 3


def test_even_a_due_write_leaves_the_last_epoch_to_the_end(
    settings: Settings,
) -> None:
    job_id = running_job()
    record = recorder(settings, job_id, progress_interval_seconds=0)
    record(Progress(1, 2))
    record(Progress(2, 2))
    assert rows_of(job_id) == [1] and [row["epoch"] for row in record.pending] == [2]


def test_every_epoch_is_written_with_no_interval(settings: Settings) -> None:
    job_id = running_job()
    record = recorder(settings, job_id, progress_interval_seconds=0)
    for epoch in (1, 2):
        record(Progress(epoch, 5))
        assert rows_of(job_id) == list(range(1, epoch + 1))


def test_a_checkpoint_carries_the_rows_before_it(settings: Settings) -> None:
    job_id = running_job()
    record = recorder(
        settings, job_id, progress_interval_seconds=3600, checkpoint_interval_seconds=0
    )
    record(Progress(1, 5))
    assert rows_of(job_id) == [1]
    with transaction() as session:
        checkpoint = session.get(JobCheckpoint, job_id)
        assert checkpoint is not None and checkpoint.epoch == 1


def test_flush_writes_what_an_early_stop_left(settings: Settings) -> None:
    job_id = running_job()
    record = recorder(settings, job_id, progress_interval_seconds=3600)
    record(Progress(1, 10))
    record(Progress(2, 10))
    record.flush()
    assert rows_of(job_id) == [1, 2]
    record.flush()  # nothing pending: nothing written twice
    assert rows_of(job_id) == [1, 2]


def test_a_cancel_is_seen_at_the_next_write(settings: Settings) -> None:
    job_id = running_job()
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.cancel_requested = True
    record = recorder(settings, job_id, progress_interval_seconds=3600)
    progress = Progress(1, 4)
    record(progress)
    assert record.outcome is None and progress.stopped == []
    record.last_write -= 7200  # the interval has passed: the next epoch writes
    later = Progress(2, 4)
    record(later)
    assert record.outcome == "cancelled" and later.stopped == [2]


@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_a_job_taken_by_another_attempt_writes_nothing(
    settings: Settings,
    interval: float,
) -> None:
    job_id = running_job()
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.attempts = 2  # claimed again elsewhere
    record = recorder(settings, job_id, progress_interval_seconds=interval)
    record(Progress(1, 3))
    record(Progress(2, 3))
    record.flush()  # the end of a run that did not succeed
    assert record.outcome == "lost"
    assert rows_of(job_id) == []
