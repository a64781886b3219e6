"""One training attempt of one job: claim it, train with the engine, record every epoch, store
the model. Every write is fenced by (status, attempt) so a reclaimed or duplicate attempt can
never overwrite the attempt that owns the job."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, transaction, utcnow
from service.core.logs import bind_log_fields
from service.core.tables import Dataset, EpochMetric, JobCheckpoint, TrainingJob
from service.domain.datasets import TrainingData, load_training_data
from service.domain.trained_models import add_trained_model
from service.engine import Model, fit
from worker import fencing
from worker.fencing import SHUTDOWN, LostOwnership, retrying
from worker.hopfield_storage import is_hopfield_job, run_hopfield_job
from worker.memory_guard import out_of_memory_message, over_budget

log = logging.getLogger("neuronal.worker")


def run_job(job_id: str, *, worker: str, settings: Settings) -> str:
    """Train `job_id` if it can be claimed; returns what happened, for the logs."""
    attempt = claim(job_id, worker)
    if attempt is None:
        return "skipped"
    bind_log_fields(job_id=job_id, attempt=attempt)
    log.info("job %s attempt %d claimed by %s", job_id, attempt, worker)
    if retrying(lambda: is_hopfield_job(job_id)):
        return run_hopfield_job(job_id, attempt, settings)
    refusal = retrying(lambda: over_budget(job_id, settings))
    if refusal is not None:
        retrying(lambda: finish(job_id, attempt, "failed", error=refusal, code="memory_limit"))
        return "failed"
    recorder = EpochRecorder(job_id, attempt, settings)
    out_of_memory = False
    inputs: TrainingInputs | None = None
    try:
        with Heartbeat(job_id, attempt, settings.heartbeat_seconds):
            loading = time.perf_counter()
            inputs = retrying(lambda: _load_inputs(job_id))
            log.info("job %s inputs loaded in %.6f s", job_id, time.perf_counter() - loading)
            model, history = fit(
                inputs.data.X,
                inputs.data.y,
                inputs.network,
                inputs.training,
                task=inputs.task,
                features=inputs.data.features,
                on_epoch=recorder,
                resume=inputs.checkpoint,
                lengths=inputs.data.lengths,
                groups=inputs.data.groups,
            )
    except LostOwnership:
        return "lost"
    except MemoryError:  # over the process's limit: the arrays go with the exception
        out_of_memory = True
    except ValueError as exc:
        message = str(exc)
        recorder.flush()  # the epochs before the failure stay visible
        retrying(lambda: finish(job_id, attempt, "failed", error=message, code="training_error"))
        return "failed"
    if out_of_memory:
        inputs = None  # let the decoded data set go before writing the failure
        log.warning("job %s ran out of memory", job_id)
        recorder.flush()
        message = out_of_memory_message(settings)
        retrying(lambda: finish(job_id, attempt, "failed", error=message, code="memory_limit"))
        return "failed"
    recorder.flush()
    return retrying(lambda: _conclude(job_id, attempt, worker, recorder, model, history))


def _conclude(
    job_id: str,
    attempt: int,
    worker: str,
    recorder: EpochRecorder,
    model: Model,
    history: list[dict[str, Any]],
) -> str:
    if recorder.outcome == "lost":
        return "lost"
    if recorder.outcome == "cancelled":
        finish(job_id, attempt, "cancelled")
    elif recorder.outcome == "time_limit":
        finish(job_id, attempt, "failed", error=recorder.message, code="time_limit")
    elif recorder.outcome == "handed_back":
        hand_back(job_id, attempt, worker)
    else:
        store_model(job_id, attempt, model, history)
    return recorder.outcome or "succeeded"


def claim(job_id: str, worker: str) -> int | None:
    """queued → running, attempt + 1; None if the job is not waiting (a redelivery)."""
    return fencing.claim(TrainingJob, job_id, worker)


@dataclass(frozen=True)
class TrainingInputs:
    """Everything one attempt trains from: the data set's arrays, the job's spec, and the
    checkpoint of an earlier attempt to resume from (None to start afresh)."""

    data: TrainingData
    network: dict[str, Any]
    training: dict[str, Any]
    task: str
    checkpoint: bytes | None


def _load_inputs(job_id: str) -> TrainingInputs:
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        dataset = session.get(Dataset, job.dataset_id)
        if dataset is None:
            raise ValueError(f"The dataset {job.dataset_id!r} of this job has been deleted.")
        data = load_training_data(session, dataset)
        checkpoint = session.get(JobCheckpoint, job_id)
        resumed_epoch = checkpoint.epoch if checkpoint else 0
        session.execute(
            delete(EpochMetric).where(
                EpochMetric.job_id == job_id, EpochMetric.epoch > resumed_epoch
            )
        )
        return TrainingInputs(
            data=data,
            network=job.network,
            training=job.training,
            task=job.task,
            checkpoint=checkpoint.data if checkpoint else None,
        )


def _owned(session: Session, job_id: str, attempt: int, **values: Any) -> None:
    """Update the job only while this attempt still owns it."""
    fencing.owned(session, TrainingJob, job_id, attempt, **values)


class EpochRecorder:
    """The engine's `on_epoch`: one metrics row per epoch, the job's progress, a checkpoint
    on a time budget, and the stop conditions (cancel, deploy shutdown, time limit, lost
    ownership).

    Rows are written together every `progress_interval_seconds` (and with every checkpoint,
    at shutdown and at the end), not one transaction per epoch: a 30-epoch digits job spent
    more time in those transactions than in training. A cancel is seen at the next write.
    """

    def __init__(self, job_id: str, attempt: int, settings: Settings) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.settings = settings
        self.started = time.monotonic()
        self.last_checkpoint = time.monotonic()
        self.last_write = time.monotonic()
        self.pending: list[dict[str, Any]] = []
        self.outcome: str | None = None
        self.message = ""

    def __call__(self, progress: Any) -> None:
        self.pending.append(dict(progress.metrics))
        if progress.epoch in (1, progress.epochs):  # the job's own overhead is timed from these
            log.info(
                "job %s epoch %d/%d ended after %.6f s",
                self.job_id, progress.epoch, progress.epochs, progress.metrics.get("seconds", 0.0),
            )  # fmt: skip
        checkpoint = self._checkpoint_due(progress)
        due = time.monotonic() - self.last_write >= self.settings.progress_interval_seconds
        last = progress.epoch >= progress.epochs
        cancel = False
        if due or last or checkpoint is not None or SHUTDOWN.is_set():
            try:
                cancel = self._write(checkpoint)
            except LostOwnership:
                self.outcome = "lost"
                progress.stop()
                return
        self._decide_stop(progress, cancel)

    def flush(self) -> None:
        """Write the rows not yet written (training ended); a lost job writes nothing."""
        if self.pending and self.outcome != "lost":
            try:
                self._write(None)
            except LostOwnership:
                self.outcome = "lost"

    def _write(self, checkpoint: bytes | None) -> bool:
        rows, epoch = self.pending, self.pending[-1]["epoch"]
        cancel = retrying(lambda: self._record(epoch, rows, checkpoint))
        self.pending = []
        self.last_write = time.monotonic()
        return cancel

    def _checkpoint_due(self, progress: Any) -> bytes | None:
        due = time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_interval_seconds
        if not (due or SHUTDOWN.is_set()) or progress.epoch >= progress.epochs:
            return None
        self.last_checkpoint = time.monotonic()
        data: bytes = progress.checkpoint()
        return data

    def _record(self, epoch: int, rows: list[dict[str, Any]], checkpoint: bytes | None) -> bool:
        with transaction() as session:
            _owned(
                session,
                self.job_id,
                self.attempt,
                epoch=epoch,
                metrics=rows[-1],
                heartbeat_at=utcnow(),
            )
            session.add_all(EpochMetric(job_id=self.job_id, **_metric_fields(row)) for row in rows)
            if checkpoint is not None:
                session.merge(
                    JobCheckpoint(
                        job_id=self.job_id, epoch=epoch, data=checkpoint, updated_at=utcnow()
                    )
                )
            return bool(
                session.scalar(
                    select(TrainingJob.cancel_requested).where(TrainingJob.id == self.job_id)
                )
            )

    def _decide_stop(self, progress: Any, cancel: bool) -> None:
        # After the last epoch a finished model is stored whatever else happened meanwhile:
        # handing it back would retrain it, failing it on time would throw it away.
        more_to_do = progress.epoch < progress.epochs
        if cancel:
            self.outcome = "cancelled"
        elif SHUTDOWN.is_set() and more_to_do:
            self.outcome = "handed_back"
        elif more_to_do and time.monotonic() - self.started > self.settings.job_time_limit_seconds:
            self.outcome = "time_limit"
            self.message = (
                f"Training passed this server's time limit of "
                f"{self.settings.job_time_limit_seconds:g} s at epoch {progress.epoch}; "
                "train for fewer epochs or on fewer rows."
            )
        if self.outcome is not None:
            progress.stop()


def _metric_fields(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "learning_rate",
        "seconds",
    )
    return {k: row.get(k) for k in keys}


def store_model(job_id: str, attempt: int, model: Model, history: list[dict[str, Any]]) -> None:
    """The model and the job's success, in one transaction."""
    data = model.to_bytes()
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        model_id = new_id("mdl")
        _owned(
            session,
            job_id,
            attempt,
            status="succeeded",
            model_id=model_id,
            finished_at=utcnow(),
            error=None,
            error_code=None,
        )
        add_trained_model(
            session,
            job,
            model_id,
            data,
            features=model.features,
            classes=model.classes,
            metrics=final_metrics(history),
        )
        session.execute(delete(JobCheckpoint).where(JobCheckpoint.job_id == job_id))


def final_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    if not history:
        return {}
    return {**history[-1], "epochs_trained": len(history)}


def finish(
    job_id: str, attempt: int, status: str, *, error: str | None = None, code: str | None = None
) -> None:
    with transaction() as session:
        _owned(
            session,
            job_id,
            attempt,
            status=status,
            error=error,
            error_code=code,
            finished_at=utcnow(),
        )
        session.execute(delete(JobCheckpoint).where(JobCheckpoint.job_id == job_id))


def hand_back(job_id: str, attempt: int, worker: str) -> None:
    """Give a running job back to the queue (worker shutting down); its checkpoint stays."""
    from service.core.queue import enqueue_training

    with transaction() as session:
        fencing.hand_back(session, TrainingJob, job_id, attempt, worker)
    enqueue_training(job_id)


class Heartbeat(fencing.Heartbeat):
    """Refreshes the training job's heartbeat from a thread, so a long epoch is not taken for
    a lost worker."""

    def __init__(self, job_id: str, attempt: int, interval: float) -> None:
        super().__init__(TrainingJob, job_id, attempt, interval)
