"""The reaper against a real database: stale jobs go back to the queue or fail as lost."""

from __future__ import annotations

from datetime import timedelta

from service.core.config import Settings
from service.core.db import transaction, utcnow
from service.core.queue import Producer
from service.core.tables import Tenant, TrainingJob


def add_job(status: str, attempts: int, heartbeat_age: float, **extra: object) -> str:
    with transaction() as session:
        if session.get(Tenant, "ten_1") is None:
            session.add(Tenant(id="ten_1", name="t"))
            session.flush()
        job_id = f"job_{status}_{attempts}_{int(heartbeat_age)}"
        session.add(
            TrainingJob(
                id=job_id,
                tenant_id="ten_1",
                dataset_id="ds_1",
                status=status,
                task="regression",
                network={},
                training={},
                epochs=3,
                attempts=attempts,
                heartbeat_at=utcnow() - timedelta(seconds=heartbeat_age),
                enqueued_at=utcnow() - timedelta(seconds=heartbeat_age),
                **extra,
            )
        )
    return job_id


def status_of(job_id: str) -> TrainingJob:
    with transaction() as session:
        job = session.get(TrainingJob, job_id)
        assert job is not None
        return job


def test_stale_running_jobs_are_requeued_then_failed_as_lost(settings: Settings) -> None:
    from worker.reaper import reap_once

    fresh = add_job("running", 1, heartbeat_age=1)
    stale = add_job("running", 1, heartbeat_age=600)
    exhausted = add_job("running", settings.max_attempts, heartbeat_age=601)
    cancelling = add_job("running", 1, heartbeat_age=602, cancel_requested=True)
    lost_message = add_job("queued", 0, heartbeat_age=603)
    requeued = reap_once(settings, Producer(settings))
    assert set(requeued) == {stale, lost_message}
    assert status_of(fresh).status == "running"
    assert status_of(stale).status == "queued"
    lost = status_of(exhausted)
    assert lost.status == "failed" and lost.error_code == "worker_lost"
    assert status_of(cancelling).status == "cancelled"
    # the just re-sent ones are not re-sent at once
    assert reap_once(settings, Producer(settings)) == []
