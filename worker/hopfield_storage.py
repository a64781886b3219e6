"""One attempt of a Hopfield job: the data set's rows become the patterns of a network, in one
pass with no epochs; its capacity figures are the job's metrics.

Writes are fenced by (status, attempt) like a training run's, so a reclaimed attempt never
overwrites the attempt that owns the job. A cancel asked for while the weights were being
learnt is honoured instead of storing the model.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from service.core.config import Settings
from service.core.db import new_id, transaction, utcnow
from service.core.errors import NotFound
from service.core.tables import Dataset, TrainingJob
from service.domain.datasets import load_arrays
from service.domain.trained_models import add_trained_model
from service.engine import HopfieldModel
from service.engine.hopfield import is_hopfield, patterns_from_table
from worker import fencing
from worker.failures import TRAINING_ERROR, classify
from worker.fencing import TRANSIENT, LostOwnership, retrying

log = logging.getLogger("neuronal.worker")


def is_hopfield_job(job_id: str) -> bool:
    """Whether the job asks for a Hopfield network (read before loading anything else)."""
    with transaction() as session:
        network = session.scalar(select(TrainingJob.network).where(TrainingJob.id == job_id))
    return is_hopfield(network)


def run_hopfield_job(job_id: str, attempt: int, settings: Settings) -> str:
    """Store the patterns of job `job_id` (claimed as `attempt`); returns what happened."""
    try:
        with fencing.Heartbeat(TrainingJob, job_id, attempt, settings.heartbeat_seconds):
            inputs = retrying(lambda: _load_patterns(job_id))
            started = time.perf_counter()
            model = HopfieldModel.store(
                inputs["patterns"], inputs["network"], feature_names=inputs["names"]
            )
            metrics = {**model.capacity(), "seconds": time.perf_counter() - started}
            outcome: str = retrying(lambda: _store(job_id, attempt, model, metrics))
    except LostOwnership:
        return "lost"
    except TRANSIENT:
        raise  # a database outage past the retries: the task is retried, the job stays
    except Exception as exc:
        failure = classify(exc, user_code=TRAINING_ERROR)
        retrying(
            lambda: _finish(job_id, attempt, "failed", error=failure.message, code=failure.code)
        )
        return "failed"
    log.info("job %s stored %d patterns of %d units", job_id, model.n_patterns, model.n_units)
    return outcome


def _load_patterns(job_id: str) -> dict[str, Any]:
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        dataset = session.get(Dataset, job.dataset_id)
        if dataset is None:
            raise NotFound(f"The data set {job.dataset_id!r} of this job has been deleted.")
        columns, target, features = load_arrays(session, job.dataset_id)
        patterns, names = patterns_from_table(columns, target, features, dataset.target["name"])
        return {"patterns": patterns, "names": names, "network": job.network}


def _store(job_id: str, attempt: int, model: HopfieldModel, metrics: dict[str, Any]) -> str:
    """The model and the job's success (progress 1 of 1), in one transaction; or the cancel."""
    data = model.to_bytes()
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        if job.cancel_requested:
            fencing.owned(session, TrainingJob, job_id, attempt, status="cancelled",
                          finished_at=utcnow())  # fmt: skip
            return "cancelled"
        model_id = new_id("mdl")
        fencing.owned(
            session,
            TrainingJob,
            job_id,
            attempt,
            status="succeeded",
            epoch=1,
            metrics=metrics,
            model_id=model_id,
            heartbeat_at=utcnow(),
            finished_at=utcnow(),
            error=None,
            error_code=None,
        )
        add_trained_model(
            session,
            job,
            model_id,
            data,
            features=[{"name": name, "kind": "numeric"} for name in model.feature_names],
            classes=None,
            metrics=metrics,
        )
    return "succeeded"


def _finish(job_id: str, attempt: int, status: str, *, error: str, code: str) -> None:
    with transaction() as session:
        fencing.owned(session, TrainingJob, job_id, attempt, status=status, error=error,
                      error_code=code, finished_at=utcnow())  # fmt: skip
