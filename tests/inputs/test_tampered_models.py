"""A stored model whose bytes were tampered with is refused, and nothing in it ever runs.

The blob is overwritten in the stack's SQLite file behind the API's back. The API answers
409 (the model exists but is in no state to predict; delete it and train again), never 500,
and the pickled payloads, which create a marker file when unpickled, leave no file behind.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.inputs.helpers import (
    assert_problem,
    execute,
    npz_with_pickled_objects,
    pickle_payload,
    prove_payload_runs,
    query,
    train_iris,
)
from tests.stack import Stack

ROW = {"inputs": [[5.1, 3.5, 1.4, 0.2]]}


@pytest.fixture(scope="module")
def key(limited_stack: Stack) -> str:
    return limited_stack.create_key("tamper-victim")


@pytest.fixture(scope="module")
def model_id(limited_stack: Stack, key: str, iris_bytes: bytes) -> str:
    """A trained model never predicted with, so no API process holds it loaded."""
    return str(train_iris(limited_stack, key, iris_bytes)["model_id"])


@pytest.fixture
def original(limited_stack: Stack, model_id: str) -> Iterator[bytes]:
    """The model's real bytes, put back after each test."""
    rows = query(limited_stack, "SELECT data FROM model_blobs WHERE model_id = ?", model_id)
    data = bytes(rows[0][0])
    yield data
    execute(limited_stack, "UPDATE model_blobs SET data = ? WHERE model_id = ?", data, model_id)


def _repacked(
    data: bytes, change: Callable[[dict[str, Any], dict[str, np.ndarray]], None]
) -> bytes:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    change(meta, arrays)
    out = io.BytesIO()
    blob = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(out, __meta__=blob, **arrays)
    return out.getvalue()


def _wrong_shape(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    arrays["W0"] = arrays["W0"][:, :1]


def _not_ours(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    meta["format"] = "something-else"


def _bad_activation(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    meta["activations"][0] = "__import__('os').system"


TAMPERINGS: dict[str, Callable[[bytes, Path], bytes]] = {
    "random bytes": lambda data, marker: bytes(range(256)) * 8,
    "empty": lambda data, marker: b"",
    "truncated": lambda data, marker: data[: len(data) // 2],
    "flipped bytes": lambda data, marker: (
        data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:]
    ),
    "a raw pickle": lambda data, marker: pickle_payload(marker),
    "pickled weights": lambda data, marker: npz_with_pickled_objects(marker, key="W0"),
    "wrong weight shape": lambda data, marker: _repacked(data, _wrong_shape),
    "another format": lambda data, marker: _repacked(data, _not_ours),
    "unknown activation": lambda data, marker: _repacked(data, _bad_activation),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampered_model_is_refused_without_running_anything(
    limited_stack: Stack,
    key: str,
    model_id: str,
    original: bytes,
    tmp_path: Path,
    tampering: str,
) -> None:
    marker = tmp_path / "code-ran"
    prove_payload_runs(tmp_path)
    tampered = TAMPERINGS[tampering](original, marker)
    execute(limited_stack, "UPDATE model_blobs SET data = ? WHERE model_id = ?", tampered, model_id)
    with limited_stack.client(key) as client:
        problem = assert_problem(client.post(f"/v1/models/{model_id}/predict", json=ROW), 409)
        assert model_id in problem["detail"] and "train it again" in problem["detail"]
        assert client.get(f"/v1/models/{model_id}").status_code == 200  # metadata intact
    assert not marker.exists(), "a pickle in the stored model was unpickled"


def test_the_untampered_model_still_predicts(
    limited_stack: Stack, key: str, model_id: str, original: bytes
) -> None:
    """The refusals above are about the bytes: the same model with its own bytes works."""
    with limited_stack.client(key) as client:
        response = client.post(f"/v1/models/{model_id}/predict", json=ROW)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0] in ("setosa", "versicolor", "virginica")
