"""A job's `register` with an alias, in process on the embedded database: an attempt that
dies between the commit of its registered model and the commit of its success is retried,
and the retry succeeds with the version the first one registered, adding none."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.lifecycle import reap
from service.core.tables import AliasMove, ModelAlias, ModelVersion, TrainedModel, TrainingJob
from tests.worker.test_failures import ended, submit
from worker import harness
from worker.training import run_job


class WorkerKilled(BaseException):
    """The worker's process ending where it stood (nothing of the attempt runs after it)."""


def _die(_seconds: float) -> None:
    raise WorkerKilled


def _count(table: type, **where: object) -> int:
    with transaction() as session:
        stmt = select(func.count()).select_from(table).filter_by(**where)
        return int(session.scalar(stmt) or 0)


def test_a_retry_after_the_registering_commit_keeps_that_version(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = submit(settings, tmp_path, {"epochs": 3, "batch_size": 16})
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        job.register = {"name": "blobs", "alias": "live"}
    # the first attempt dies in the lease it waits between its two commits
    with monkeypatch.context() as patched:
        patched.setattr(harness, "time", SimpleNamespace(sleep=_die, monotonic=time.monotonic))
        with pytest.raises(WorkerKilled):
            run_job(job_id, worker="w1", settings=settings, enqueue=lambda _: True)
    assert ended(job_id).status == "running"
    assert _count(ModelVersion) == 1 and _count(AliasMove) == 1
    with transaction() as session:  # the reaper, once its heartbeat is stale
        requeued = reap(session, TrainingJob, stale_before=utcnow() + timedelta(seconds=1),
                        requeue_before=utcnow(), max_attempts=3)  # fmt: skip
    assert requeued == [job_id]

    quick = settings.model_copy(update={"registry_cache_seconds": 0.0})
    assert run_job(job_id, worker="w2", settings=quick, enqueue=lambda _: True) == "succeeded"
    job = ended(job_id)
    assert job.attempts == 2
    assert job.register == {"name": "blobs", "alias": "live", "version": 1}
    with transaction() as session:
        (version,) = session.scalars(select(ModelVersion)).all()
        (alias,) = session.scalars(select(ModelAlias)).all()
        (model,) = session.scalars(select(TrainedModel)).all()
        assert (version.version, version.model_id) == (1, job.model_id)
        assert (alias.alias, alias.version) == ("live", 1)
        assert model.id == job.model_id and model.job_id == job_id
    assert _count(AliasMove) == 1
