"""Online prediction: loaded models kept in memory, and the rows of a predict request
checked, predicted and answered.

An answer's probabilities stay a NumPy array, for the caller to serialise directly (orjson's
`OPT_SERIALIZE_NUMPY`) rather than through a list of Python floats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from service.core.errors import Conflict, InvalidInput, NotFound, field_error, from_engine
from service.domain.bulk_bodies import BulkBody, bulk_rows
from service.domain.hopfield_models import hopfield_cannot_predict, is_hopfield_model
from service.domain.sequence_inputs import sequence_batch
from service.domain.trained_models import model_bytes
from service.engine import CorruptModel, InputError, Model

log = logging.getLogger("neuronal.models")
FLOAT_MAX = float(np.finfo(np.float64).max)
NAN_CELL = "is NaN, which is not valid JSON; send null for a missing value"
HUGE_CELL = "is too large to be a number here; send a value within ±1.8e308"
BOOL_CELL = "not a number; this feature is numeric"
PLAIN_NUMBERS = frozenset((int, float))  # bool is neither: type(True) is bool
Inputs = list[list[Any]] | np.ndarray | BulkBody | None


class ModelCache:
    """Loaded models by id, least recently used evicted; entries are re-checked after `ttl` s
    so a model deleted through another API process stops answering."""

    def __init__(self, capacity: int, ttl: float = 60.0) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[str, Model, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model_id: str, tenant_id: str) -> Model | None:
        with self._lock:
            entry = self._entries.get(model_id)
            if entry is None or entry[2] < time.monotonic():
                return None
            self._entries.move_to_end(model_id)
        if entry[0] != tenant_id:
            raise NotFound(f"There is no model {model_id!r}; list yours with GET /v1/models.")
        return entry[1]

    def load(self, session: Session, tenant_id: str, model_id: str) -> Model:
        """Load and remember a model. Stored bytes that are not a valid Neuronal model (a
        corrupt or tampered blob, pickled arrays) are refused without running anything, as a
        409: the model exists but is in no state to predict, and the caller can delete it and
        train again."""
        try:
            data = model_bytes(session, tenant_id, model_id)
            if is_hopfield_model(data):
                raise hopfield_cannot_predict(model_id)
            model = Model.from_bytes(data)
        except CorruptModel as exc:
            log.warning("model %s refused on load: %s", model_id, exc)
            raise Conflict(
                f"Model {model_id!r} cannot be loaded: {exc} Delete it "
                f"(DELETE /v1/models/{model_id}) and train it again."
            ) from exc
        with self._lock:
            self._entries[model_id] = (tenant_id, model, time.monotonic() + self.ttl)
            self._entries.move_to_end(model_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return model

    def evict(self, model_id: str) -> None:
        with self._lock:
            self._entries.pop(model_id, None)


def predict(
    model: Model,
    model_id: str,
    inputs: Inputs,
    records: list[dict[str, Any]] | None,
    *,
    max_rows: int | None = None,
    max_cells: int | None = None,
    sequences: list[Any] | None = None,
) -> dict[str, Any]:
    """Predictions (and class probabilities) for raw rows, records or sequences (a recurrent
    model), at most `max_rows`, and at most `max_cells` probabilities (rows × classes) in the
    answer. The probabilities are a C-contiguous float64 array."""
    lengths = None
    if sequences is not None and inputs is None and records is None:
        key = "sequences"
        _check_answer_size(model, model_id, len(sequences), key, max_cells)
        rows, lengths = sequence_batch(model, sequences, max_rows)
    else:
        key = "inputs" if inputs is not None else "records"
        one = (inputs is None) != (records is None) and sequences is None
        if model.recurrent is not None and one:
            raise InvalidInput(
                f"This model reads sequences (at most {model.steps} steps of "
                f"{len(model.feature_names)} values: {', '.join(model.feature_names)}); send "
                f'them as {{"sequences": [[[...], ...], ...]}} instead of "{key}".',
                errors=[field_error(["body", key], "send sequences")],
            )
        count = len(inputs) if inputs is not None else len(records or [])
        _check_answer_size(model, model_id, count, key, max_cells)
        rows = _rows_from_request(model, inputs, records, max_rows, sequences is not None)
    try:
        if model.classes is not None:
            proba = np.ascontiguousarray(model.predict_proba(rows, lengths), dtype=np.float64)
            _check_finite_outputs(proba, key)
            labels = [model.classes[i] for i in np.argmax(proba, axis=1).tolist()]
            return {
                "model_id": model_id,
                "predictions": labels,
                "probabilities": proba,
                "classes": list(model.classes),
            }
        values = np.asarray(model.predict(rows, lengths), dtype=np.float64)
        _check_finite_outputs(values, key)
        return {"model_id": model_id, "predictions": values.tolist()}
    except InputError as exc:
        raise from_engine(exc, ["body", key]) from exc


def _check_answer_size(
    model: Model, model_id: str, count: int, key: str, max_cells: int | None
) -> None:
    """Refuse a request whose answer would hold more than `max_cells` probabilities: the
    answer's size grows with rows × classes, whatever the size of the request."""
    classes = len(model.classes) if model.classes is not None else 1
    if max_cells is None or count * classes <= max_cells:
        return
    rows = max(1, max_cells // classes)
    raise InvalidInput(
        f"The answer would hold {count:,} rows × {classes:,} classes = {count * classes:,} "
        f"probabilities, over this server's limit of {max_cells:,} per request "
        f"(NEURONAL_MAX_PREDICT_CELLS); send at most {rows:,} rows per request, or use a batch "
        f"prediction (POST /v1/models/{model_id}/predictions with a file of rows), whose CSV "
        "result has no such limit.",
        errors=[field_error(["body", key], f"at most {rows} rows for this model")],
    )


def _rows_from_request(
    model: Model,
    inputs: Inputs,
    records: list[dict[str, Any]] | None,
    max_rows: int | None,
    with_sequences: bool = False,
) -> Any:
    if (inputs is None) == (records is None) or with_sequences:
        raise InvalidInput(
            'Send exactly one of "inputs" (rows of values), "records" (objects by feature) '
            'or "sequences" (lists of steps, for a recurrent model).',
            errors=[field_error("body", "exactly one of inputs, records or sequences")],
        )
    key = "inputs" if inputs is not None else "records"
    count = len(inputs if inputs is not None else records or [])
    if not count:
        raise InvalidInput(
            f"{key} is empty; send at least one row.",
            errors=[field_error(["body", key], "empty")],
        )
    if max_rows is not None and count > max_rows:
        raise InvalidInput(
            f"{key} has {count:,} rows, over this server's limit of {max_rows:,} per request "
            "(NEURONAL_MAX_PREDICT_ROWS); split them across several requests.",
            errors=[field_error(["body", key], f"at most {max_rows} rows")],
        )
    if isinstance(inputs, BulkBody):
        return bulk_rows(model, inputs)
    if isinstance(inputs, np.ndarray):  # read as numbers only, in equal-width rows
        return inputs
    if inputs is not None:
        matrix = _plain_matrix(inputs)
        if matrix is not None:
            return matrix
        if _scan_cells(model, inputs, key) and _rectangular(inputs):
            return np.asarray(inputs, dtype=np.float64)
        return inputs
    assert records is not None
    names = model.feature_names
    known = set(names)
    for i, record in enumerate(records):
        unknown = [k for k in record if k not in known]
        if unknown:
            raise InvalidInput(
                f"Record {i} has an unknown feature {unknown[0]!r}; the model's features are "
                f"{', '.join(names)}.",
                errors=[field_error(["body", "records", i, unknown[0]], "unknown feature")],
            )
        absent = [name for name in names if name not in record]
        if absent:
            raise InvalidInput(
                f"Record {i} has no {absent[0]!r}"
                + (f" (nor {', '.join(repr(a) for a in absent[1:])})" if absent[1:] else "")
                + f"; every record names every feature of the model ({', '.join(names)}). "
                "Send null for a value that is missing.",
                errors=[
                    field_error(["body", "records", i, name], "missing feature (null if unknown)")
                    for name in absent
                ],
            )
    rows = [[record[name] for name in names] for record in records]
    _scan_cells(model, rows, key)
    return rows


def _plain_matrix(rows: list[list[Any]]) -> np.ndarray | None:
    """Equal-width rows of ints and floats, NaN-free, as a float matrix; None when any cell
    needs a closer look (the usual case costs a type check per row, not per cell)."""
    width = len(rows[0])
    for row in rows:
        if len(row) != width or not PLAIN_NUMBERS.issuperset(map(type, row)):
            return None
    try:
        matrix = np.asarray(rows, dtype=np.float64)
    except (OverflowError, ValueError):  # an integer beyond float range: named below
        return None
    return None if np.isnan(matrix).any() else matrix


def _scan_cells(model: Model, rows: list[list[Any]], key: str) -> bool:
    """Refuse cells no preprocessing can fix: NaN (not valid JSON, though Python's parser
    accepts the literal), booleans for numeric features, integers beyond float range.
    Returns whether every cell is a plain number."""
    names, kinds = model.feature_names, model.preprocessor.kinds
    plain = True
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            kind = type(value)
            if kind is float and value != value:
                _bad_cell(i, j, names, key, NAN_CELL)
            elif kind is int and not -FLOAT_MAX <= value <= FLOAT_MAX:
                _bad_cell(i, j, names, key, HUGE_CELL)
            elif kind is not int and kind is not float:
                plain = False
                if kind is bool and j < len(kinds) and kinds[j] == "numeric":
                    _bad_cell(i, j, names, key, f"is {str(value).lower()}, {BOOL_CELL}")
    return plain


def _bad_cell(row: int, column: int, names: list[str], key: str, problem: str) -> None:
    feature = names[column] if column < len(names) else f"#{column}"
    message = f"Row {row}, feature {feature!r} {problem}."
    raise InvalidInput(message, errors=[field_error(["body", key, row, feature], message)])


def _check_finite_outputs(outputs: np.ndarray, key: str) -> None:
    if np.isfinite(outputs).all():  # the usual case, in one pass
        return
    bad = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        message = (
            f"Row {row} gives no finite prediction: its values are too far outside the range "
            "the model was trained on; check their units and scale."
        )
        raise InvalidInput(message, errors=[field_error(["body", key, row], message)])


def _rectangular(rows: list[list[Any]]) -> bool:
    width = len(rows[0])
    return all(len(r) == width for r in rows)
