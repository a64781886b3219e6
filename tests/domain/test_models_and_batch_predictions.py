"""Trained models and batch prediction jobs through the domain functions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.core.config import Settings
from service.core.db import new_id
from service.core.errors import InvalidInput, NotFound
from service.core.tables import PredictionJob, TrainingJob
from service.domain.batch_predictions import (
    cancel_prediction_job,
    create_prediction_job,
    delete_prediction_job,
    get_prediction_job,
    list_prediction_jobs,
)
from service.domain.datasets import get_dataset, load_training_data
from service.domain.jobs import create_job, get_job
from service.domain.trained_models import (
    add_trained_model,
    delete_model,
    get_model,
    list_models,
    model_bytes,
)
from service.engine import Model, fit
from tests.domain.conftest import add_tenant, points_csv, upload


@pytest.fixture
def model_id(session: Session, settings: Settings, tmp_path: Path) -> str:
    """A model trained in-process on the points data and stored as the worker stores one."""
    add_tenant(session, "ten_a")
    dataset = upload(session, "ten_a", points_csv(tmp_path / "points.csv"))
    job, _ = create_job(
        session,
        "ten_a",
        {
            "dataset_id": dataset.id,
            "network": {"layers": [{"units": 8, "activation": "tanh"}]},
            "training": {"epochs": 5, "batch_size": 8, "optimizer": {"name": "adam"}},
        },
        settings,
    )
    data = load_training_data(session, get_dataset(session, "ten_a", dataset.id))
    model, history = fit(
        data.X, data.y, job.network, job.training, task=job.task, features=data.features
    )
    mid = new_id("mdl")
    add_trained_model(
        session,
        job,
        mid,
        model.to_bytes(),
        features=model.features,
        classes=model.classes,
        metrics=history[-1],
    )
    job.status, job.model_id = "succeeded", mid
    session.flush()
    return mid


def test_a_stored_model_reads_back_as_the_model_trained(session: Session, model_id: str) -> None:
    record = get_model(session, "ten_a", model_id)
    assert record.task == "classification" and sorted(record.classes) == ["a", "b"]
    model = Model.from_bytes(model_bytes(session, "ten_a", model_id))
    probabilities = model.predict_proba({"x": [0.9], "y": [0.8], "colour": ["red"]})
    assert probabilities.shape == (1, 2)
    assert list_models(session, "ten_a", limit=10, cursor=None).items[0].id == model_id


def test_deleting_a_model_clears_its_job_and_hides_it(session: Session, model_id: str) -> None:
    add_tenant(session, "ten_b")
    with pytest.raises(NotFound):
        get_model(session, "ten_b", model_id)
    job_id = get_model(session, "ten_a", model_id).job_id
    delete_model(session, "ten_a", model_id)
    session.flush()
    assert get_job(session, "ten_a", job_id).model_id is None
    with pytest.raises(NotFound):
        model_bytes(session, "ten_a", model_id)


Submit = Callable[[str, list[str]], PredictionJob]


@pytest.fixture
def submit(session: Session, settings: Settings, model_id: str, tmp_path: Path) -> Submit:
    """Submits a batch job of tenant ten_a for `model_id` on a CSV of `header` and `rows`."""

    def submit(header: str, rows: list[str]) -> PredictionJob:
        path = tmp_path / "rows.csv"
        path.write_text("\n".join([header, *rows]) + "\n")
        return create_prediction_job(session, "ten_a", model_id, path, filename="rows.csv",
                                     content_type="text/csv", settings=settings)  # fmt: skip

    return submit


def test_a_batch_job_keeps_the_model_features_in_any_column_order(
    session: Session, model_id: str, submit: Submit
) -> None:
    job = submit("colour,extra,y,x", ["red,1,0.5,0.1", "blue,2,,0.9"])
    assert job.status == "queued" and job.n_rows == 2 and job.rows_done == 0
    assert get_prediction_job(session, "ten_a", job.id).model_id == model_id
    assert [j.id for j in list_prediction_jobs(session, "ten_a", limit=5, cursor=None).items] == [
        job.id
    ]


def test_a_batch_file_missing_a_feature_is_refused_naming_it(
    session: Session, submit: Submit
) -> None:
    with pytest.raises(InvalidInput, match="colour"):
        submit("x,y", ["0.1,0.5"])
    assert list_prediction_jobs(session, "ten_a", limit=5, cursor=None).items == []


def test_a_batch_job_cancels_and_deletes(session: Session, model_id: str, submit: Submit) -> None:
    job = submit("x,y,colour", ["0.1,0.5,red"])
    assert cancel_prediction_job(session, "ten_a", job.id).status == "cancelled"
    delete_prediction_job(session, "ten_a", job.id)
    session.flush()
    with pytest.raises(NotFound):
        get_prediction_job(session, "ten_a", job.id)
    assert session.get(TrainingJob, get_model(session, "ten_a", model_id).job_id) is not None
