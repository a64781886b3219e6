"""Sequence data sets: an .npz with a 3-D ``X`` (time series are in ``series.py``).

A sequence upload is ``X`` (n × T × d numbers), ``y`` (n) and optional ``lengths`` (n, each
1..T; the steps after a sequence's length are padding and ignored). NaN in ``X`` is a missing
value, imputed at training time with the training mean of its feature like any missing
number; ±inf is refused. It is stored as its own small archive (``encode_sequences``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.domain.ingest.columns import Column, numeric_column
from service.domain.ingest.dataset import TableRules, summarise_target
from service.domain.ingest.errors import DatasetFormatError

FIRST_ROW = 1
VERSION = 1
HOW = "save it with np.savez(path, X=sequences, y=targets, lengths=lengths)"


@dataclass(frozen=True)
class ParsedSequences:
    """A validated sequence upload: ``X`` float32 (n, T, d), ``lengths`` int32 (n)."""

    format: str
    X: np.ndarray
    lengths: np.ndarray
    target: np.ndarray
    target_name: str
    features: list[dict[str, Any]]
    target_summary: dict[str, Any]
    n_rows: int

    @property
    def layout_info(self) -> dict[str, Any]:
        return {"sequence_length": int(self.X.shape[1])}


def assemble_sequences(
    X: np.ndarray, target: Column, names: list[str], lengths: np.ndarray | None, rules: TableRules
) -> ParsedSequences:
    """Check a 3-D ``X`` against its target and lengths; summarise every feature."""
    if X.dtype.kind not in "biuf" or 0 in X.shape:
        raise DatasetFormatError(
            f"X must be a non-empty 3-D array of numbers (sequences × steps × features), got "
            f"shape {X.shape} {X.dtype}; {HOW}",
            column="X",
        )
    n, T, d = X.shape
    rules.check([*names, target.name], n)
    if target.size != n:
        raise DatasetFormatError(
            f"X has {n} sequences but y has {target.size} values; give y one value per sequence",
            column="y",
        )
    L = _lengths(lengths, n, T)
    values = np.asarray(X, dtype=np.float64)
    real = np.arange(T)[None, :] < L[:, None]  # (n, T): the steps that are not padding
    infinite = np.isinf(values).any(axis=2) & real
    if infinite.any():
        i, t = (int(k) for k in np.argwhere(infinite)[0])
        j = int(np.flatnonzero(np.isinf(values[i, t]))[0])
        raise DatasetFormatError(
            f"sequence {i}, step {t}, feature {names[j]!r} of X holds an infinite value; use "
            "finite numbers (NaN counts as missing and is imputed with the training mean)",
            row=i,
            column=names[j],
        )
    steps = values[real]  # (real steps, d)
    features = [
        numeric_column(name, steps[:, j], FIRST_ROW).summary for j, name in enumerate(names)
    ]
    stored = values.astype(np.float32) if np.all(np.abs(np.nan_to_num(values)) < 3e38) else values
    stored[~real] = 0  # padding carries nothing
    return ParsedSequences(
        format="npz",
        X=stored,
        lengths=L.astype(np.int32),
        target=target.values,
        target_name=target.name,
        features=features,
        target_summary=summarise_target(target, FIRST_ROW),
        n_rows=n,
    )


def _lengths(lengths: np.ndarray | None, n: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(n, T, np.int64)
    L = np.asarray(lengths)
    whole = L.dtype.kind in "iu" or (L.dtype.kind == "f" and np.all(np.isfinite(L)))
    if L.shape != (n,) or not whole or not np.all(np.round(L) == L):
        raise DatasetFormatError(
            f"lengths must be a 1-D array of {n} whole numbers, one per sequence of X, got "
            f"shape {L.shape} {L.dtype}",
            column="lengths",
        )
    L = L.astype(np.int64)
    bad = np.flatnonzero((L < 1) | (L > T))
    if len(bad):
        i = int(bad[0])
        raise DatasetFormatError(
            f"lengths[{i}] is {L[i]}; every length must be from 1 to {T} (the steps of X); "
            "pad shorter sequences at the end and give their real length",
            row=i,
            column="lengths",
        )
    return L


def encode_sequences(parsed: ParsedSequences) -> bytes:
    """The sequences as .npz bytes: ``X``, ``lengths``, ``target`` and a JSON ``meta``."""
    meta = {
        "version": VERSION,
        "layout": "sequences",
        "n_rows": parsed.n_rows,
        "names": [f["name"] for f in parsed.features],
        "target": {"name": parsed.target_name, "kind": parsed.target_summary["kind"]},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in (
            ("X", parsed.X),
            ("lengths", parsed.lengths),
            ("target", parsed.target),
        ):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.ascontiguousarray(array), allow_pickle=False)
        with zf.open("meta.npy", "w") as out:
            np.lib.format.write_array(out, np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buffer.getvalue()


def is_sequence_blob(blob: bytes) -> bool:
    """Whether stored dataset bytes are an ``encode_sequences`` archive."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            return "lengths" in archive.files and "X" in archive.files
    except (ValueError, OSError, EOFError, zipfile.BadZipFile):
        return False


def decode_sequences(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X float64 with NaN, lengths, target, feature names) from ``encode_sequences`` bytes."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            X, lengths, target = archive["X"], archive["lengths"], archive["target"]
    except (OSError, EOFError, KeyError, TypeError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"the stored dataset is corrupt ({error!r})") from None
    n, names = int(meta["n_rows"]), [str(name) for name in meta["names"]]
    if X.ndim != 3 or X.shape[0] != n or X.shape[2] != len(names) or lengths.shape != (n,):
        raise ValueError("the stored dataset is corrupt (sequence shapes disagree)")
    return X.astype(np.float64), lengths.astype(np.intp), target, names
