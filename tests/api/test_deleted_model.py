"""A job whose model was deleted no longer points at it: `model_id` is null (API.md's
`str|null`), and the deleted model answers 404 as any unknown id does."""

from __future__ import annotations

from tests.inputs.helpers import train_iris
from tests.stack import Stack


def test_deleting_a_model_clears_its_jobs_model_id(
    embedded_stack: Stack, iris_bytes: bytes
) -> None:
    key = embedded_stack.create_key("model-deleter")
    trained = train_iris(embedded_stack, key, iris_bytes)
    with embedded_stack.client(key) as client:
        assert client.delete(f"/v1/models/{trained['model_id']}").status_code == 204
        job = client.get(f"/v1/jobs/{trained['job_id']}").json()
        assert job["status"] == "succeeded" and job["model_id"] is None
        listed = client.get("/v1/jobs").json()["items"]
        assert [j["model_id"] for j in listed if j["id"] == trained["job_id"]] == [None]
        assert client.get(f"/v1/models/{trained['model_id']}").status_code == 404
