"""Values too big for Python's or NumPy's defaults are 4xx answers naming what to fix, and the
connection that sent them stays usable: a JSON integer of thousands of digits, an .npz
whose header claims a terabyte, a Last-Event-ID of thousands of digits."""

from __future__ import annotations

import http.client
import io
import zipfile
from typing import Any

import httpx
import numpy as np
import pytest

from tests.inputs.helpers import assert_problem, train_iris
from tests.stack import Stack

HUGE = "7" * 5000  # past Python's 4,300-digit limit on int(str)


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("huge-values")


@pytest.fixture(scope="module")
def trained(limited_stack: Stack, key: str, iris_bytes: bytes) -> dict[str, Any]:
    return train_iris(limited_stack, key, iris_bytes)


def _same_connection(stack: Stack, path: str, files: dict[str, Any], key: str) -> tuple[Any, ...]:
    """POST `files` to `path`, then GET /healthz on the same keep-alive connection."""
    request = httpx.Request("POST", stack.url + path, files=files)
    body = request.read()
    headers = {**dict(request.headers), "Authorization": f"Bearer {key}"}
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        first = httpx.Response(
            answer.status,
            headers=answer.getheaders(),
            content=answer.read(),
            request=httpx.Request("POST", stack.url + path),
        )
        socket_used = connection.sock
        connection.request("GET", "/healthz")
        second = connection.getresponse()
        second.read()
        return first, second.status, connection.sock is socket_used and socket_used is not None
    finally:
        connection.close()


def test_json_upload_with_a_5000_digit_integer_is_422_and_keeps_the_connection(
    limited_stack: Stack, key: str
) -> None:
    content = f'[{{"x": 1, "y": "a"}}, {{"x": {HUGE}, "y": "b"}}]'.encode()
    files = {"file": ("huge.json", content, "application/json")}
    first, then, reused = _same_connection(limited_stack, "/v1/datasets", files, key)
    problem = assert_problem(first, 422)
    assert "row 2, column 'x'" in problem["detail"] and "too large" in problem["detail"]
    assert "5,000 digits" in problem["detail"]
    assert then == 200 and reused


@pytest.mark.parametrize(
    "body", [f'{{"inputs": [[{HUGE}, 1, 1, 1]]}}', '{"inputs": [[1, 2, 3, 4]]}\xff']
)
def test_predict_body_with_a_5000_digit_integer_or_bad_bytes_says_what_to_fix(
    limited_stack: Stack, key: str, trained: dict[str, Any], body: str
) -> None:
    answer = httpx.post(
        f"{limited_stack.url}/v1/models/{trained['model_id']}/predict",
        content=body.encode("latin-1"),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code in (400, 422), answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "error parsing the body" not in problem["detail"]
    assert ("4,300 digits" in problem["detail"]) or ("UTF-8" in problem["detail"])


def test_batch_prediction_with_a_5000_digit_integer_is_422(
    limited_stack: Stack, key: str, trained: dict[str, Any]
) -> None:
    model_id = trained["model_id"]
    record = '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'
    content = f"[{record}, {record.replace('5.1', HUGE)}]".encode()
    files = {"file": ("rows.json", content, "application/json")}
    path = f"/v1/models/{model_id}/predictions"
    first, then, reused = _same_connection(limited_stack, path, files, key)
    problem = assert_problem(first, 422)
    assert "row 2, column 'sepal_length'" in problem["detail"] and "too large" in problem["detail"]
    assert then == 200 and reused


def _npz_claiming_a_terabyte() -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 20, 1 << 17)}
    )
    target = io.BytesIO()
    np.save(target, np.zeros(4))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + b"\0" * 64)
        archive.writestr("y.npy", target.getvalue())
    return out.getvalue()


def test_npz_whose_header_claims_a_terabyte_is_422(limited_stack: Stack, key: str) -> None:
    with limited_stack.client(key) as client:
        files = {"file": ("huge.npz", _npz_claiming_a_terabyte())}
        problem = assert_problem(client.post("/v1/datasets", files=files), 422)
        assert "'X'" in problem["detail"] and "1,099,511,627,776 bytes" in problem["detail"]
        assert client.get("/v1/datasets").status_code == 200


@pytest.mark.parametrize("last_event_id", ["9" * 5000, "9" * 23, "12x", "²"])
def test_a_last_event_id_that_is_not_ours_is_400(
    limited_stack: Stack, key: str, trained: dict[str, Any], last_event_id: str
) -> None:
    job_id = trained["job_id"]
    with limited_stack.client(key) as client:
        headers = {"Last-Event-ID": last_event_id.encode()}
        answer = client.get(f"/v1/jobs/{job_id}/events", headers=headers)
        problem = assert_problem(answer, 400)
        assert "Last-Event-ID" in problem["detail"] and "18 digits" in problem["detail"]
        # an id it did send resumes after it: the remaining epochs, then the status
        resumed = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "3"})
        assert resumed.status_code == 200
        assert resumed.text.count("event: progress") == 2 and "event: status" in resumed.text
