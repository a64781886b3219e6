"""Datasets as compressed bytes for the database, and back.

The blob is an .npz (``np.savez_compressed``; no object arrays, loaded with pickle
disabled) holding ``meta`` (UTF-8 JSON as uint8: names, kinds, row count), ``target``, and
per feature either ``f{i}`` (numbers) or ``f{i}_labels`` + ``f{i}_codes`` (categories).

Numeric features are stored as float32: the engine trains in float32, and halving the blob
matters more than digits the training never sees. A column with a value beyond float32's
range stays float64. Categorical features are stored as their distinct labels (unicode)
plus int32 codes (-1 = missing), far smaller than a unicode array of every row. The target
keeps float64, so class labels and regression targets round-trip exactly.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from service.ingest.dataset import ParsedDataset

VERSION = 1


def encode_dataset(parsed: ParsedDataset) -> bytes:
    """Return the dataset as compressed .npz bytes."""
    arrays: dict[str, np.ndarray] = {"target": parsed.target}
    features = []
    for index, (name, values) in enumerate(parsed.columns.items()):
        key = f"f{index}"
        if values.dtype.kind == "U":
            labels, codes = np.unique(values, return_inverse=True)
            arrays[f"{key}_labels"] = labels
            arrays[f"{key}_codes"] = np.where(values == "", -1, codes).astype(np.int32)
            features.append({"name": name, "kind": "categorical", "key": key})
        else:
            narrow = values.astype(np.float32)
            overflow = bool(np.isinf(narrow).any())
            arrays[key] = values if overflow else narrow
            features.append({"name": name, "kind": "numeric", "key": key})
    meta = {
        "version": VERSION,
        "n_rows": parsed.n_rows,
        "features": features,
        "target": {"name": parsed.target_name, "kind": parsed.target_summary["kind"]},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def decode_dataset(blob: bytes) -> tuple[dict[str, np.ndarray], np.ndarray, list[dict[str, str]]]:
    """Return (columns, target, features [{"name", "kind"}]) from ``encode_dataset`` bytes.

    Columns come back in the ParsedDataset form (float64 with NaN, or unicode with '').
    Corrupt or foreign bytes raise ValueError.
    """
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            meta = json.loads(archive["meta"].tobytes().decode())
            n_rows = int(meta["n_rows"])
            columns = {spec["name"]: _column(archive, spec, n_rows) for spec in meta["features"]}
            target = _checked(archive["target"], n_rows, "target")
    except ValueError:
        raise
    except (OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ValueError(f"the stored dataset is corrupt ({error!r})") from None
    features = [{"name": spec["name"], "kind": spec["kind"]} for spec in meta["features"]]
    return columns, target, features


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
