"""The training step of a job: load its data set, train with the engine, record every epoch,
store the model. The harness (worker/harness.py) claims, fences, stops and finishes it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id, utcnow
from service.core.lifecycle import TERMINAL, LostOwnership
from service.core.queue import Enqueue
from service.core.tables import Dataset, EpochMetric, JobCheckpoint, TrainingJob
from service.domain.cross_validation import start_folds
from service.domain.datasets import TrainingData
from service.domain.registry import register_job_model
from service.domain.search_scheduler import lock_search
from service.domain.trained_models import add_trained_model, model_of_job
from service.domain.warm_start import store_training_state
from service.engine import fit
from service.engine.warm_start import WarmStart
from worker.dataset_cache import dataset_gone, training_data
from worker.fencing import SHUTDOWN, retrying
from worker.harness import Failure, JobKind, JobStep, Run, run_attempt
from worker.hopfield_storage import HopfieldStorage, is_hopfield_job
from worker.memory_guard import over_budget
from worker.trials import (
    TrialPlan,
    advance_within,
    after_trial,
    refresh_deadline,
    rung_verdict,
    trial_plan,
)
from worker.warm_start import load_warm_start

log = logging.getLogger("neuronal.worker")

TRAINING = JobKind(TrainingJob, noun="job", log_field="job_id")


ENDED = tuple(status.value for status in TERMINAL)


def run_job(
    job_id: str,
    *,
    worker: str,
    settings: Settings,
    enqueue: Enqueue,
    enqueue_fold: Enqueue | None = None,
) -> str:
    """Train `job_id` if it can be claimed, or start its folds (with `enqueue_fold`) if it is
    a cross-validated job waiting for them; returns what happened, for the logs. A search's
    trial that ended moves its search on (the next trials) right after its final commit."""
    steps: list[JobStep] = []
    folds: list[str] = []

    def step_for(session: Session, run: Run) -> JobStep:
        step = HopfieldStorage() if is_hopfield_job(session, run.job_id) else Training()
        steps.append(step)
        return step

    def onto_folds(session: Session) -> str | None:
        fold_ids = start_folds(session, job_id) if enqueue_fold is not None else None
        if fold_ids is None:
            return None
        folds.extend(fold_ids)
        return "on_folds"

    outcome = run_attempt(
        TRAINING, job_id, worker=worker, settings=settings, enqueue=enqueue, step_for=step_for,
        divert=onto_folds,
    )  # fmt: skip
    step = steps[-1] if steps and isinstance(steps[-1], Training) else None
    if step is not None and step.scheduled is not None:  # with the trial's end: committed
        for next_id in step.scheduled:
            enqueue(next_id)
        return outcome
    if folds and enqueue_fold is not None:  # committed: the folds run as tasks of their own
        for fold_id in folds:
            enqueue_fold(fold_id)
        log.info("job %s started on %d folds", job_id, len(folds))
    trial = steps[-1].trial if steps and isinstance(steps[-1], Training) else None
    if trial is not None and outcome in ENDED:
        after_trial(trial.search_id, settings, enqueue)
    return outcome


@dataclass
class Trained:
    """A trained model, serialised before the transaction that stores it."""

    data: bytes
    features: list[dict[str, Any]]
    classes: list[Any] | None
    metrics: dict[str, Any]
    state: bytes | None = None  # the final training state, for a later continue


class Training(JobStep):
    failure_code = "training_error"

    def __init__(self) -> None:
        self.recorder: EpochRecorder | None = None
        self.trial: TrialPlan | None = None  # set when the job is a search's trial
        self.moves_alias = False  # its `register` points an alias at its model
        self.inputs: TrainingInputs  # read with the claim (`prepare`), but for the arrays
        self.loading_seconds = 0.0
        self.trained: Trained | None = None
        self.scheduled: list[str] | None = None  # a trial's search's next trials, to enqueue
        self.progress_written = False  # the last rows' progress went with the success

    def refusal(self, session: Session, run: Run) -> Failure | None:
        reason = over_budget(session, run.job_id, run.settings)
        return Failure(code="memory_limit", message=reason) if reason is not None else None

    def prepare(self, session: Session, run: Run) -> None:
        loading = time.perf_counter()
        self.inputs = _load_inputs(session, run.job_id)
        self.trial = self.inputs.trial
        self.moves_alias = bool((self.inputs.register or {}).get("alias"))
        self.loading_seconds = time.perf_counter() - loading

    def execute(self, run: Run) -> Trained | None:
        self.recorder = EpochRecorder(run.job_id, run.attempt, run.settings, run=run)
        self.recorder.trial = self.trial
        loading = time.perf_counter()
        spec = self.inputs
        data = retrying(lambda: training_data(spec.dataset_id, spec.dataset_sha256))
        inputs = replace(spec, data=data)
        seconds = self.loading_seconds + time.perf_counter() - loading
        log.info("job %s inputs loaded in %.6f s", run.job_id, seconds)
        model, history = fit(
            data.X,
            data.y,
            inputs.network,
            inputs.training,
            task=inputs.task,
            features=data.features,
            on_epoch=self.recorder,
            resume=inputs.checkpoint,
            lengths=data.lengths,
            groups=data.groups,
            warm_start=inputs.warm_start,
            keep_state=True,
        )
        if run.ending is not None:
            return None
        metrics = final_metrics(history)
        self.trained = Trained(
            model.to_bytes(), model.features, model.classes, metrics, model.training_state
        )
        return self.trained

    def wrap_up(self, run: Run) -> None:
        if self.recorder is None:
            return
        if self.trained is not None and run.ending is None:
            return  # the last epochs' rows are written with the model (`settle`)
        self.recorder.flush()  # the epochs before a failure stay visible too

    def succeed(self, session: Session, run: Run, result: Trained) -> dict[str, Any]:
        job = session.get(TrainingJob, run.job_id)
        assert job is not None
        # an attempt that died between the commit of its model (registered: `publishes`) and
        # the job's success left the job's one model, and the version naming it: both stay.
        # Only a later attempt can find one: a first attempt does not look (a query fewer on
        # the path every trial of a search takes)
        stored = model_of_job(session, job.id) if run.attempt > 1 else None
        if stored is not None:
            model_id = stored.id
        else:
            model_id = new_id("mdl")
            add_trained_model(
                session,
                job,
                model_id,
                result.data,
                features=result.features,
                classes=result.classes,
                metrics=result.metrics,
            )
            store_training_state(session, model_id, result.state)
        registered = register_job_model(session, job, model_id)  # `register` of the job
        values: dict[str, Any] = {"model_id": model_id}
        if self.recorder is not None and self.recorder.pending:  # the progress of the last
            values |= {"epoch": self.recorder.pending[-1]["epoch"],  # rows (`settle` adds
                       "metrics": self.recorder.pending[-1]}  # them) with the success  # fmt: skip
            self.progress_written = True
        return values | ({"register": registered} if registered else {})

    def forget_result(self) -> None:
        self.progress_written = False

    def lock_first(self, session: Session, run: Run) -> None:
        if self.trial is not None:
            lock_search(session, self.trial.search_id)

    def publishes(self, run: Run) -> bool:
        return self.moves_alias

    def settle(self, session: Session, run: Run) -> None:
        recorder = self.recorder
        if recorder is not None and recorder.pending:  # the job's last epochs
            recorder.add_pending(session, progress=not self.progress_written)
        self.progress_written = False  # a retried transaction writes it again
        fresh = getattr(self, "inputs", None) is not None and not self.inputs.recorded
        if not (fresh and (recorder is None or not recorder.checkpointed)):
            session.execute(delete(JobCheckpoint).where(JobCheckpoint.job_id == run.job_id))
        if self.trial is not None:  # the search's next trials, in the same commit
            self.scheduled = advance_within(session, self.trial.search_id, run.settings)

    # a job handed back keeps its checkpoint: the next attempt resumes from it


@dataclass(frozen=True)
class TrainingInputs:
    """Everything one attempt trains from: the data set's arrays (None until they are read,
    outside the claim's transaction), the job's spec, and the checkpoint of an earlier
    attempt to resume from (None to start afresh)."""

    data: TrainingData | None
    dataset_id: str
    dataset_sha256: str
    network: dict[str, Any]
    training: dict[str, Any]
    task: str
    checkpoint: bytes | None
    recorded: bool = True  # whether an earlier attempt wrote epochs (and maybe a checkpoint)
    trial: TrialPlan | None = None
    warm_start: WarmStart | None = None
    register: dict[str, Any] | None = None


def _load_inputs(session: Session, job_id: str) -> TrainingInputs:
    """All but the data set's arrays, and the epoch rows of a lost attempt deleted."""
    job = session.get(TrainingJob, job_id)
    assert job is not None
    dataset = session.get(Dataset, job.dataset_id)
    if dataset is None:
        raise dataset_gone(job.dataset_id)
    checkpoint = None
    if job.epoch:  # an earlier attempt recorded epochs (a job's first has nothing to read)
        checkpoint = session.get(JobCheckpoint, job_id)
        resumed_epoch = checkpoint.epoch if checkpoint else 0
        session.execute(
            delete(EpochMetric).where(
                EpochMetric.job_id == job_id, EpochMetric.epoch > resumed_epoch
            )
        )
    return TrainingInputs(
        data=None,
        dataset_id=dataset.id,
        dataset_sha256=dataset.sha256,
        network=job.network,
        training=job.training,
        task=job.task,
        checkpoint=checkpoint.data if checkpoint else None,
        recorded=bool(job.epoch),
        trial=trial_plan(session, job),
        warm_start=load_warm_start(session, job),
        register=job.register,
    )


class EpochRecorder:
    """The engine's `on_epoch`: one metrics row per epoch, the job's progress, a checkpoint
    on a time budget, and the run's stop decision at each epoch.

    Rows are written together every `progress_interval_seconds` (and with every checkpoint,
    at shutdown and at the end), not one transaction per epoch: a 30-epoch digits job spent
    more time in those transactions than in training. A cancel is seen at the next write.
    """

    def __init__(
        self, job_id: str, attempt: int, settings: Settings, *, run: Run | None = None
    ) -> None:
        self.job_id = job_id
        self.settings = settings
        self.run = run or Run(TRAINING, job_id, attempt, settings)
        self.last_checkpoint = time.monotonic()
        self.last_write = time.monotonic()
        self.pending: list[dict[str, Any]] = []
        self.checkpointed = False  # whether this attempt has written a checkpoint
        self.trial: TrialPlan | None = None  # a search's trial: its rungs and runtime limit

    @property
    def outcome(self) -> str | None:
        """Why training stops early (cancelled, handed_back, time_limit, lost), or None."""
        return self.run.ending

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
        rung = self.trial is not None and progress.epoch in self.trial.rungs
        cancel = False
        # the last epoch's rows go with the model, in the success's transaction (a commit
        # fewer), which also honours a cancel asked for meanwhile; `flush` otherwise
        if not last and (due or rung or checkpoint is not None or SHUTDOWN.is_set()):
            try:
                cancel = self._write(checkpoint, rung=rung)
            except LostOwnership:
                progress.stop()
                return
        if self.trial is not None and not last and self.trial.past_deadline():
            cancel = True  # the search's max_runtime_seconds: stop within this epoch
        over_time = self._time_limit_message(progress.epoch)
        if self.run.decide(cancel=cancel, more_to_do=not last, over_time=over_time):
            progress.stop()

    def flush(self) -> None:
        """Write the rows not yet written (training ended); a lost job writes nothing."""
        if self.pending and self.outcome != "lost":
            with contextlib.suppress(LostOwnership):  # the run's ending is now "lost"
                self._write(None)

    def add_pending(self, session: Session, *, progress: bool = True) -> None:
        """The rows not yet written, and the job's progress (unless the caller writes it), in
        the caller's transaction (the attempt's final one, fenced already)."""
        rows = self.pending  # kept until the end: a retried transaction adds them again
        session.add_all(EpochMetric(job_id=self.job_id, **_metric_fields(row)) for row in rows)
        if progress:
            session.execute(
                update(TrainingJob)
                .where(TrainingJob.id == self.job_id)
                .values(epoch=rows[-1]["epoch"], metrics=rows[-1])
            )

    def _write(self, checkpoint: bytes | None, *, rung: bool = False) -> bool:
        rows, epoch = self.pending, self.pending[-1]["epoch"]
        verdict: list[str | None] = [None]

        def add_rows(session: Session) -> None:
            session.add_all(EpochMetric(job_id=self.job_id, **_metric_fields(row)) for row in rows)
            if checkpoint is not None:
                self.checkpointed = True
                session.merge(
                    JobCheckpoint(
                        job_id=self.job_id, epoch=epoch, data=checkpoint, updated_at=utcnow()
                    )
                )
            if self.trial is not None:
                refresh_deadline(session, self.trial)
                if rung:
                    value = rows[-1].get(self.trial.metric)
                    verdict[0] = rung_verdict(session, self.trial, self.job_id, epoch, value)

        cancel = self.run.write(add_rows, epoch=epoch, metrics=rows[-1])
        self.pending = []
        self.last_write = time.monotonic()
        if verdict[0] is not None:
            self.run.prune(verdict[0])
        return cancel

    def _checkpoint_due(self, progress: Any) -> bytes | None:
        due = time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_interval_seconds
        if not (due or SHUTDOWN.is_set()) or progress.epoch >= progress.epochs:
            return None
        self.last_checkpoint = time.monotonic()
        data: bytes = progress.checkpoint()
        return data

    def _time_limit_message(self, epoch: int) -> Callable[[], str]:
        return lambda: (
            f"Training passed this server's time limit of "
            f"{self.settings.job_time_limit_seconds:g} s at epoch {epoch}; "
            "train for fewer epochs or on fewer rows."
        )


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


def final_metrics(history: list[dict[str, Any]]) -> dict[str, Any]:
    if not history:
        return {}
    return {**history[-1], "epochs_trained": len(history)}
