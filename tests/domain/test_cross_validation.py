"""A cross-validated job's life across its folds, through the domain functions on SQLite and
PostgreSQL: onto its folds without a worker, back to the queue with cv_metrics when the last
fold succeeds, failed when a fold fails (the reaper's worker_lost included), cancelled with
its folds; and the objective a search reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.lifecycle import claim, finish, reap
from service.core.metrics import JobCollector
from service.core.tables import CvFold, TrainingJob
from service.domain.cross_validation import (
    cv_objective,
    cv_predictions,
    jobs_to_settle,
    settle_job,
    start_folds,
)
from service.domain.cv_results import FoldPredictions
from service.domain.jobs import cancel_job, create_job
from tests.domain.conftest import add_tenant, points_csv, upload

FOLDS = 3


@pytest.fixture
def job_id(database_url: str, settings: Settings, tmp_path: Path) -> str:
    with transaction(database_url) as session:
        add_tenant(session, "ten_cv")
        dataset = upload(session, "ten_cv", points_csv(tmp_path / "points.csv"))
        body = {"dataset_id": dataset.id, "network": {"layers": [{"units": 4}]},
                "training": {"epochs": 2, "cross_validation": {"folds": FOLDS}}}  # fmt: skip
        # the job stands for its 3 folds and its final training, over the fixture's cap of 3
        roomy = settings.model_copy(update={"max_running_jobs_per_tenant": FOLDS + 1})
        job, _ = create_job(session, "ten_cv", body, roomy)
        assert job.cv_folds == FOLDS and job.cv_metrics is None
        return job.id


def on_folds(database_url: str, job_id: str) -> list[str]:
    with transaction(database_url) as session:
        fold_ids = start_folds(session, job_id)
    assert fold_ids is not None and len(fold_ids) == FOLDS
    return fold_ids


def succeed_fold(database_url: str, fold_id: str, k: int) -> bool:
    """Claim and succeed one fold with made-up held-out predictions; whether the job is ready."""
    rows = np.array([k, k + FOLDS])
    proba = np.array([[0.9, 0.1], [0.2 + 0.1 * k, 0.8 - 0.1 * k]])
    part = FoldPredictions(rows, np.array([0, 1]), np.argmax(proba, axis=1), proba)
    with transaction(database_url) as session:
        attempt = claim(session, CvFold, fold_id, "w1")
        assert attempt is not None
        metrics = {"val_loss": float(-np.log([0.9, 0.8 - 0.1 * k]).mean()),
                   "val_accuracy": 1.0 if k < 3 else 0.5, "classes": ["a", "b"]}  # fmt: skip
        finish(session, CvFold, fold_id, attempt, "succeeded", metrics=metrics,
               predictions=part.to_bytes())  # fmt: skip
        return settle_job(session, session.get(CvFold, fold_id).job_id)  # type: ignore[union-attr]


def job(session: Session, job_id: str) -> TrainingJob:
    found = session.get(TrainingJob, job_id)
    assert found is not None
    return found


def test_the_job_waits_on_its_folds_without_a_worker_then_queues_its_final_training(
    database_url: str, job_id: str
) -> None:
    fold_ids = on_folds(database_url, job_id)
    with transaction(database_url) as session:
        waiting = job(session, job_id)
        assert (waiting.status, waiting.worker, waiting.heartbeat_at) == ("running", None, None)
        assert start_folds(session, job_id) is None  # a redelivered message starts nothing
        assert waiting.progress.epochs == 2 * (FOLDS + 1)
    ready = [succeed_fold(database_url, fold_id, k) for k, fold_id in enumerate(fold_ids)]
    assert ready == [False, False, True]  # the last fold sends the job on, once
    with transaction(database_url) as session:
        queued = job(session, job_id)
        assert queued.status == "queued" and queued.cv_metrics is not None
        assert start_folds(session, job_id) is None  # folds done: the task trains it as usual
        loss = queued.cv_metrics["val_loss"]
        assert len(loss["folds"]) == FOLDS
        assert loss["mean"] == pytest.approx(np.mean(loss["folds"]))
        pooled = -np.log([0.9, 0.8, 0.9, 0.7, 0.9, 0.6]).mean()
        assert loss["pooled"] == pytest.approx(pooled)
        assert cv_objective(queued, "cv.val_loss") == loss["mean"]
        assert cv_objective(queued, "cv.val_accuracy") == 1.0
        assert cv_objective(queued, "cv.r2") is None
        lines = cv_predictions(session, queued).splitlines()
    assert lines[0] == "row,fold,target,prediction,probability_a,probability_b"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["0", "0"], ["1", "1"], ["2", "2"], ["3", "0"], ["4", "1"], ["5", "2"]
    ]  # fmt: skip


def test_a_fold_the_reaper_fails_fails_the_job_and_cancels_the_others(
    database_url: str, job_id: str
) -> None:
    fold_ids = on_folds(database_url, job_id)
    with transaction(database_url) as session:
        claim(session, CvFold, fold_ids[1], "w-dead")
        session.execute(update(CvFold).where(CvFold.id == fold_ids[1]).values(attempts=3))
    with transaction(database_url) as session:
        now = utcnow() + timedelta(seconds=10)
        reap(session, CvFold, stale_before=now, requeue_before=utcnow(), max_attempts=3)
    with transaction(database_url) as session:
        assert jobs_to_settle(session) == []  # two folds are still queued
        claim(session, CvFold, fold_ids[0], "w1")
    with transaction(database_url) as session:
        assert settle_job(session, job_id) is False
        failed = job(session, job_id)
        assert failed.status == "failed" and failed.error_code == "worker_lost"
        assert failed.error is not None and failed.error.startswith("Fold 1: ")
        statuses = dict(session.execute(select(CvFold.fold, CvFold.status)).all())
        assert statuses[0] == "running" and statuses[2] == "cancelled"
        running = session.get(CvFold, fold_ids[0])
        assert running is not None and running.cancel_requested


def test_the_reaper_settles_a_job_whose_last_fold_it_failed(database_url: str, job_id: str) -> None:
    fold_ids = on_folds(database_url, job_id)
    succeed_fold(database_url, fold_ids[0], 0)
    succeed_fold(database_url, fold_ids[1], 1)
    with transaction(database_url) as session:
        claim(session, CvFold, fold_ids[2], "w-dead")
        session.execute(update(CvFold).where(CvFold.id == fold_ids[2]).values(attempts=3))
        reap(session, CvFold, stale_before=utcnow() + timedelta(seconds=10),
             requeue_before=utcnow(), max_attempts=3)  # fmt: skip
    with transaction(database_url) as session:
        assert jobs_to_settle(session) == [job_id]
        assert settle_job(session, job_id) is False
        assert job(session, job_id).status == "failed"
        assert jobs_to_settle(session) == []


def test_the_queue_depth_counts_the_queued_folds(database_url: str, job_id: str) -> None:
    def depth() -> float:
        for family in JobCollector(database_url).collect():
            if family.name == "neuronal_queue_depth":
                return float(family.samples[0].value)
        raise AssertionError("no neuronal_queue_depth")

    assert depth() == 1  # the job, queued
    on_folds(database_url, job_id)
    assert depth() == FOLDS  # the job runs on its folds, which are queued


def test_cancelling_a_job_on_its_folds_cancels_them(database_url: str, job_id: str) -> None:
    fold_ids = on_folds(database_url, job_id)
    with transaction(database_url) as session:
        claim(session, CvFold, fold_ids[0], "w1")
    with transaction(database_url) as session:
        cancelled = cancel_job(session, "ten_cv", job_id)
        assert cancelled.status == "running" and cancelled.cancel_requested  # one fold runs
        statuses = [f.status for f in session.scalars(select(CvFold).order_by(CvFold.fold))]
        assert statuses == ["running", "cancelled", "cancelled"]
    with transaction(database_url) as session:  # the running fold stops at its next epoch
        fold = session.get(CvFold, fold_ids[0])
        assert fold is not None and fold.cancel_requested
        finish(session, CvFold, fold_ids[0], fold.attempts, "cancelled")
        assert settle_job(session, job_id) is False
        assert job(session, job_id).status == "cancelled"


def test_the_objective_of_a_job_without_folds_is_none() -> None:
    assert cv_objective(SimpleNamespace(cv_metrics=None), "cv.val_loss") is None
    assert cv_objective(SimpleNamespace(), "cv.val_loss") is None
    done = SimpleNamespace(cv_metrics={"val_loss": {"mean": 0.25}})
    assert cv_objective(done, "val_loss") == 0.25
