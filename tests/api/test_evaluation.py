"""GET /v1/models/{id}/confusion: the confusion matrix on the validation rows the job held out."""

from __future__ import annotations

from typing import Any

from tests.stack import Stack, wait_for_job


def train(client: Any, dataset_id: str, **training: Any) -> dict[str, Any]:
    body = {
        "dataset_id": dataset_id,
        "network": {"layers": [{"units": 8, "activation": "relu"}]},
        "training": {"epochs": 8, "batch_size": 16, "seed": 5, **training},
    }
    created = client.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    job = wait_for_job(client, created.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def test_confusion_matrix_reproduces_the_validation_split(
    embedded_stack: Stack, iris_bytes: bytes
) -> None:
    key = embedded_stack.create_key("confusion")
    with embedded_stack.client(key) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("iris.csv", iris_bytes, "text/csv")}
        ).json()
        job = train(client, dataset["id"], validation_fraction=0.2)
        response = client.get(f"/v1/models/{job['model_id']}/confusion")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["split"] == "validation" and body["n_rows"] == 30  # stratified 20 % of 150
        assert body["classes"] == ["setosa", "versicolor", "virginica"]
        matrix = body["matrix"]
        assert [sum(row) for row in matrix] == [10, 10, 10]
        # the same rows and weights the worker validated on give the same accuracy
        assert abs(body["accuracy"] - job["metrics"]["val_accuracy"]) < 1e-9
        assert abs(sum(matrix[i][i] for i in range(3)) / 30 - body["accuracy"]) < 1e-12

        whole = train(client, dataset["id"], validation_fraction=0.0)
        body = client.get(f"/v1/models/{whole['model_id']}/confusion").json()
        assert body["split"] == "training" and body["n_rows"] == 150
        assert abs(body["accuracy"] - whole["metrics"]["train_accuracy"]) < 0.1

        with embedded_stack.client(embedded_stack.create_key("confusion-other")) as other:
            hidden = other.get(f"/v1/models/{job['model_id']}/confusion")
        assert hidden.status_code == 404
        assert hidden.headers["content-type"] == "application/problem+json"


def test_regression_models_have_no_confusion_matrix(embedded_stack: Stack) -> None:
    rows = "\n".join(f"{i / 10},{i / 5 + 1}" for i in range(40))
    key = embedded_stack.create_key("confusion-regression")
    with embedded_stack.client(key) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("r.csv", f"a,y\n{rows}\n".encode(), "text/csv")}
        ).json()
        job = train(client, dataset["id"])
        assert job["task"] == "regression"
        response = client.get(f"/v1/models/{job['model_id']}/confusion")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "regression" in response.json()["detail"]
