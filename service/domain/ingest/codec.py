"""Datasets as compressed bytes for the database, and back.

The blob is an .npz (large arrays stored, small ones deflated; no object arrays, loaded
with pickle disabled) holding ``meta`` (UTF-8 JSON as uint8: names, kinds, row count),
``target``, and per feature either ``f{i}`` (numbers) or ``f{i}_labels`` + ``f{i}_codes``
(categories).

Numeric features are stored as float32: the engine trains in float32, and halving the blob
matters more than digits the training never sees. A column with a value beyond float32's
range stays float64. Categorical features are stored as their distinct labels (unicode)
plus codes (-1 = missing) in the narrowest integer type that holds them, far smaller than
a unicode array of every row. The target keeps float64, so class labels and regression
targets round-trip exactly.

Rows to predict (``encode_columns``) have the same layout without ``target``, and keep
their numbers in float64.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import Any

import numpy as np

from service.domain.ingest.columns import Chunks, FeatureColumns
from service.domain.ingest.dataset import ParsedDataset
from service.domain.ingest.npy import NpyError, npy_array

VERSION = 1
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
STORED_BYTES = 64 << 10


def encode_dataset(parsed: ParsedDataset, *, consume: bool = False) -> bytes:
    """Return the dataset as compressed .npz bytes; with `consume`, each numeric column's
    array is let go of once written (for a caller done with `parsed`), so the blob never
    sits beside every column."""
    features: list[dict[str, str]] = []
    arrays = _feature_arrays(parsed.columns, features, narrow=True, consume=consume)
    meta = {  # `features` is filled in as the arrays are written, before `meta` is
        "version": VERSION,
        "n_rows": parsed.n_rows,
        "features": features,
        "target": {"name": parsed.target_name, "kind": parsed.target_summary["kind"]},
    }
    return _savez(chain(arrays, [("target", parsed.target)]), meta)


def encode_columns(columns: Mapping[str, np.ndarray], n_rows: int) -> bytes:
    """Return feature columns alone (rows to predict) as compressed .npz bytes.

    Unlike ``encode_dataset`` numbers keep float64: predictions see exactly the values sent.
    """
    features: list[dict[str, str]] = []
    arrays = _feature_arrays(columns, features, narrow=False)
    return _savez(arrays, {"version": VERSION, "n_rows": n_rows, "features": features})


def _feature_arrays(
    columns: Mapping[str, np.ndarray],
    features: list[dict[str, str]],
    *,
    narrow: bool,
    consume: bool = False,
) -> Iterator[tuple[str, np.ndarray | Chunks]]:
    """Each column's arrays, made one column at a time as they are written; `features`
    collects their specs. With `consume` (parsed columns only) each numeric column is
    released once written."""
    for index, name in enumerate(columns):
        key = f"f{index}"
        labels, codes, values = _stored_form(columns, name)
        if values is None:
            assert labels is not None and codes is not None
            features.append({"name": name, "kind": "categorical", "key": key})
            yield f"{key}_labels", labels
            yield f"{key}_codes", codes.astype(_code_type(labels.size), copy=False)
            continue
        with np.errstate(over="ignore"):  # beyond float32: kept as float64 below
            small = values.astype(np.float32, copy=False) if narrow else values
        features.append({"name": name, "kind": "numeric", "key": key})
        yield key, values if _any_infinite(small) else small
        if consume:
            assert isinstance(columns, FeatureColumns)
            del values, small
            columns.release(name)


def _stored_form(
    columns: Mapping[str, np.ndarray], name: str
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | Chunks | None]:
    """(labels, codes, None) for a categorical column, (None, None, numbers) otherwise.

    Parsed columns give their own labels and codes (no sort of every row again) and their
    numbers as they are (chunks stay chunks); plain arrays are read as they come.
    """
    if isinstance(columns, FeatureColumns):
        column = columns.column(name)
        if column.numbers is None:
            return column.labels, column.codes, None
        return None, None, column.numbers
    values = columns[name]
    if values.dtype.kind != "U":
        return None, None, values
    labels, codes = np.unique(values, return_inverse=True)
    return labels, np.where(values == "", -1, codes), None


def _any_infinite(values: np.ndarray | Chunks) -> bool:
    arrays = values.arrays if isinstance(values, Chunks) else [values]
    return any(bool(np.isinf(array).any()) for array in arrays)


def _code_type(n_labels: int) -> type[np.signedinteger]:
    """The narrowest integer type for codes into `n_labels` labels and -1."""
    for kind in (np.int8, np.int16):
        if n_labels <= np.iinfo(kind).max:
            return kind
    return np.int32


def _savez(arrays: Iterable[tuple[str, np.ndarray | Chunks]], meta: dict[str, Any]) -> bytes:
    """Write an .npz: arrays of 64 KiB or more stored as they are, the rest deflated.

    Measured numbers barely compress (zlib saves under 10% on float32 data at about
    25 MB/s); codes are already as narrow as their labels allow, and deflating a 1M-row
    data set's codes and target took longer than parsing its numbers.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(
        buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True
    ) as archive:
        for name, array in arrays:
            _write_member(archive, name, array)
        # written last: it lists what the arrays turned out to be
        _write_member(archive, "meta", np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buffer.getvalue()


def _write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray | Chunks) -> None:
    """One .npy in the archive: numbers, and anything from 64 KiB on, stored as they are;
    small codes and labels deflated.

    Deflating a small member costs ~0.25 ms whatever its size (a compressor set up and
    flushed): with 10,000 numeric columns that was 2.7 s of a 17 MB data set's encoding,
    for numbers that barely compress anyway."""
    member: str | zipfile.ZipInfo = f"{name}.npy"
    if array.dtype.kind == "f" or array.size * array.dtype.itemsize >= STORED_BYTES:
        member = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
        member.compress_type = zipfile.ZIP_STORED
    with archive.open(member, "w", force_zip64=True) as out:
        _write_npy(out, array)


def _write_npy(out: Any, array: np.ndarray | Chunks) -> None:
    """An .npy of `array`; `Chunks` are written one after another, never joined."""
    if not isinstance(array, Chunks):
        np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)
        return
    header = {
        "descr": np.lib.format.dtype_to_descr(array.dtype),
        "fortran_order": False,
        "shape": (array.size,),
    }
    np.lib.format.write_array_header_1_0(out, header)
    for chunk in array.arrays:
        out.write(np.ascontiguousarray(chunk).data)


def decode_dataset(blob: bytes) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, str]]]:
    """Return (columns, target, features [{"name", "kind"}]) from ``encode_dataset`` bytes.

    Columns come back in the ParsedDataset form (float64 with NaN, or unicode with '').
    Corrupt or foreign bytes raise ValueError.
    """
    columns, features, target, _ = _decode(blob, with_target=True)
    assert target is not None
    return columns, target, features


def decode_columns(blob: bytes) -> tuple[dict[str, np.ndarray], int]:
    """Return (columns, n_rows) from ``encode_columns`` bytes; corrupt bytes raise ValueError."""
    columns, _, _, n_rows = _decode(blob, with_target=False)
    return columns, n_rows


def _decode(
    blob: bytes, *, with_target: bool
) -> tuple[dict[str, np.ndarray], list[dict[str, str]], np.ndarray | None, int]:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as stored:
            archive = _Members(stored)
            meta = json.loads(archive["meta"].tobytes().decode())
            n_rows = int(meta["n_rows"])
            columns = {spec["name"]: _column(archive, spec, n_rows) for spec in meta["features"]}
            target = _checked(archive["target"], n_rows, "target") if with_target else None
    except ValueError:
        raise
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"the stored dataset is corrupt ({error!r})") from None
    features = [{"name": spec["name"], "kind": spec["kind"]} for spec in meta["features"]]
    return columns, features, target, n_rows


def decode_categories(blob: bytes, names: Iterable[str]) -> dict[str, list[str]]:
    """Every category present in the named categorical features of ``encode_dataset`` bytes,
    sorted: only their labels and codes are read, not the other columns."""
    wanted = set(names)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as stored:
            archive = _Members(stored)
            meta = json.loads(archive["meta"].tobytes().decode())
            n_rows = int(meta["n_rows"])
            specs = [s for s in meta["features"] if s["name"] in wanted and s["kind"] != "numeric"]
            return {spec["name"]: _present(archive, spec, n_rows) for spec in specs}
    except ValueError:
        raise
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"the stored dataset is corrupt ({error!r})") from None


def _present(archive: _Members, spec: dict[str, str], n_rows: int) -> list[str]:
    key = spec["key"]
    labels = archive[f"{key}_labels"]
    codes = _checked(archive[f"{key}_codes"], n_rows, key)
    used = np.unique(codes[codes >= 0])
    if used.size and (labels.dtype.kind != "U" or used[-1] >= labels.size):
        raise ValueError(f"the stored dataset is corrupt (bad categories in {key})")
    return sorted(str(label) for label in labels[used])


class _Members:
    """The arrays of an `encode_*` archive by name, each read into a buffer of its own (so
    writeable, as `numpy.load` gives them) and without `numpy.load`'s per-member header
    parsing, which was most of the time spent reading a data set of many small columns."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def __getitem__(self, key: str) -> np.ndarray:
        info = self.archive.getinfo(f"{key}.npy")
        data = bytearray(info.file_size)
        with self.archive.open(info) as member:
            assert isinstance(member, zipfile.ZipExtFile)  # what ZipFile.open gives to read
            if member.readinto(data) != info.file_size or member.read(1):
                raise ValueError(f"the stored dataset is corrupt ({key} is cut short)")
        try:
            return npy_array(data)
        except NpyError as error:
            raise ValueError(f"the stored dataset is corrupt ({key}: {error})") from None


def _column(archive: Any, spec: dict[str, str], n_rows: int) -> np.ndarray:
    key = spec["key"]
    if spec["kind"] == "numeric":
        return _checked(archive[key], n_rows, key).astype(np.float64)
    labels = archive[f"{key}_labels"]
    codes = _checked(archive[f"{key}_codes"], n_rows, key)
    in_range = codes.size == 0 or -1 <= codes.min() <= codes.max() < labels.size
    if labels.dtype.kind != "U" or codes.dtype.kind != "i" or not in_range:
        raise ValueError(f"the stored dataset is corrupt (bad categories in {key})")
    return np.append(labels, np.array([""], dtype=labels.dtype))[codes]


def _checked(values: np.ndarray, n_rows: int, key: str) -> np.ndarray:
    if values.shape != (n_rows,):
        raise ValueError(f"the stored dataset is corrupt ({key} has shape {values.shape})")
    return values
