"""Cross-validation on the workers: a job's folds started from the training task, and the
step of one fold (train on the rows outside it, predict the rows inside it). The harness
(worker/harness.py) claims, fences, stops and finishes a fold like any job; the reaper
reclaims one whose worker died. A fold restarts from its first epoch when reclaimed (it keeps
no checkpoint: a fold is a part of one job). See service/domain/cross_validation.py for the
job's life across its folds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.lifecycle import LostOwnership
from service.core.queue import Enqueue
from service.core.tables import CvFold, Dataset, TrainingJob
from service.domain.cross_validation import count_fold_epochs, settle_job
from service.domain.cv_results import (
    FoldPredictions,
    aligned_probabilities,
    classification_metrics,
    regression_metrics,
)
from service.domain.datasets import TrainingData
from service.engine import fit
from service.engine.folds import assign_folds, fold_rows
from service.engine.targets import encode_labels, regression_targets
from worker.dataset_cache import dataset_gone, training_data
from worker.fencing import SHUTDOWN, retrying
from worker.harness import JobKind, JobStep, Run, run_attempt

log = logging.getLogger("neuronal.worker")

FOLD = JobKind(CvFold, noun="fold", log_field="fold_id")


def run_fold(
    fold_id: str,
    *,
    worker: str,
    settings: Settings,
    enqueue_fold: Enqueue,
    enqueue_training: Enqueue,
) -> str:
    """Train fold `fold_id` if it can be claimed; the last fold of a job to succeed sends the
    job to its final training. Returns what happened, for the logs."""
    step = FoldTraining()
    outcome = run_attempt(
        FOLD, fold_id, worker=worker, settings=settings, enqueue=enqueue_fold,
        step_for=lambda _session, _run: step,
    )  # fmt: skip
    if step.job_ready is not None:
        enqueue_training(step.job_ready)
    return outcome


@dataclass(frozen=True)
class FoldInputs:
    """One fold's training rows and held-out rows, and the job's spec to train them with."""

    job_id: str
    data: TrainingData
    train_rows: np.ndarray
    held_rows: np.ndarray
    network: dict[str, Any]
    training: dict[str, Any]
    task: str


@dataclass
class FoldResult:
    metrics: dict[str, Any]
    predictions: bytes


class FoldTraining(JobStep):
    failure_code = "training_error"

    def __init__(self) -> None:
        self.spec: FoldSpec  # read with the claim (`prepare`)
        self.job_ready: str | None = None  # the job to enqueue once this fold has committed

    def prepare(self, session: Session, run: Run) -> None:
        self.spec = _fold_spec(session, run.job_id)

    def execute(self, run: Run) -> FoldResult | None:
        spec = self.spec
        inputs = _fold_inputs(spec, retrying(lambda: training_data(*spec.dataset)))
        recorder = FoldRecorder(run, inputs.job_id)
        X, lengths = _rows(inputs.data, inputs.train_rows)
        model, history = fit(
            X, inputs.data.y[inputs.train_rows], inputs.network, inputs.training,
            task=inputs.task, features=inputs.data.features, on_epoch=recorder, lengths=lengths,
        )  # fmt: skip
        if run.ending is not None:
            return None
        held_X, held_lengths = _rows(inputs.data, inputs.held_rows)
        if inputs.task == "classification":
            classes, labels = encode_labels(inputs.data.y)
            raw = model.predict_proba(held_X, held_lengths)
            proba = aligned_probabilities(raw, model.classes or [], classes)
            truth = labels[inputs.held_rows]
            predicted = np.argmax(proba, axis=1)
            metrics: dict[str, Any] = classification_metrics(proba, truth)
            metrics["classes"] = classes
        else:
            truth = regression_targets(inputs.data.y)[inputs.held_rows, 0]
            predicted = np.asarray(model.predict(held_X, held_lengths), np.float64).reshape(-1)
            proba = np.zeros((len(truth), 0))
            metrics = regression_metrics(predicted, truth, inputs.network["loss"])
        last = history[-1] if history else {}
        metrics |= {
            "train_loss": last.get("train_loss"),
            "epochs_trained": len(history),
            "n_train": len(inputs.train_rows),
            "n_held_out": len(inputs.held_rows),
        }
        parts = FoldPredictions(inputs.held_rows, truth, predicted, proba)
        return FoldResult(metrics, parts.to_bytes())

    def succeed(self, session: Session, run: Run, result: FoldResult) -> dict[str, Any]:
        return {"metrics": result.metrics, "predictions": result.predictions}

    def settle(self, session: Session, run: Run) -> None:
        fold = session.get(CvFold, run.job_id)
        self.job_ready = None
        if fold is not None and settle_job(session, fold.job_id):
            self.job_ready = fold.job_id

    def hand_back_values(self) -> dict[str, Any]:
        return {"epoch": 0}  # it starts over


@dataclass(frozen=True)
class FoldSpec:
    """What a fold trains, read with its claim: all but the data set's arrays."""

    job_id: str
    fold: int
    dataset: tuple[str, str]  # its id and content hash, which name its arrays
    network: dict[str, Any]
    training: dict[str, Any]
    task: str


def _fold_spec(session: Session, fold_id: str) -> FoldSpec:
    fold = session.get(CvFold, fold_id)
    job = session.get(TrainingJob, fold.job_id) if fold is not None else None
    if fold is None or job is None:
        raise LostOwnership(fold_id)  # deleted with its job since it was claimed
    dataset = session.get(Dataset, job.dataset_id)
    if dataset is None:
        raise dataset_gone(job.dataset_id)
    dataset_key = (dataset.id, dataset.sha256)
    return FoldSpec(job.id, fold.fold, dataset_key, job.network, job.training, job.task)


def _fold_inputs(spec: FoldSpec, data: TrainingData) -> FoldInputs:
    training = {k: v for k, v in spec.training.items() if k != "cross_validation"}
    cv = spec.training["cross_validation"]
    labels = encode_labels(data.y)[1] if cv["stratified"] else None
    fold_of = assign_folds(len(data.y), cv["folds"], training["seed"], labels)
    train_rows, held_rows = fold_rows(fold_of, spec.fold)
    if training["batch_size"] != "full":  # a default sized for all rows, not a fold's
        training["batch_size"] = min(training["batch_size"], len(train_rows))
    return FoldInputs(spec.job_id, data, train_rows, held_rows, spec.network, training, spec.task)


def _rows(data: TrainingData, rows: np.ndarray) -> tuple[Any, np.ndarray | None]:
    """The features of `rows` (columns by name, or sequences) and their lengths."""
    if data.lengths is not None:
        return data.X[rows], data.lengths[rows]
    return {name: column[rows] for name, column in data.X.items()}, None


class FoldRecorder:
    """The engine's `on_epoch` for a fold: its epoch and the job's count of fold epochs,
    written every `progress_interval_seconds` and at the last epoch, and the stop decision."""

    def __init__(self, run: Run, job_id: str) -> None:
        self.run, self.job_id = run, job_id
        self.last_write = time.monotonic()

    def __call__(self, progress: Any) -> None:
        interval = self.run.settings.progress_interval_seconds
        last = progress.epoch >= progress.epochs
        cancel = False
        if last or SHUTDOWN.is_set() or time.monotonic() - self.last_write >= interval:
            try:
                cancel = self.run.write(self._count_epochs, epoch=progress.epoch)
            except LostOwnership:
                progress.stop()
                return
            self.last_write = time.monotonic()
        if self.run.decide(cancel=cancel, more_to_do=not last, over_time=self._over_time(progress)):
            progress.stop()

    def _count_epochs(self, session: Session) -> None:
        count_fold_epochs(session, self.job_id)

    def _over_time(self, progress: Any) -> Callable[[], str]:
        return lambda: (
            f"Fold training passed this server's time limit of "
            f"{self.run.settings.job_time_limit_seconds:g} s at epoch {progress.epoch}; "
            "train for fewer epochs or on fewer rows."
        )
