"""Bulk predict bodies over real HTTP: `text/csv` with a header row and NumPy `.npy` arrays."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from tests.inputs.helpers import PREDICT_ROWS, assert_problem, train_iris
from tests.stack import Stack

JSON_BODY_LIMIT = 32 * 1024 * 1024
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
CSV = "text/csv"
NPY = "application/x-npy"


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("bulk")


@pytest.fixture(scope="module")
def path(limited_stack: Stack, key: str, iris_bytes: bytes) -> str:
    model_id = train_iris(limited_stack, key, iris_bytes)["model_id"]
    return f"/v1/models/{model_id}/predict"


def post(stack: Stack, key: str, path: str, body: bytes | Iterator[bytes], kind: str) -> Any:
    with stack.client(key) as client:
        return client.post(path, content=body, headers={"content-type": kind})


def csv_body(names: list[str], rows: list[list[Any]]) -> bytes:
    lines = [",".join(names)] + [",".join(str(v) for v in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def npy_body(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def expected(limited_stack: Stack, key: str, path: str) -> dict[str, Any]:
    with limited_stack.client(key) as client:
        answer = client.post(path, json={"inputs": ROWS})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_csv_body_answers_like_json(
    limited_stack: Stack, key: str, path: str, expected: dict[str, Any]
) -> None:
    answer = post(limited_stack, key, path, csv_body(NAMES, ROWS), f"{CSV}; charset=utf-8")
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected
    assert "predict;dur=" in answer.headers["server-timing"]
    # columns in another order are matched by name, as in an upload
    order = [3, 1, 0, 2]
    shuffled = csv_body([NAMES[i] for i in order], [[row[i] for i in order] for row in ROWS])
    assert post(limited_stack, key, path, shuffled, CSV).json() == expected


def test_npy_body_answers_like_json(
    limited_stack: Stack, key: str, path: str, expected: dict[str, Any]
) -> None:
    answer = post(limited_stack, key, path, npy_body(np.array(ROWS)), NPY)
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected
    single = post(limited_stack, key, path, npy_body(np.array(ROWS, dtype=np.float32)), NPY)
    assert single.json()["predictions"] == expected["predictions"]
    one = post(limited_stack, key, path, npy_body(np.array(ROWS[0])), NPY)
    assert one.json()["predictions"] == expected["predictions"][:1]
    integers = post(limited_stack, key, path, npy_body(np.array([[5, 3, 1, 0]])), NPY)
    assert integers.status_code == 200, integers.text


def test_missing_values_are_imputed_as_in_json(limited_stack: Stack, key: str, path: str) -> None:
    with limited_stack.client(key) as client:
        json_answer = client.post(path, json={"inputs": [[None, 3.5, 1.4, 0.2]] * 3}).json()
    body = csv_body(NAMES, [["", 3.5, 1.4, 0.2], ["NA", 3.5, 1.4, 0.2], ["null", 3.5, 1.4, 0.2]])
    csv_answer = post(limited_stack, key, path, body, CSV)
    assert csv_answer.status_code == 200, csv_answer.text
    assert csv_answer.json() == json_answer
    npy_answer = post(limited_stack, key, path, npy_body(np.array([[np.nan, 3.5, 1.4, 0.2]])), NPY)
    assert npy_answer.json()["predictions"] == json_answer["predictions"][:1]


# (body, words the detail must hold, the `loc` of the first error)
BAD_CSV: list[tuple[bytes, list[str], list[Any]]] = [
    (csv_body(NAMES, [[1, 2, "x", 4]]), ["Row 0", "'petal_length'", "not a number"],
     ["body", "inputs", 0, "petal_length"]),
    (csv_body(NAMES, [[1, 2, 3, 4], [1, 2, 3, "wide"]]), ["Row 1", "'petal_width'"],
     ["body", "inputs", 1, "petal_width"]),
    (csv_body(NAMES, [[1, "inf", 3, 4]]), ["infinite", "'sepal_width'"],
     ["body", "inputs", 0, "sepal_width"]),
    (csv_body(NAMES, [[1, 2, 3, 4], [1, 2]]), ["Row 1", "2 values", "4 columns"],
     ["body", "inputs", 1]),
    (csv_body([*NAMES, "colour"], [[1, 2, 3, 4, 5]]), ["'colour'", "sepal_length"],
     ["body", "inputs", "colour"]),
    (csv_body(NAMES[:3], [[1, 2, 3]]), ["no column 'petal_width'"],
     ["body", "inputs", "petal_width"]),
    (csv_body([*NAMES[:3], "sepal_length"], [[1, 2, 3, 4]]), ["more than once"],
     ["body", "inputs", "sepal_length"]),
    (csv_body(NAMES, []), ["no rows"], ["body", "inputs"]),
    (b"", ["empty", "header"], ["body"]),
    (b"sepal_length\xff,b\n1,2\n", ["UTF-8"], ["body"]),
]  # fmt: skip


@pytest.mark.parametrize(("body", "words", "loc"), BAD_CSV, ids=[b[0][-24:] for b in BAD_CSV])
def test_bad_csv_body_is_422_naming_the_row_and_feature(
    limited_stack: Stack, key: str, path: str, body: bytes, words: list[str], loc: list[Any]
) -> None:
    problem = assert_problem(post(limited_stack, key, path, body, CSV), 422)
    for word in words:
        assert word in problem["detail"], problem["detail"]
    assert problem["errors"][0]["loc"] == loc, problem["errors"]


BAD_NPY: list[tuple[bytes, list[str], list[Any]]] = [
    (npy_body(np.array([[1.0, 2.0, 3.0]])), ["3 values", "4 features"], ["body", "inputs", 0]),
    (npy_body(np.array([[1, 2, 3, 4], [1, np.inf, 3, 4]])), ["Row 1", "'sepal_width'", "infinite"],
     ["body", "inputs", 1, "sepal_width"]),
    (npy_body(np.ones((2, 2, 4))), ["(2, 2, 4)", "2-D"], ["body"]),
    (npy_body(np.array([[True, False, True, True]])), ["bool", "floats"], ["body"]),
    (npy_body(np.array([["a", "b", "c", "d"]])), ["<U1", "floats"], ["body"]),
    (npy_body(np.zeros((0, 4))), ["no values"], ["body", "inputs"]),
    (b"\x93NUMPY garbage", ["not a NumPy .npy array"], ["body"]),
    (b"5.1,3.5,1.4,0.2", ["not a NumPy .npy array"], ["body"]),
]  # fmt: skip


@pytest.mark.parametrize(("body", "words", "loc"), BAD_NPY, ids=[str(i) for i in range(8)])
def test_bad_npy_body_is_422_naming_the_row_and_feature(
    limited_stack: Stack, key: str, path: str, body: bytes, words: list[str], loc: list[Any]
) -> None:
    problem = assert_problem(post(limited_stack, key, path, body, NPY), 422)
    for word in words:
        assert word in problem["detail"], problem["detail"]
    assert problem["errors"][0]["loc"][: len(loc)] == loc, problem["errors"]


def test_pickled_npy_and_npz_bodies_are_refused_unread(
    limited_stack: Stack, key: str, path: str, tmp_path: Any
) -> None:
    marker = tmp_path / "unpickled"
    pickled = io.BytesIO()
    np.save(pickled, np.array([_Marker(str(marker))], dtype=object), allow_pickle=True)
    problem = assert_problem(post(limited_stack, key, path, pickled.getvalue(), NPY), 422)
    assert "not a NumPy .npy array" in problem["detail"]
    assert not marker.exists()
    archive = io.BytesIO()
    np.savez(archive, x=np.array(ROWS))
    problem = assert_problem(post(limited_stack, key, path, archive.getvalue(), NPY), 422)
    assert "single NumPy .npy array" in problem["detail"]


class _Marker:
    """Unpickling this creates a file: proof that the server ran client code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))


def test_more_rows_than_the_limit_is_422(limited_stack: Stack, key: str, path: str) -> None:
    rows = [ROWS[0]] * (PREDICT_ROWS + 1)
    for body, kind in ((csv_body(NAMES, rows), CSV), (npy_body(np.array(rows)), NPY)):
        problem = assert_problem(post(limited_stack, key, path, body, kind), 422)
        assert str(PREDICT_ROWS) in problem["detail"] and "split" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["body", "inputs"]


def _huge_csv(total: int) -> Iterator[bytes]:
    yield (",".join(NAMES) + "\n").encode()
    chunk = b"5.1,3.5,1.4,0.2\n" * 50_000
    for _ in range(total // len(chunk) + 1):
        yield chunk


def test_bodies_over_the_limit_are_413_with_and_without_length(
    limited_stack: Stack, key: str, path: str
) -> None:
    chunked = post(limited_stack, key, path, _huge_csv(JSON_BODY_LIMIT + 1), CSV)
    assert "content-length" not in chunked.request.headers
    assert f"{JSON_BODY_LIMIT:,}" in assert_problem(chunked, 413)["detail"]
    rows = JSON_BODY_LIMIT // (4 * 8) + 1
    declared = post(limited_stack, key, path, npy_body(np.ones((rows, 4))), NPY)
    assert int(declared.request.headers["content-length"]) > JSON_BODY_LIMIT
    assert_problem(declared, 413)
