"""The job lifecycle's moves on a real session, on SQLite and PostgreSQL: one owner per
claim, fenced-out attempts cannot write, cancels of ended jobs are refused, the reaper's
sweep, and no move commits on its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from service.core.db import session_factory, transaction, utcnow
from service.core.errors import Conflict
from service.core.lifecycle import (
    ACTIVE,
    STATUSES,
    TERMINAL,
    JobStatus,
    JobTable,
    LostOwnership,
    cancel,
    cancel_requested,
    claim,
    fence,
    finish,
    hand_back,
    reap,
)
from service.core.tables import PredictionJob, Tenant, TrainingJob
from tests.stack import postgres_database

MAX_ATTEMPTS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    from service.core.config import get_settings
    from service.core.schema import migrate_database

    monkeypatch.setenv("NEURONAL_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        if request.param == "sqlite":
            database = f"sqlite:///{tmp_path / 'lifecycle.db'}"
            migrate_database(database)
            yield database
        else:
            with postgres_database() as database:
                migrate_database(database)
                yield database
    finally:
        get_settings.cache_clear()


def add_job(url: str, table: JobTable, job_id: str, **values: Any) -> str:
    with transaction(url) as session:
        if session.get(Tenant, "ten_1") is None:
            session.add(Tenant(id="ten_1", name="t"))
            session.flush()
        if table is TrainingJob:
            own: dict[str, Any] = {"dataset_id": "ds_1", "task": "regression", "network": {},
                                   "training": {}, "epochs": 3}  # fmt: skip
        else:
            own = {"model_id": "mdl_1", "format": "csv", "n_rows": 10, "input_data": b""}
        values = {"enqueued_at": utcnow(), **values}
        session.add(table(id=job_id, tenant_id="ten_1", **own, **values))
    return job_id


def read(url: str, table: JobTable, job_id: str) -> Any:
    with transaction(url) as session:
        return session.get(table, job_id)


def claim_in_own_transaction(url: str, table: JobTable, job_id: str, worker: str) -> int | None:
    with transaction(url) as session:
        return claim(session, table, job_id, worker)


def test_the_statuses_and_their_sets() -> None:
    assert [s.value for s in STATUSES] == [
        "queued", "running", "succeeded", "failed", "cancelled", "pruned",
    ]  # fmt: skip
    assert set(TERMINAL) | set(ACTIVE) == set(STATUSES) and not set(TERMINAL) & set(ACTIVE)
    assert "cancelled" in TERMINAL and "queued" in ACTIVE  # plain strings, as stored, match
    assert "pruned" in TERMINAL


@pytest.mark.parametrize("table", [TrainingJob, PredictionJob])
def test_a_claim_makes_one_owner_and_stores_the_plain_value(url: str, table: JobTable) -> None:
    job_id = add_job(url, table, "job_claim")
    assert claim_in_own_transaction(url, table, job_id, "w1") == 1
    assert claim_in_own_transaction(url, table, job_id, "w2") is None  # a redelivered message
    job = read(url, table, job_id)
    assert (job.status, job.attempts, job.worker) == ("running", 1, "w1")
    assert job.started_at is not None and job.heartbeat_at is not None
    with transaction(url) as session:
        stored = session.execute(
            text(f"SELECT status FROM {table.__tablename__} WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    assert stored == "running" and type(stored) is str


def test_concurrent_claims_give_one_owner(url: str) -> None:
    job_id = add_job(url, TrainingJob, "job_race")
    first = session_factory(url)()
    results: list[int | None] = []
    try:
        assert claim(first, TrainingJob, job_id, "w1") == 1  # not committed yet
        second = threading.Thread(
            target=lambda: results.append(claim_in_own_transaction(url, TrainingJob, job_id, "w2"))
        )
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive(), "the second claim waits for the first transaction"
        first.commit()
        second.join(timeout=30)
    finally:
        first.close()
    assert results == [None]
    assert read(url, TrainingJob, job_id).worker == "w1"


def test_no_move_commits_on_its_own(url: str) -> None:
    job_id = add_job(url, TrainingJob, "job_rollback")
    with session_factory(url)() as session:
        assert claim(session, TrainingJob, job_id, "w1") == 1
        fence(session, TrainingJob, job_id, 1, epoch=2)
        session.rollback()  # the caller owns the transaction
    job = read(url, TrainingJob, job_id)
    assert (job.status, job.attempts, job.epoch, job.worker) == ("queued", 0, 0, None)


def test_a_fenced_out_attempt_cannot_write_or_finish(url: str) -> None:
    job_id = add_job(url, TrainingJob, "job_fenced")
    assert claim_in_own_transaction(url, TrainingJob, job_id, "w1") == 1
    with transaction(url) as session:  # w1's heartbeat stops; the reaper requeues the job
        fence(session, TrainingJob, job_id, 1, heartbeat_at=utcnow() - timedelta(hours=1))
    with transaction(url) as session:
        requeued = reap(session, TrainingJob, stale_before=utcnow() - timedelta(minutes=1),
                        requeue_before=utcnow(), max_attempts=MAX_ATTEMPTS)  # fmt: skip
    assert requeued == [job_id]
    assert claim_in_own_transaction(url, TrainingJob, job_id, "w2") == 2
    with transaction(url) as session, pytest.raises(LostOwnership):
        finish(session, TrainingJob, job_id, 1, JobStatus.SUCCEEDED, model_id="mdl_stale")
    with transaction(url) as session, pytest.raises(LostOwnership):
        fence(session, TrainingJob, job_id, 1, epoch=3)
    with transaction(url) as session:
        finish(session, TrainingJob, job_id, 2, JobStatus.FAILED, error="bad", code="oops")
    job = read(url, TrainingJob, job_id)
    assert (job.status, job.error_code, job.model_id) == ("failed", "oops", None)
    assert job.finished_at is not None
    with transaction(url) as session, pytest.raises(ValueError, match="not a final status"):
        finish(session, TrainingJob, job_id, 2, JobStatus.RUNNING)


def test_a_hand_back_spends_no_attempt_and_a_retried_one_is_fenced(url: str) -> None:
    job_id = add_job(url, PredictionJob, "pj_back", rows_done=0)
    assert claim_in_own_transaction(url, PredictionJob, job_id, "w1") == 1
    with transaction(url) as session:
        fence(session, PredictionJob, job_id, 1, rows_done=4)
        hand_back(session, PredictionJob, job_id, 1, "w1", rows_done=0)
    job = read(url, PredictionJob, job_id)
    assert (job.status, job.attempts, job.worker, job.rows_done) == ("queued", 0, None, 0)
    assert claim_in_own_transaction(url, PredictionJob, job_id, "w2") == 1  # attempt 1 again
    with transaction(url) as session, pytest.raises(LostOwnership):
        hand_back(session, PredictionJob, job_id, 1, "w1")  # w1 retrying: not its job now
    assert read(url, PredictionJob, job_id).worker == "w2"


def test_cancel_queued_running_and_ended_jobs(url: str) -> None:
    queued = add_job(url, TrainingJob, "job_queued")
    running = add_job(url, TrainingJob, "job_running")
    assert claim_in_own_transaction(url, TrainingJob, running, "w1") == 1
    with transaction(url) as session:
        job = cancel(session, session.get(TrainingJob, queued))
        assert job.status == "cancelled" and job.finished_at is not None
        assert cancel(session, job).status == "cancelled"  # again: nothing changes
        job = cancel(session, session.get(TrainingJob, running))
        assert job.status == "running" and job.cancel_requested
        assert cancel_requested(session, TrainingJob, running)
        finish(session, TrainingJob, running, 1, JobStatus.SUCCEEDED)
    for status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        ended = add_job(url, PredictionJob, f"pj_{status}", status=status)
        with transaction(url) as session:
            job = session.get(PredictionJob, ended)
            with pytest.raises(Conflict, match=f"'pj_{status}' has already {status}"):
                cancel(session, job, kind="Prediction job")
        assert read(url, PredictionJob, ended).status == status
    with transaction(url) as session, pytest.raises(Conflict, match="'job_running' has already"):
        cancel(session, session.get(TrainingJob, running))


def test_reap_requeues_stale_jobs_and_fails_those_out_of_attempts(url: str) -> None:
    old, now = utcnow() - timedelta(minutes=10), utcnow()
    running = {"status": JobStatus.RUNNING, "heartbeat_at": old}
    fresh = add_job(url, TrainingJob, "job_fresh", status="running", attempts=1, heartbeat_at=now)
    stale = add_job(url, TrainingJob, "job_stale", attempts=1, worker="w1", **running)
    spent = add_job(url, TrainingJob, "job_spent", attempts=MAX_ATTEMPTS, **running)
    leaving = add_job(url, TrainingJob, "job_leaving", attempts=1, cancel_requested=True,
                      **running)  # fmt: skip
    unsent = add_job(url, TrainingJob, "job_unsent", enqueued_at=None)
    lost_message = add_job(url, TrainingJob, "job_lost_message", enqueued_at=old)
    recent = add_job(url, TrainingJob, "job_recent")

    def sweep() -> list[str]:
        with transaction(url) as session:
            return reap(session, TrainingJob, stale_before=utcnow() - timedelta(minutes=1),
                        requeue_before=utcnow() - timedelta(minutes=1),
                        max_attempts=MAX_ATTEMPTS)  # fmt: skip

    assert sorted(sweep()) == sorted([stale, unsent, lost_message])
    assert read(url, TrainingJob, fresh).status == "running"
    requeued = read(url, TrainingJob, stale)
    assert (requeued.status, requeued.attempts, requeued.worker) == ("queued", 1, None)
    failed = read(url, TrainingJob, spent)
    assert (failed.status, failed.error_code) == ("failed", "worker_lost")
    assert f"lost {MAX_ATTEMPTS} times" in (failed.error or "")
    assert read(url, TrainingJob, leaving).status == "cancelled"
    assert read(url, TrainingJob, recent).status == "queued"
    assert sweep() == []  # what was just sent is not sent again at once


def test_reap_moves_nothing_in_a_rolled_back_session(url: str) -> None:
    stale = add_job(url, PredictionJob, "pj_stale", status="running", attempts=1,
                    heartbeat_at=utcnow() - timedelta(hours=1))  # fmt: skip
    session: Session
    with session_factory(url)() as session:
        ids = reap(session, PredictionJob, stale_before=utcnow(), requeue_before=utcnow(),
                   max_attempts=MAX_ATTEMPTS)  # fmt: skip
        assert ids == [stale]
        session.rollback()
    assert read(url, PredictionJob, stale).status == "running"
