"""Every route of the contract over real HTTP on the embedded default: errors, auth, tenant
isolation, pagination, idempotency, cancel, delete."""

from __future__ import annotations

import socket

import pytest

from tests.stack import Stack, wait_for_job, wait_until

SMALL_JOB = {
    "network": {"layers": [{"units": 8, "activation": "tanh"}]},
    "training": {"epochs": 5, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.1}},
}


@pytest.fixture(scope="module")
def alice(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("alice")


@pytest.fixture(scope="module")
def bob(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("bob")


@pytest.fixture(scope="module")
def trained(embedded_stack: Stack, alice: str, iris_bytes: bytes) -> dict:
    with embedded_stack.client(alice) as client:
        dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **SMALL_JOB}).json()
        job = wait_for_job(client, job["id"])
        assert job["status"] == "succeeded", embedded_stack.logs()
        return {"dataset": dataset, "job": job, "model_id": job["model_id"]}


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["detail"] and body["title"] and body["type"]
    return body


def test_operations_need_no_key(embedded_stack: Stack) -> None:
    with embedded_stack.client(None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": True,
            "broker": True,
        }
        assert "neuronal_jobs" in client.get("/metrics").text
        assert client.get("/openapi.json").json()["info"]["title"] == "Neuronal"
        assert client.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer nrl_key_0_wrong"]
)
def test_bad_keys_get_401_with_challenge(embedded_stack: Stack, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    with embedded_stack.client(None) as client:
        response = client.get("/v1/datasets", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoked_key_stops_working(embedded_stack: Stack) -> None:
    key = embedded_stack.create_key("short-lived")
    key_id = "key_" + key.split("_")[2]
    with embedded_stack.client(key) as client:
        assert client.get("/v1/datasets").status_code == 200
        embedded_stack.neuronal("keys", "revoke", key_id)
        listed = embedded_stack.neuronal("keys", "list").stdout
        assert key_id in listed and "revoked" in listed and key.split("_")[-1] not in listed
        wait_until(
            lambda: client.get("/v1/datasets").status_code == 401,
            timeout=5,
            what="the revoked key to be refused",
        )


def test_other_tenants_ids_answer_404_everywhere(
    embedded_stack: Stack, bob: str, trained: dict
) -> None:
    dataset_id, job_id, model_id = (
        trained["dataset"]["id"],
        trained["job"]["id"],
        trained["model_id"],
    )
    with embedded_stack.client(bob) as client:
        for method, path in [
            ("GET", f"/v1/datasets/{dataset_id}"),
            ("DELETE", f"/v1/datasets/{dataset_id}"),
            ("GET", f"/v1/jobs/{job_id}"),
            ("GET", f"/v1/jobs/{job_id}/metrics"),
            ("GET", f"/v1/jobs/{job_id}/events"),
            ("POST", f"/v1/jobs/{job_id}/cancel"),
            ("GET", f"/v1/models/{model_id}"),
            ("GET", f"/v1/models/{model_id}/weights"),
            ("DELETE", f"/v1/models/{model_id}"),
        ]:
            assert_problem(client.request(method, path), 404)
        predict = client.post(f"/v1/models/{model_id}/predict", json={"inputs": [[1, 2, 3, 4]]})
        assert_problem(predict, 404)
        for path in ("/v1/datasets", "/v1/jobs", "/v1/models"):
            assert all(
                item["id"] not in (dataset_id, job_id, model_id)
                for item in client.get(path).json()["items"]
            )
        stolen = client.post("/v1/jobs", json={"dataset_id": dataset_id, **SMALL_JOB})
        body = assert_problem(stolen, 422)
        assert body["errors"][0]["loc"] == ["dataset_id"]


def test_pagination_walks_every_item_once(embedded_stack: Stack, iris_bytes: bytes) -> None:
    key = embedded_stack.create_key("pager")
    with embedded_stack.client(key) as client:
        ids = {
            client.post("/v1/datasets", files={"file": ("d.csv", iris_bytes)}).json()["id"]
            for _ in range(5)
        }
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/datasets", params=params).json()
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(ids, reverse=True)
        assert_problem(client.get("/v1/datasets", params={"limit": 501}), 422)
        assert_problem(client.get("/v1/datasets", params={"limit": 0}), 422)


def test_idempotency_key_returns_the_first_job(
    embedded_stack: Stack, alice: str, trained: dict
) -> None:
    body = {"dataset_id": trained["dataset"]["id"], **SMALL_JOB}
    with embedded_stack.client(alice) as client:
        headers = {"Idempotency-Key": "same-request-1"}
        first = client.post("/v1/jobs", json=body, headers=headers)
        second = client.post("/v1/jobs", json=body, headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json()["id"] == second.json()["id"]
        other = {**body, "training": {**SMALL_JOB["training"], "epochs": 6}}
        assert_problem(client.post("/v1/jobs", json=other, headers=headers), 422)
        wait_for_job(client, first.json()["id"])


@pytest.mark.parametrize(
    ("change", "loc_start"),
    [
        ({"network": {"layers": [{"units": 8, "activation": "relux"}]}}, ["network"]),
        ({"network": {"layers": [{"units": 0, "activation": "relu"}]}}, ["network"]),
        ({"network": {"layers": [{"type": "lstm", "units": 8}]}}, ["network"]),
        ({"training": {"epochs": 0}}, ["training"]),
        ({"task": "regression"}, ["task"]),
        ({"training": {"epochs": 1, "bogus": 1}}, ["training"]),
        ({"status": "succeeded"}, ["body"]),
        ({"dataset_id": "ds_missing"}, ["dataset_id"]),
    ],
)
def test_impossible_specs_are_refused_with_the_field(
    embedded_stack: Stack, alice: str, trained: dict, change: dict, loc_start: list
) -> None:
    body = {"dataset_id": trained["dataset"]["id"], **SMALL_JOB, **change}
    with embedded_stack.client(alice) as client:
        problem = assert_problem(client.post("/v1/jobs", json=body), 422)
    assert problem["errors"][0]["loc"][: len(loc_start)] == loc_start, problem


def test_cancel_queued_and_finished_jobs(embedded_stack: Stack, alice: str, trained: dict) -> None:
    long_job = {**SMALL_JOB, "training": {**SMALL_JOB["training"], "epochs": 3000, "batch_size": 1}}
    with embedded_stack.client(alice) as client:
        job = client.post("/v1/jobs", json={"dataset_id": trained["dataset"]["id"], **long_job})
        cancelled = client.post(f"/v1/jobs/{job.json()['id']}/cancel")
        assert cancelled.status_code == 202
        final = wait_for_job(client, job.json()["id"], timeout=60)
        assert final["status"] == "cancelled" and final["model_id"] is None
        done = client.post(f"/v1/jobs/{trained['job']['id']}/cancel")
        assert_problem(done, 409)
        listed = client.get("/v1/jobs", params={"status": "cancelled"}).json()["items"]
        assert job.json()["id"] in [j["id"] for j in listed]
        assert_problem(client.get("/v1/jobs", params={"status": "sleeping"}), 422)


def test_predict_errors_name_row_and_feature(
    embedded_stack: Stack, alice: str, trained: dict
) -> None:
    path = f"/v1/models/{trained['model_id']}/predict"
    with embedded_stack.client(alice) as client:
        wrong_width = assert_problem(client.post(path, json={"inputs": [[1, 2, 3]]}), 422)
        assert "row 0" in wrong_width["detail"] or "0" in str(wrong_width["errors"])
        text = assert_problem(client.post(path, json={"inputs": [[1, 2, "x", 4]]}), 422)
        assert "petal_length" in text["detail"]
        assert_problem(client.post(path, json={"inputs": []}), 422)
        assert_problem(client.post(path, json={}), 422)
        unknown = assert_problem(client.post(path, json={"records": [{"colour": 1}]}), 422)
        assert "colour" in unknown["detail"]
        assert_problem(
            client.post(path, content=b"not json", headers={"content-type": "application/json"}),
            422,
        )


def test_bad_uploads_store_nothing(embedded_stack: Stack) -> None:
    key = embedded_stack.create_key("uploader")
    with embedded_stack.client(key) as client:
        for name, content in [
            ("empty.csv", b""),
            ("header.csv", b"a,b\n"),
            ("ragged.csv", b"a,b\n1,2\n3,4,5\n"),
            ("bad.json", b'{"a": 1}'),
            ("garbage.npz", b"PK\x03\x04garbage"),
        ]:
            assert_problem(client.post("/v1/datasets", files={"file": (name, content)}), 422)
        missing_target = client.post(
            "/v1/datasets", files={"file": ("d.csv", b"a,b\n1,2\n3,4\n")}, data={"target": "c"}
        )
        assert "c" in assert_problem(missing_target, 422)["detail"]
        assert_problem(client.post("/v1/datasets", json={"file": "x"}), 422)
        assert client.get("/v1/datasets").json()["items"] == []


def test_upload_over_the_limit_is_413_before_the_body_is_read(embedded_stack: Stack) -> None:
    key = embedded_stack.create_key("big")
    declared = 256 * 1024 * 1024 + 1
    with socket.create_connection(("127.0.0.1", embedded_stack.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {declared}\r\n\r\n".encode()
        )
        head = sock.recv(65536).decode()
    assert head.startswith("HTTP/1.1 413"), head
    assert "application/problem+json" in head


def test_dataset_in_use_cannot_be_deleted(
    embedded_stack: Stack, alice: str, trained: dict, iris_bytes: bytes
) -> None:
    with embedded_stack.client(alice) as client:
        dataset = client.post("/v1/datasets", files={"file": ("d.csv", iris_bytes)}).json()
        long_job = {
            **SMALL_JOB,
            "training": {**SMALL_JOB["training"], "epochs": 3000, "batch_size": 1},
        }
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **long_job}).json()
        assert_problem(client.delete(f"/v1/datasets/{dataset['id']}"), 409)
        client.post(f"/v1/jobs/{job['id']}/cancel")
        wait_for_job(client, job["id"], timeout=60)
        assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
        assert_problem(client.get(f"/v1/datasets/{dataset['id']}"), 404)


def test_delete_model(embedded_stack: Stack, alice: str, iris_bytes: bytes) -> None:
    with embedded_stack.client(alice) as client:
        dataset = client.post("/v1/datasets", files={"file": ("d.csv", iris_bytes)}).json()
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **SMALL_JOB}).json()
        model_id = wait_for_job(client, job["id"])["model_id"]
        assert (
            client.post(
                f"/v1/models/{model_id}/predict", json={"inputs": [[5, 3, 1, 0.2]]}
            ).status_code
            == 200
        )
        assert client.delete(f"/v1/models/{model_id}").status_code == 204
        assert_problem(client.get(f"/v1/models/{model_id}"), 404)
        assert_problem(
            client.post(f"/v1/models/{model_id}/predict", json={"inputs": [[5, 3, 1, 0.2]]}), 404
        )


def test_request_id_is_echoed(embedded_stack: Stack) -> None:
    with embedded_stack.client(None) as client:
        response = client.get("/v1/jobs", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"
