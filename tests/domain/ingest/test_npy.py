""".npy bytes read without numpy.load: the same arrays, nothing unpickled, bad bytes named."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.domain.ingest import decode_dataset, encode_dataset, parse_dataset
from service.domain.ingest.npy import HEADER, NpyError, npy_array

ARRAYS = [
    np.arange(12.0).reshape(3, 4),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(4, dtype=">i4"),
    np.array(["ab", "c", ""]),
    np.float32(2.5),
    np.zeros((0, 3)),
    np.arange(24, dtype=np.int8).reshape(2, 3, 4),
]


def saved(array: Any, version: tuple[int, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array, allow_pickle=False)
    else:
        np.lib.format.write_array(buffer, np.asanyarray(array), version=version)
    return buffer.getvalue()


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_arrays_read_back_as_numpy_saved_them(array: np.ndarray) -> None:
    data = saved(array)
    length = int.from_bytes(data[8:10], "little")
    assert HEADER.fullmatch(data, 10, 10 + length), "numpy's own header takes the short way"
    read = npy_array(bytearray(data))
    assert read.dtype == array.dtype and read.shape == array.shape
    assert np.array_equal(read, array)
    assert read.flags.writeable  # a view of the bytearray, as numpy.load's arrays are


def test_another_header_form_is_read_by_numpy() -> None:
    data = saved(np.arange(3.0), version=(2, 0))
    assert np.array_equal(npy_array(data), np.arange(3.0))
    dtype = np.dtype([("a", "<f8"), ("b", "<i4")])  # a structured header: numpy's parser
    record = npy_array(saved(np.zeros(2, dtype=dtype)))
    assert record.dtype == dtype and record.shape == (2,)


def test_objects_are_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Marker(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(NpyError, match="Python objects"):
        npy_array(buffer.getvalue())
    assert not marker.exists()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "does not start"),
        (b"PK\x03\x04", "does not start"),
        (saved(np.arange(4.0))[:-8], "not what its header describes"),
        (saved(np.arange(4.0)) + b"x", "not what its header describes"),
        (saved(np.arange(4.0))[:40], "EOF"),
        (b"\x93NUMPY\x09\x00\x10\x00", "format version 9.0"),
    ],
    ids=["empty", "zip", "short", "long", "header cut", "unknown version"],
)
def test_bad_bytes_say_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(NpyError, match=words):
        npy_array(data)


def test_a_stored_dataset_reads_back_and_a_cut_one_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("x,colour,label\n1.5,red,a\n,blue,b\n3,,a\n")
    blob = encode_dataset(parse_dataset(path, filename="rows.csv", target="label"))
    columns, target, features = decode_dataset(blob)
    assert np.array_equal(columns["x"], [1.5, np.nan, 3.0], equal_nan=True)
    assert columns["colour"].tolist() == ["red", "blue", ""]
    assert target.tolist() == ["a", "b", "a"] and target.flags.writeable
    assert [f["kind"] for f in features] == ["numeric", "categorical"]
    with pytest.raises(ValueError, match="corrupt"):
        decode_dataset(blob[: len(blob) // 2])


class _Marker:
    """Unpickling this creates a file: proof that client bytes ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (self.path, "w"))
