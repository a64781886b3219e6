"""Training jobs through the domain functions: validation at submission, idempotency, the
per-tenant cap, cancellation, listing by status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from service.domain.jobs import cancel_job, create_job, get_job, list_jobs
from tests.domain.conftest import add_tenant, points_csv, upload

NETWORK = {"layers": [{"units": 8, "activation": "relu"}]}
TRAINING = {"epochs": 3, "batch_size": 16, "optimizer": {"name": "adam"}}


def request(dataset: str, **changes: Any) -> dict[str, Any]:
    return {"dataset_id": dataset, "network": NETWORK, "training": TRAINING} | changes


@pytest.fixture
def dataset_id(session: Session, tmp_path: Path) -> str:
    add_tenant(session, "ten_a")
    return upload(session, "ten_a", points_csv(tmp_path / "points.csv")).id


def test_a_valid_request_queues_a_job_with_normalized_specs(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    job, created = create_job(session, "ten_a", request(dataset_id), settings)
    assert created and job.status == "queued" and job.attempts == 0
    assert job.task == "classification" and job.epochs == 3
    assert job.network["layers"][0]["units"] == 8
    assert job.training["optimizer"]["name"] == "adam"
    assert "learning_rate" in job.training["optimizer"]  # defaults filled in


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"network": {"layers": [{"units": 0}]}}, "units"),
        ({"training": {**TRAINING, "epochs": -1}}, "epochs"),
        ({"training": {**TRAINING, "optimizer": {"name": "adamw?"}}}, "optimizer"),
        ({"dataset_id": "ds_missing"}, "dataset_id"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    session: Session, settings: Settings, dataset_id: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        create_job(session, "ten_a", request(dataset_id, **changes), settings)
    assert any(field in ".".join(map(str, e["loc"])) for e in refused.value.errors)
    assert list_jobs(session, "ten_a", status=None, limit=10, cursor=None).items == []


def test_an_idempotency_key_answers_with_the_first_job_and_refuses_another_body(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    first, created = create_job(
        session, "ten_a", request(dataset_id), settings, idempotency_key="k-1"
    )
    again, created_again = create_job(
        session, "ten_a", request(dataset_id), settings, idempotency_key="k-1"
    )
    assert created and not created_again and again.id == first.id
    with pytest.raises(InvalidInput, match="Idempotency-Key"):
        create_job(
            session,
            "ten_a",
            request(dataset_id, task="regression"),
            settings,
            idempotency_key="k-1",
        )


def test_the_per_tenant_cap_refuses_one_more_active_job(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    jobs = [create_job(session, "ten_a", request(dataset_id), settings)[0] for _ in range(3)]
    with pytest.raises(TooManyRequests) as refused:
        create_job(session, "ten_a", request(dataset_id), settings)
    assert int(refused.value.headers["Retry-After"]) > 0
    cancel_job(session, "ten_a", jobs[0].id)
    assert create_job(session, "ten_a", request(dataset_id), settings)[1]


def folds(k: int) -> dict[str, Any]:
    return {**TRAINING, "cross_validation": {"folds": k}}


def test_the_cap_counts_the_folds_and_the_final_training_a_job_queues(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    assert settings.max_running_jobs_per_tenant == 3
    two_folds, _ = create_job(session, "ten_a", request(dataset_id, training=folds(2)), settings)
    with pytest.raises(TooManyRequests) as refused:  # 2 folds + the final training: 3 tasks
        create_job(session, "ten_a", request(dataset_id), settings)
    assert "3 tasks" in refused.value.detail and "folds" in refused.value.detail
    cancel_job(session, "ten_a", two_folds.id)
    # 5 folds and the final training are more than the limit: the job counts as the whole
    # limit, so alone it is taken (its folds wait for each other) and nothing fits beside it
    many, _ = create_job(session, "ten_a", request(dataset_id, training=folds(5)), settings)
    with pytest.raises(TooManyRequests):
        create_job(session, "ten_a", request(dataset_id), settings)
    cancel_job(session, "ten_a", many.id)
    plain, _ = create_job(session, "ten_a", request(dataset_id), settings)
    with pytest.raises(TooManyRequests):  # 1 + 3 tasks
        create_job(session, "ten_a", request(dataset_id, training=folds(2)), settings)
    create_job(session, "ten_a", request(dataset_id), settings)  # 2 tasks of 3


def test_cancel_ends_a_queued_job_and_refuses_a_finished_one(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    job, _ = create_job(session, "ten_a", request(dataset_id), settings)
    cancelled = cancel_job(session, "ten_a", job.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert cancel_job(session, "ten_a", job.id).status == "cancelled"  # twice is fine
    other, _ = create_job(session, "ten_a", request(dataset_id), settings)
    other.status = "succeeded"
    session.flush()
    with pytest.raises(Conflict, match="already succeeded"):
        cancel_job(session, "ten_a", other.id)


def test_jobs_list_by_status_and_stay_with_their_tenant(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    add_tenant(session, "ten_b")
    kept, _ = create_job(session, "ten_a", request(dataset_id), settings)
    gone, _ = create_job(session, "ten_a", request(dataset_id), settings)
    cancel_job(session, "ten_a", gone.id)
    queued = list_jobs(session, "ten_a", limit=10, cursor=None, status="queued")
    assert [j.id for j in queued.items] == [kept.id]
    assert list_jobs(session, "ten_b", status=None, limit=10, cursor=None).items == []
    with pytest.raises(NotFound):
        get_job(session, "ten_b", kept.id)
    with pytest.raises(InvalidInput):
        list_jobs(session, "ten_a", limit=10, cursor=None, status="finished")


def search_request(dataset_id: str, training: dict[str, Any], max_parallel: int) -> dict:
    from service.api.schemas_searches import SearchRequest

    body = SearchRequest.model_validate({
        "dataset_id": dataset_id, "base": {"network": NETWORK, "training": training},
        "space": {"training.optimizer.learning_rate": {"choice": [0.1, 0.01, 0.001, 0.0001]}},
        "strategy": "grid", "limits": {"max_trials": 4, "max_parallel": max_parallel},
    })  # fmt: skip
    request = body.model_dump(mode="json", by_alias=True)
    request["base"] = body.base.model_dump(mode="json", exclude_none=True)
    return request


def test_a_search_starts_only_the_trials_whose_tasks_fit_the_cap(
    session: Session, settings: Settings, dataset_id: str
) -> None:
    from service.domain.searches import create_search

    assert settings.max_running_jobs_per_tenant == 3
    _, queued = create_search(session, "ten_a", search_request(dataset_id, TRAINING, 4),
                                  settings)  # fmt: skip
    assert len(queued) == 3  # max_parallel 4, but 3 tasks at most
    for job_id in queued:
        cancel_job(session, "ten_a", job_id)
    _, queued = create_search(session, "ten_a", search_request(dataset_id, folds(2), 4),
                                  settings)  # fmt: skip
    assert len(queued) == 1  # each trial stands for 2 folds and its final training
