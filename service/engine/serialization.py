"""`.npz` archives of named arrays plus one JSON metadata document, never pickle.

The metadata is stored as the uint8 array `__meta__` holding UTF-8 JSON, so the whole file is
readable with `np.load(..., allow_pickle=False)` by anyone.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from .errors import EngineError

META = "__meta__"
ALLOWED_KINDS = "biuf"


def pack(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bytes:
    """Serialise named numeric arrays and a JSON-serialisable dict to `.npz` bytes."""
    buffer = io.BytesIO()
    blob = np.frombuffer(json.dumps(meta, allow_nan=False).encode(), dtype=np.uint8)
    named: dict[str, Any] = {META: blob, **arrays}
    np.savez(buffer, **named)
    return buffer.getvalue()


def unpack(
    data: bytes, what: str, error: type[EngineError]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of `pack`; anything malformed raises `error` naming `what`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(f"{what} must be bytes, not {type(data).__name__}.")
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop(META).tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise error(f"{what}: {e}") from None
    for name, array in arrays.items():
        if array.dtype.kind not in ALLOWED_KINDS:
            raise error(f"{what}: array {name!r} has unsupported dtype {array.dtype}.")
    if not isinstance(meta, dict):
        raise error(f"{what}: the metadata is not a JSON object.")
    return arrays, meta
