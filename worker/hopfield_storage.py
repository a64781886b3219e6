"""The step of a Hopfield job: the data set's rows become the patterns of a network, in one
pass with no epochs; its capacity figures are the job's metrics. The harness
(worker/harness.py) claims, fences and finishes it; a cancel asked for while the weights were
being learnt is honoured there instead of storing the model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.core.db import new_id, transaction, utcnow
from service.core.tables import Dataset, TrainingJob
from service.domain.datasets import load_arrays
from service.domain.trained_models import add_trained_model
from service.engine import HopfieldModel
from service.engine.hopfield import is_hopfield, patterns_from_table
from worker.dataset_cache import dataset_gone
from worker.fencing import retrying
from worker.harness import JobStep, Run

log = logging.getLogger("neuronal.worker")


def is_hopfield_job(session: Session, job_id: str) -> bool:
    """Whether the job asks for a Hopfield network (read before loading anything else)."""
    job = session.get(TrainingJob, job_id)
    return job is not None and is_hopfield(job.network)


@dataclass
class Stored:
    data: bytes
    feature_names: list[str]
    metrics: dict[str, Any]


class HopfieldStorage(JobStep):
    failure_code = "training_error"

    def execute(self, run: Run) -> Stored:
        inputs = retrying(lambda: _load_patterns(run.job_id))
        started = time.perf_counter()
        model = HopfieldModel.store(
            inputs["patterns"], inputs["network"], feature_names=inputs["names"]
        )
        metrics = {**model.capacity(), "seconds": time.perf_counter() - started}
        log.info(
            "job %s stored %d patterns of %d units", run.job_id, model.n_patterns, model.n_units
        )
        return Stored(model.to_bytes(), list(model.feature_names), metrics)

    def succeed(self, session: Session, run: Run, result: Stored) -> dict[str, Any]:
        """The model; the job's progress is 1 of 1."""
        job = session.get(TrainingJob, run.job_id)
        assert job is not None
        model_id = new_id("mdl")
        add_trained_model(
            session,
            job,
            model_id,
            result.data,
            features=[{"name": name, "kind": "numeric"} for name in result.feature_names],
            classes=None,
            metrics=result.metrics,
        )
        return {"epoch": 1, "metrics": result.metrics, "model_id": model_id,
                "heartbeat_at": utcnow()}  # fmt: skip


def _load_patterns(job_id: str) -> dict[str, Any]:
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        dataset = session.get(Dataset, job.dataset_id)
        if dataset is None:
            raise dataset_gone(job.dataset_id)
        columns, target, features = load_arrays(session, job.dataset_id)
        patterns, names = patterns_from_table(columns, target, features, dataset.target["name"])
        return {"patterns": patterns, "names": names, "network": job.network}
