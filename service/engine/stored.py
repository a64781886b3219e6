"""Load stored model bytes of either kind: a feedforward `Model` or a `HopfieldModel`.

Both are `.npz` archives whose `__meta__` JSON names the format; only that member is read to
choose the loader, which then checks everything else.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np

from .errors import CorruptModel
from .hopfield.model import FORMAT as HOPFIELD_FORMAT
from .hopfield.model import HopfieldModel
from .model import FORMAT as MODEL_FORMAT
from .model import Model
from .serialization import META

UNKNOWN = "The stored model is corrupt or not a Neuronal model"


def model_format(data: bytes) -> str:
    """The format marker of stored model bytes, or `CorruptModel` if there is none."""
    try:
        with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as archive:
            meta = json.loads(archive[META].tobytes().decode())
        marker = meta["format"]
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError, AttributeError) as e:  # fmt: skip
        raise CorruptModel(f"{UNKNOWN}: {e}") from None
    if marker not in (MODEL_FORMAT, HOPFIELD_FORMAT):
        raise CorruptModel(f"{UNKNOWN}: unknown format {marker!r}.")
    return str(marker)


def load_model(data: bytes) -> Model | HopfieldModel:
    """The model stored in `data`, of whichever kind it is; `CorruptModel` if it is corrupt."""
    if model_format(data) == HOPFIELD_FORMAT:
        return HopfieldModel.from_bytes(data)
    return Model.from_bytes(data)
