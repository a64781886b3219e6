"""Bad predict bodies: too large, too many rows, wrong width or types, NaN and infinities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.inputs.helpers import PREDICT_ROWS, assert_problem, train_iris
from tests.stack import Stack

JSON_BODY_LIMIT = 32 * 1024 * 1024
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("predictor")


@pytest.fixture(scope="module")
def path(limited_stack: Stack, key: str, iris_bytes: bytes) -> str:
    model_id = train_iris(limited_stack, key, iris_bytes)["model_id"]
    return f"/v1/models/{model_id}/predict"


def post_raw(stack: Stack, key: str, path: str, body: bytes | Iterator[bytes]) -> Any:
    with stack.client(key) as client:
        return client.post(path, content=body, headers={"content-type": "application/json"})


def test_a_good_body_predicts(limited_stack: Stack, key: str, path: str) -> None:
    with limited_stack.client(key) as client:
        rows = client.post(path, json={"inputs": [ROW] * PREDICT_ROWS})
        assert rows.status_code == 200, rows.text
        assert len(rows.json()["predictions"]) == PREDICT_ROWS
        names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        record = client.post(path, json={"records": [dict(zip(names, ROW, strict=True))]})
        assert record.status_code == 200 and record.json()["predictions"] == [
            rows.json()["predictions"][0]
        ]
        missing = client.post(path, json={"inputs": [[None, 3.5, 1.4, 0.2]]})
        assert missing.status_code == 200, "null is a missing value, imputed"


def test_more_rows_than_the_limit_is_422(limited_stack: Stack, key: str, path: str) -> None:
    with limited_stack.client(key) as client:
        inputs = assert_problem(client.post(path, json={"inputs": [ROW] * (PREDICT_ROWS + 1)}), 422)
        records = assert_problem(
            client.post(path, json={"records": [{"sepal_length": 1}] * (PREDICT_ROWS + 1)}), 422
        )
    for problem, where in ((inputs, "inputs"), (records, "records")):
        assert str(PREDICT_ROWS) in problem["detail"] and "split" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", where]


def _huge_json(total: int) -> Iterator[bytes]:
    yield b'{"inputs": ['
    chunk = b"[5.1, 3.5, 1.4, 0.2]," * 50_000
    for _ in range(total // len(chunk) + 1):
        yield chunk
    yield b"[5.1, 3.5, 1.4, 0.2]]}"


def test_body_over_the_json_limit_is_413_with_and_without_length(
    limited_stack: Stack, key: str, path: str
) -> None:
    chunked = post_raw(limited_stack, key, path, _huge_json(JSON_BODY_LIMIT + 1))
    assert "content-length" not in chunked.request.headers
    assert f"{JSON_BODY_LIMIT:,}" in assert_problem(chunked, 413)["detail"]
    declared = post_raw(limited_stack, key, path, b"".join(_huge_json(JSON_BODY_LIMIT + 1)))
    assert int(declared.request.headers["content-length"]) > JSON_BODY_LIMIT
    assert_problem(declared, 413)


_RECORD = b'{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}'


def _record(petal_width: bytes) -> bytes:
    """A records body of one whole record whose petal_width is `petal_width`."""
    return b'{"records": [' + _RECORD.replace(b'"petal_width": 0.2', petal_width) + b"]}"


# (raw JSON body, words the detail must hold, the `loc` of the first error)
BAD_BODIES: list[tuple[bytes, list[str], list[Any]]] = [
    (b'{"inputs": [[1, 2, 3]]}', ["3 values", "4 features"], ["body", "inputs", 0]),
    (b'{"inputs": [[1, 2, 3, 4], [1, 2]]}', ["Row 1", "2 values"], ["body", "inputs", 1]),
    (b'{"inputs": [[1, 2, "x", 4]]}', ["'petal_length'", "not a number"], ["body", "inputs", 0]),
    (b'{"inputs": [[NaN, 1, 2, 3]]}', ["NaN", "not valid JSON"], ["body", "inputs", 0]),
    (b'{"inputs": [[1, NaN, 2, 3]]}', ["'sepal_width'"], ["body", "inputs", 0, "sepal_width"]),
    (b'{"inputs": [[Infinity, 1, 2, 3]]}', ["infinite"], ["body", "inputs", 0, "sepal_length"]),
    (b'{"inputs": [[1, -Infinity, 2, 3]]}', ["infinite"], ["body", "inputs", 0, "sepal_width"]),
    (b'{"inputs": [[1e999, 1, 2, 3]]}', ["infinite"], ["body", "inputs", 0]),
    (b'{"inputs": [[1e308, -1e308, 1e308, 1]]}', ["Row 0", "finite"], ["body", "inputs", 0]),
    (b'{"inputs": [[1' + b"0" * 400 + b", 1, 2, 3]]}", ["too large"], ["body", "inputs", 0]),
    (b'{"inputs": [[true, 1, 2, 3]]}', ["true", "not a number"], ["body", "inputs", 0]),
    (b'{"inputs": [[{"a": 1}, 1, 2, 3]]}', ["not a number"], ["body", "inputs", 0]),
    (b'{"inputs": [[[1], 1, 2, 3]]}', ["not a number"], ["body", "inputs", 0]),
    (b'{"inputs": []}', ["empty"], ["body", "inputs"]),
    (b'{"inputs": [[]]}', ["0 values"], ["body", "inputs", 0]),
    (b'{"records": []}', ["empty"], ["body", "records"]),
    (b'{"inputs": "abc"}', ["inputs", "list"], ["body", "inputs"]),
    (b'{"inputs": [1, 2]}', ["inputs.0", "list"], ["body", "inputs", 0]),
    (b'{"inputs": {"a": [1]}}', ["list"], ["body", "inputs"]),
    (b'{"records": "x"}', ["records", "list"], ["body", "records"]),
    (b'{"records": [1]}', ["dictionary"], ["body", "records", 0]),
    (b'{"records": [{"colour": 1}]}', ["'colour'", "sepal_length"], ["body", "records", 0]),
    (_record(b'"petal_width": NaN'), ["NaN"], ["body", "records", 0, "petal_width"]),
    (_record(b'"petal_width": "wide"'), ["not a number"], ["body", "records", 0]),
    (
        b'{"records": [{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4}]}',
        ["Record 0", "no 'petal_width'", "null"],
        ["body", "records", 0, "petal_width"],
    ),
    (
        b'{"records": ['
        + _RECORD
        + b', {"sepal_length": 5, "petal_length": 1, "petal_width": 2}]}',
        ["Record 1", "'sepal_width'"],
        ["body", "records", 1, "sepal_width"],
    ),
    (b'{"records": [{}]}', ["Record 0", "'sepal_length'", "'petal_width'"], ["body", "records", 0]),
    (b'{"inputs": [[1, 2, 3, 4]], "records": [{}]}', ["exactly one"], ["body"]),
    (b"{}", ["exactly one"], ["body"]),
    (b'{"rows": [[1, 2, 3, 4]]}', ["rows"], ["body", "rows"]),
    (b"[[1, 2, 3, 4]]", ["dictionary"], ["body"]),
    (b"not json", ["JSON"], ["body", 0]),
    (b'{"inputs": [[1, 2, 3, 4]]', ["JSON"], ["body"]),
]


@pytest.mark.parametrize(("body", "words", "loc"), BAD_BODIES, ids=[b[0][:36] for b in BAD_BODIES])
def test_bad_body_is_422_naming_the_row_and_feature(
    limited_stack: Stack, key: str, path: str, body: bytes, words: list[str], loc: list[Any]
) -> None:
    problem = assert_problem(post_raw(limited_stack, key, path, body), 422)
    for word in words:
        assert word in problem["detail"], problem["detail"]
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem["errors"]


def test_body_that_is_not_utf8_is_400(limited_stack: Stack, key: str, path: str) -> None:
    problem = assert_problem(post_raw(limited_stack, key, path, b'{"inputs": [["\xff"]]}'), 400)
    assert "UTF-8" in problem["detail"]


def test_malformed_json_says_where_and_what(limited_stack: Stack, key: str, path: str) -> None:
    body = b'{"inputs": [[1, 2, 3, 4],]}'
    problem = assert_problem(post_raw(limited_stack, key, path, body), 422)
    assert problem["detail"].startswith("The body is not valid JSON: ")
    assert "Expecting value at character 25" in problem["detail"], problem["detail"]
    with limited_stack.client(key) as client:
        job = client.post("/v1/jobs", content=b'{"dataset_id": "x",}',
                          headers={"content-type": "application/json"})  # fmt: skip
    assert "not valid JSON" in assert_problem(job, 422)["detail"]


def test_a_body_sent_as_a_form_says_to_send_json(limited_stack: Stack, key: str, path: str) -> None:
    with limited_stack.client(key) as client:  # what `curl -d` sends without -H Content-Type
        response = client.post(
            path, content=b'{"inputs": [[1, 2, 3, 4]]}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
    detail = assert_problem(response, 422)["detail"]
    assert "Content-Type: application/json" in detail and "x-www-form-urlencoded" in detail
