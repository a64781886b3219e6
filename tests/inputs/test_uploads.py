"""Bad uploads: each gets a clear 4xx problem naming what to fix, and nothing is stored."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

from tests.inputs.helpers import (
    UPLOAD_LIMIT,
    assert_problem,
    npz_with_pickled_objects,
    prove_payload_runs,
    query,
)
from tests.stack import Stack

MiB = 1 << 20


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


X2, Y2 = np.array([[1.0], [2.0]]), np.array([0, 1])

# (file name, content, target, words the detail must contain, row or column in `errors`)
BAD_FILES: list[tuple[str, bytes, str | None, list[str], str | None]] = [
    ("garbage.bin", bytes(range(256)) * 16, None, ["not recognised", ".csv"], None),
    ("latin1.csv", b"name,label\ncaf\xe9,1\nthe,0\n", None, ["UTF-8"], "row 2"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", None, ["row 3"], "row 3"),
    ("quote.csv", b'a,b\n"1,2\n3,4\n', None, ["quote"], "row 2"),
    ("empty.csv", b"", None, ["empty"], None),
    ("header.csv", b"a,b\n", None, ["no data rows"], None),
    ("target.csv", b"a,b\n1,2\n3,4\n", "colour", ["'colour'", "'a'", "'b'"], "colour"),
    ("inf.csv", b"a,b\ninf,0\n2,1\n", None, ["row 2", "'a'", "inf"], "row 2"),
    ("inf-target.csv", b"a,b\n1,0\n2,-inf\n3,1\n", None, ["row 3", "'b'"], "row 3"),
    ("objects.npz", b"", None, ["object arrays"], "X"),  # content made in the test
    ("no-x.npz", npz(features=X2, y=Y2), None, ["no 'X' array", "np.savez"], "X"),
    ("no-y.npz", npz(X=X2, target=Y2), None, ["no 'y' array", "np.savez"], "y"),
    ("rows.npz", npz(X=X2, y=np.array([0, 1, 1])), None, ["2 rows", "3 values"], "y"),
    ("object.json", b'{"a": [1, 2], "b": [0, 1]}', None, ["array of records"], None),
    ("numbers.json", b"[1, 2, 3]", None, ["array of records"], None),
    ("broken.json", b'[{"a": 1, "b": 0}, {"a": 2,', None, ["JSON"], None),
    ("missing.json", b'[{"a": 1, "b": 0}, {"a": 2}]', None, ["row 2", "'b'"], "row 2"),
    ("sheet.xlsx", b"PK\x03\x04" + bytes(64), None, ["spreadsheets", "CSV"], None),
    ("data.csv.gz", gzip.compress(b"a,b\n1,0\n2,1\n"), None, ["gzip", "decompress"], None),
    ("no-header.csv", b"0.5,-1,0\n0.7,2,1\n0.1,3,0\n", None, ["lack a header row"], "row 1"),
    ("no-header.tsv", b"1\t2\n3\t4\n5\t6\n", None, ["header row", "no row is lost"], "row 1"),
]


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("uploader")


@pytest.fixture(autouse=True)
def nothing_stored(limited_stack: Stack, key: str) -> Iterator[None]:
    """After every test here, the tenant has no datasets: not in the API, not in the tables,
    and no stray blob was written for a refused upload."""
    yield
    with limited_stack.client(key) as client:
        assert client.get("/v1/datasets").json()["items"] == []
    tenant = "SELECT id FROM tenants WHERE name = 'uploader'"
    assert query(limited_stack, f"SELECT count(*) FROM datasets WHERE tenant_id = ({tenant})") == [
        (0,)
    ]
    orphans = "SELECT count(*) FROM dataset_blobs WHERE dataset_id NOT IN (SELECT id FROM datasets)"
    assert query(limited_stack, orphans) == [(0,)]


@pytest.mark.parametrize(
    ("name", "content", "target", "words", "where"), BAD_FILES, ids=[f[0] for f in BAD_FILES]
)
def test_bad_file_is_422_naming_what_to_fix(
    limited_stack: Stack,
    key: str,
    tmp_path: Path,
    name: str,
    content: bytes,
    target: str | None,
    words: list[str],
    where: str | None,
) -> None:
    if name == "objects.npz":  # an object array pickled inside the .npz: loading it runs code
        marker = tmp_path / "unpickled"
        content = npz_with_pickled_objects(marker)
        prove_payload_runs(tmp_path)
    data = {"target": target} if target else {}
    with limited_stack.client(key) as client:
        response = client.post("/v1/datasets", files={"file": (name, content)}, data=data)
    problem = assert_problem(response, 422)
    for word in words:
        assert word in problem["detail"], problem["detail"]
    assert problem["errors"][0]["loc"][:2] == ["body", "file"]
    if where is not None:
        assert where in problem["errors"][0]["loc"], problem["errors"]
    if name == "objects.npz":
        assert not marker.exists(), "the pickled object array was loaded"


def test_upload_that_is_not_a_file_field_is_422(limited_stack: Stack, key: str) -> None:
    with limited_stack.client(key) as client:
        as_json = assert_problem(client.post("/v1/datasets", json={"file": "a,b\n1,2\n"}), 422)
        assert "multipart/form-data" in as_json["detail"]
        no_file = client.post("/v1/datasets", files={"other": ("d.csv", b"a,b\n1,0\n2,1\n")})
        assert "'file'" in assert_problem(no_file, 422)["detail"]
        broken = client.post(
            "/v1/datasets",
            content=b"--b\r\nnot a part header\r\n",
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_problem(broken, 400)


def test_upload_over_the_limit_with_content_length_is_413(limited_stack: Stack, key: str) -> None:
    body = b"a,b\n" + b"1,0\n2,1\n" * (UPLOAD_LIMIT // 8 + 10)
    with limited_stack.client(key) as client:
        response = client.post("/v1/datasets", files={"file": ("big.csv", body)})
    problem = assert_problem(response, 413)
    assert f"{UPLOAD_LIMIT:,}" in problem["detail"]


def _chunked_multipart(total: int) -> Iterator[bytes]:
    """A well-formed multipart upload of `total` bytes of CSV, sent without Content-Length."""
    yield (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="huge.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\na,b\n"
    )
    chunk = b"1,0\n2,1\n" * (MiB // 8)
    for _ in range(total // MiB):
        yield chunk
    yield b"\r\n--b--\r\n"


def test_chunked_upload_over_the_limit_is_413_and_memory_stays_flat(
    limited_stack: Stack, key: str
) -> None:
    assert limited_stack.api is not None
    api = psutil.Process(limited_stack.api.pid)  # uvicorn serves in this very process
    with limited_stack.client(key) as client:
        client.get("/v1/datasets")  # warm up: the first request allocates lazily
        before = api.memory_info().rss
        response = client.post(
            "/v1/datasets",
            content=_chunked_multipart(200 * MiB),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        after = api.memory_info().rss
    problem = assert_problem(response, 413)
    assert f"{UPLOAD_LIMIT:,}" in problem["detail"]
    assert after - before < 30 * MiB, f"the API grew by {(after - before) / MiB:.0f} MiB"


def test_compressed_npz_is_capped_after_decompression(limited_stack: Stack, key: str) -> None:
    buffer = io.BytesIO()  # 4 MB of zeros that compress to a few kilobytes
    np.savez_compressed(buffer, X=np.zeros((50_000, 10)), y=np.arange(50_000) % 2)
    assert len(buffer.getvalue()) < UPLOAD_LIMIT // 10
    with limited_stack.client(key) as client:
        response = client.post("/v1/datasets", files={"file": ("zeros.npz", buffer.getvalue())})
    problem = assert_problem(response, 413)
    assert "decompressed" in problem["detail"] and f"{UPLOAD_LIMIT:,}" in problem["detail"]


def test_small_compressed_npz_is_accepted_and_deleted(limited_stack: Stack, key: str) -> None:
    buffer = io.BytesIO()  # the cap is on the expanded size: a small one still works
    np.savez_compressed(buffer, X=np.arange(20.0).reshape(10, 2), y=np.arange(10) % 2)
    with limited_stack.client(key) as client:
        response = client.post("/v1/datasets", files={"file": ("small.npz", buffer.getvalue())})
        assert response.status_code == 201, response.text
        assert response.json()["n_rows"] == 10
        assert client.delete(f"/v1/datasets/{response.json()['id']}").status_code == 204


def test_compressed_request_body_is_415(limited_stack: Stack, key: str) -> None:
    csv = gzip.compress(b"a,b\n1,0\n2,1\n")
    files = {"file": ("d.csv", csv)}
    with limited_stack.client(key) as client:
        upload = client.post("/v1/datasets", files=files, headers={"Content-Encoding": "gzip"})
        problem = assert_problem(upload, 415)
        assert "gzip" in problem["detail"] and "uncompressed" in problem["detail"]
        job = client.post(
            "/v1/jobs",
            content=gzip.compress(json.dumps({"dataset_id": "x"}).encode()),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert_problem(job, 415)
