"""A trained model: preprocessing, weights and the label encoding, with prediction and storage.

Attributes: `task`; `classes` (original labels, classification only); `features` (one dict
per raw column: `name`, `kind`, and for categorical ones `categories` and
`missing_indicator`); `feature_names`; `network`/`training` (the normalized specs);
`n_inputs` (width after one-hot encoding); `layers`, a list of `(W, b, activation)` with `W`
`(fan_in, fan_out)`; and the numeric preprocessing `mean`, `scale`, `offset` and `fill`, each
`(n_numeric,)`: a numeric value `x` enters the network as `x * scale + offset`, a missing one
as `fill` (see `preprocessing.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .data import NUMERIC, _check_finite, read_table
from .errors import CorruptModel, InputError
from .few_rows import FewRows
from .network import predict_forward
from .preprocessing import Preprocessor
from .recurrent_spec import is_recurrent
from .sequence_net import make_layers, predict_sequences
from .sequences import read_sequences, transform
from .serialization import pack, unpack
from .spec import validate_spec
from .targets import decode_labels

FORMAT = "neuronal-model"
FOLDED_ROWS = 64  # up to this many rows, the first layer absorbs the scaling (see below)
FOLDED_LIMIT = 1e60  # ... when their squares sum to at most this (each is within ±1e30)
CORRUPT = "The stored model is corrupt or not a Neuronal model"


class Model:
    """Predicts from raw feature rows with the preprocessing learned at training time."""

    def __init__(
        self, *, task, classes, preprocessor, layers, network, training, recurrent=None, steps=None
    ) -> None:
        self.task: str = task
        self.classes: list | None = list(classes) if classes is not None else None
        self.preprocessor: Preprocessor = preprocessor
        self.features: list[dict[str, Any]] = preprocessor.metadata()
        self.feature_names: list[str] = list(preprocessor.names)
        self.network: dict = network
        self.training: dict = training
        self.layers: list[tuple[np.ndarray, np.ndarray, str]] = list(layers)
        # recurrent models: (layer, (W_ih, W_hh, b[, b_hn])) pairs and the trained steps
        self.recurrent: list[tuple[Any, tuple[np.ndarray, ...]]] | None = recurrent
        self.steps: int | None = steps
        # the final training state `fit(keep_state=True)` saved, for continuing (not stored)
        self.training_state: bytes | None = None
        self.n_inputs: int = preprocessor.n_inputs
        self.mean, self.scale = preprocessor.mean, preprocessor.scale
        self.offset, self.fill = preprocessor.offset, preprocessor.fill
        self.dtype = self.layers[0][0].dtype
        self.n_outputs = self.layers[-1][0].shape[1]
        self._all_numeric = all(kind == NUMERIC for kind in preprocessor.kinds)
        self._folded: FewRows | None = None  # see _folded_forward
        self._labels = np.empty(0)
        if self.classes is not None:
            self._labels = decode_labels(self.classes, np.arange(len(self.classes)))

    def predict(self, X: Any, lengths: Any = None) -> np.ndarray:
        """Class labels `(n,)` in their original type, or regression values `(n,)`/`(n, k)`.

        A recurrent model takes sequences: `(n, T, d)` with optional `lengths`, or a list of
        `(steps, d)` sequences, each at most the trained number of steps.
        """
        if self.task == "classification":
            proba = self.predict_proba(X, lengths)
            return self._labels[np.argmax(proba, axis=1)]
        out = self._forward(X, lengths).astype(np.float64)
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_proba(self, X: Any, lengths: Any = None) -> np.ndarray:
        """Class probabilities `(n, n_classes)`, columns in the order of `classes`."""
        if self.task != "classification":
            raise ValueError("predict_proba is only for classification models; use predict.")
        out = self._forward(X, lengths)
        if self.layers[-1][2] == "softmax":
            return np.asarray(out, dtype=np.float64)  # no copy of float64 outputs
        if out.shape[1] == 1:
            p = out[:, 0].astype(np.float64)
            return np.stack([1.0 - p, p], axis=1)
        out = out.astype(np.float64)
        total = out.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, out / total, 1.0 / out.shape[1])

    def _forward(self, X: Any, lengths: Any) -> np.ndarray:
        if self.recurrent is None:
            if lengths is not None:
                raise InputError("lengths are for sequences; this model reads rows of features.")
            raw = self._plain_rows(X)
            if raw is not None and len(raw) <= FOLDED_ROWS and raw.shape[1] == self.n_inputs:
                out = self._folded_forward(raw)
                if out is not None:
                    return out
            return predict_forward(self.layers, self._inputs(X, raw))
        data = read_sequences(X, lengths)
        assert self.steps is not None
        if data.X.shape[1] > self.steps:
            raise InputError(
                f"The sequences have {data.X.shape[1]} steps; this model was trained on "
                f"{self.steps}, so send at most {self.steps} steps per sequence."
            )
        if data.X.shape[2] != len(self.feature_names):
            raise InputError(
                f"Each step has {data.X.shape[2]} values but the model has "
                f"{len(self.feature_names)} features per step; send one value per feature."
            )
        x = transform(self.preprocessor, data.X, data.lengths, self.dtype)
        with np.errstate(over="ignore"):  # exp(large) = inf gives a gate of exactly 0
            return predict_sequences(self.recurrent, self.layers, x, data.lengths)

    def _plain_rows(self, X: Any) -> np.ndarray | None:
        """`X` as a float64 `(n, width)` matrix when every feature is numeric, else None."""
        if not self._all_numeric or isinstance(X, dict):
            return None
        try:
            raw = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        if raw.ndim not in (1, 2) or not raw.size:
            return None
        return raw if raw.ndim == 2 else raw[None, :]

    def _folded_forward(self, raw: np.ndarray) -> np.ndarray | None:
        """A few finite rows: the scaling folded into the first layer (see `few_rows.py`),
        saving the separate scaling passes; None otherwise."""
        if not np.vdot(raw, raw) <= FOLDED_LIMIT:  # one call, where abs() and a sum are two
            # missing, infinite or huge values: the full path imputes or names them, and
            # refuses a row whose scaled values leave the weights' dtype, as before
            return None
        folded = self._folded
        if folded is None:
            folded = self._folded = FewRows(self.layers, self.scale, self.offset, self.dtype)
        return folded.forward(raw)

    def _inputs(self, X: Any, raw: np.ndarray | None = None) -> np.ndarray:
        """Raw rows → network inputs `(n, n_inputs)` in the weights' dtype."""
        raw = raw if raw is not None else self._plain_rows(X)
        if raw is not None:
            return self._numeric_inputs(raw)
        if isinstance(X, list | tuple) and X and not isinstance(X[0], list | tuple | dict):
            X = [X]  # one flat row
        table = read_table(X, self.features, fixed=True)
        return self.preprocessor.transform(table, dtype=self.dtype)

    def _numeric_inputs(self, raw: np.ndarray) -> np.ndarray:
        if raw.shape[1] != len(self.feature_names):
            raise InputError(
                f"Each row has {raw.shape[1]} values but the model has "
                f"{len(self.feature_names)} features; send one value per feature, in order.",
                row=0,
            )
        x = raw * self.scale
        x += self.offset
        # One sum is NaN or infinite whenever a value is (or, rarely, when a finite sum
        # overflows, and then the check below finds nothing): cheaper than isfinite().all().
        if not np.isfinite(np.add.reduce(x, axis=None)):  # missing (imputed) or infinite
            _check_finite(raw, self.feature_names)
            missing = np.isnan(x)
            if missing.any():
                x = np.where(missing, self.fill, x)
        return x.astype(self.dtype, copy=False)

    def to_bytes(self) -> bytes:
        """Serialise to `.npz` bytes: `W0, b0, …`, `mean`, `scale`, `offset`, JSON metadata."""
        arrays = dict(self.preprocessor.arrays())
        for i, (W, b, _) in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        for i, (_, params) in enumerate(self.recurrent or []):
            for j, array in enumerate(params):
                arrays[f"R{i}_{j}"] = array
        meta = {
            "format": FORMAT,
            "version": 1,
            "task": self.task,
            "classes": self.classes,
            "features": self.features,
            "network": self.network,
            "training": self.training,
            "activations": [name for _, _, name in self.layers],
        }
        if self.recurrent is not None:
            meta["steps"] = self.steps
        return pack(arrays, meta)

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        """Load what `to_bytes` wrote; anything else raises `CorruptModel`, never runs code."""
        try:
            arrays, meta = unpack(data, CORRUPT, CorruptModel)
            return cls._restore(arrays, meta)
        except CorruptModel:
            raise
        except ValueError as e:
            raise CorruptModel(f"{CORRUPT}: {e}") from None
        except (KeyError, TypeError, IndexError, AttributeError, AssertionError) as e:
            raise CorruptModel(f"{CORRUPT}: missing or malformed entry ({e!r}).") from None

    @classmethod
    def _restore(cls, arrays: dict[str, np.ndarray], meta: dict) -> Model:
        if meta.get("format") != FORMAT or meta.get("version") != 1:
            raise ValueError("it does not carry the Neuronal model format marker")
        task, classes = meta["task"], meta["classes"]
        prep = Preprocessor.restore(meta["features"], arrays)
        n_numeric = sum(f["kind"] == NUMERIC for f in meta["features"])
        for name in ("mean", "scale", "offset"):
            if arrays[name].shape != (n_numeric,) or arrays[name].dtype != np.float64:
                raise ValueError(f"preprocessing array {name!r} has the wrong shape or type")
        n_classes = len(classes) if task == "classification" else None
        network, training = validate_spec(
            meta["network"], meta["training"], task=task, n_features=len(prep.names),
            n_classes=n_classes,
        )  # fmt: skip
        names = meta["activations"]
        dense = [x for x in network["layers"] if not is_recurrent(x)]
        if names != [*(x["activation"] for x in dense), network["output_activation"]]:
            raise ValueError("the layer activations do not match the network spec")
        recurrent, fan_in, n_arrays = cls._restore_recurrent(arrays, meta, network, prep.n_inputs)
        layers = []
        for i, name in enumerate(names):
            W, b = arrays[f"W{i}"], arrays[f"b{i}"]
            ok = W.ndim == 2 and W.shape[0] == fan_in and b.shape == (W.shape[1],)
            if not ok or W.dtype.kind != "f" or b.dtype != W.dtype or name not in ACTIVATIONS:
                raise ValueError(f"layer {i} has the wrong shape or type")
            layers.append((W, b, name))
            fan_in = W.shape[1]
        if task == "classification" and fan_in not in (len(classes), 1):
            raise ValueError("the output layer does not match the classes")
        if len(arrays) != 3 + 2 * len(names) + n_arrays:
            raise ValueError("it holds unexpected arrays")
        return cls(task=task, classes=classes, preprocessor=prep, layers=layers,
                   network=network, training=training, recurrent=recurrent,
                   steps=meta.get("steps") if recurrent else None)  # fmt: skip

    @staticmethod
    def _restore_recurrent(arrays, meta, network, n_inputs):
        """The recurrent layers, the width they hand on, and how many arrays they hold."""
        specs = [x for x in network["layers"] if is_recurrent(x)]
        if not specs:
            return None, n_inputs, 0
        steps = meta["steps"]
        if not isinstance(steps, int) or steps < 1:
            raise ValueError("the number of steps is missing or malformed")
        out, count, dtype = [], 0, arrays["W0"].dtype
        for i, layer in enumerate(make_layers(n_inputs, specs)):
            n = 4 if layer.kind == "gru" else 3
            params = tuple(arrays[f"R{i}_{j}"] for j in range(n))
            want = layer.views(np.zeros(layer.n_weights), np.zeros(layer.n_biases))
            if any(p.shape != w.shape or p.dtype != dtype for p, w in zip(params, want)):  # noqa: B905
                raise ValueError(f"recurrent layer {i} has the wrong shape or type")
            out.append((layer, params))
            count += n
        return out, specs[-1]["units"], count
