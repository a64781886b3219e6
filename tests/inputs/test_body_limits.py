"""Which limit a body meets is decided by its content type, not its path: every multipart
upload (data sets and rows to predict alike) has the upload limit, every other body the
JSON limit. Shown near both limits on both upload routes of a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.api.app import JSON_BODY_LIMIT
from tests.inputs.helpers import assert_problem, train_iris
from tests.stack import Stack

MiB = 1 << 20
UPLOAD_LIMIT = JSON_BODY_LIMIT + 8 * MiB  # so that an upload between the two must pass
ROWS = b"5.1,3.5,1.4,0.2,setosa\n6.7,3.0,5.2,2.3,virginica\n"
HEADER = b"sepal_length,sepal_width,petal_length,petal_width,species\n"
MULTIPART_OVERHEAD = 1024  # boundaries and part headers, well over what httpx adds


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        tmp_path_factory.mktemp("body-limits"),
        {"NEURONAL_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)},
        embedded=True,
    )
    stack.start_api()
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def owner(big_stack: Stack, iris_bytes: bytes) -> tuple[str, str]:
    key = big_stack.create_key("body-limits")
    return key, str(train_iris(big_stack, key, iris_bytes)["model_id"])


def csv_of(size: int) -> bytes:
    return HEADER + ROWS * ((size - len(HEADER)) // len(ROWS))


def routes(model_id: str) -> list[str]:
    return ["/v1/datasets", f"/v1/models/{model_id}/predictions"]


@pytest.mark.parametrize("route", [0, 1], ids=["datasets", "predictions"])
def test_an_upload_just_under_the_upload_limit_is_taken(
    big_stack: Stack, owner: tuple[str, str], route: int
) -> None:
    key, model_id = owner
    body = csv_of(UPLOAD_LIMIT - MULTIPART_OVERHEAD)
    assert len(body) > JSON_BODY_LIMIT + 4 * MiB
    with big_stack.client(key) as client:
        response = client.post(routes(model_id)[route], files={"file": ("rows.csv", body)})
        assert response.status_code in (201, 202), response.text[:300]
        if route == 1:  # no need to predict 1.7 million rows
            client.post(f"/v1/predictions/{response.json()['id']}/cancel")
        else:
            assert response.json()["n_rows"] == (len(body) - len(HEADER)) // len(ROWS) * 2
            client.delete(f"/v1/datasets/{response.json()['id']}")


@pytest.mark.parametrize("route", [0, 1], ids=["datasets", "predictions"])
def test_an_upload_just_over_the_upload_limit_is_413_naming_that_limit(
    big_stack: Stack, owner: tuple[str, str], route: int
) -> None:
    key, model_id = owner
    with big_stack.client(key) as client:
        response = client.post(
            routes(model_id)[route], files={"file": ("rows.csv", csv_of(UPLOAD_LIMIT + 1))}
        )
    detail = assert_problem(response, 413)["detail"]
    assert f"{UPLOAD_LIMIT:,}" in detail and "NEURONAL_MAX_UPLOAD_BYTES" in detail


@pytest.mark.parametrize("route", [0, 1], ids=["datasets", "predictions"])
def test_a_json_body_on_an_upload_route_has_the_json_limit(
    big_stack: Stack, owner: tuple[str, str], route: int
) -> None:
    key, model_id = owner
    body = b'{"rows": "' + b"x" * (JSON_BODY_LIMIT + 1) + b'"}'
    with big_stack.client(key) as client:
        response = client.post(
            routes(model_id)[route], content=body, headers={"content-type": "application/json"}
        )
    detail = assert_problem(response, 413)["detail"]
    assert f"{JSON_BODY_LIMIT:,}" in detail and "JSON" in detail
