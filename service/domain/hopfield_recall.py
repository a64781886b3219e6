"""Recall from a stored Hopfield network: probes settle into the nearest attractor.

The model record is read on every request (a primary-key lookup), so another tenant's id is
a 404 and a deleted model stops answering at once; the loaded network (weights up to 4096²
float64) is kept in a small per-process cache by id (a stored model never changes).

Bounds: at most `max_recall_patterns` probes a request, and probes × units² × max_iterations
(the worst case of the sweeps, whose every unit update is one units-long product per probe) at
most `MAX_RECALL_WORK`, so one request cannot hold a thread for minutes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import Conflict, InvalidInput, field_error, from_engine
from service.domain.hopfield_models import feedforward_cannot_recall, is_hopfield_model
from service.domain.trained_models import get_model, model_bytes
from service.engine import CorruptModel, HopfieldModel, InputError, SpecError

MAX_RECALL_WORK = 5 * 10**10  # about 10-30 s of one core in the worst case
PLAIN_NUMBERS = frozenset((int, float))  # bool is neither: type(True) is bool


class HopfieldCache:
    """Loaded Hopfield networks by model id, least recently used evicted."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, HopfieldModel] = OrderedDict()
        self._lock = threading.Lock()

    def network(self, session: Session, tenant_id: str, model_id: str) -> HopfieldModel:
        """The caller's Hopfield model `model_id`: 404 if not theirs, 422 if feedforward."""
        get_model(session, tenant_id, model_id)
        key = model_id
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                return cached
        data = model_bytes(session, tenant_id, model_id)
        try:
            if not is_hopfield_model(data):
                raise feedforward_cannot_recall(model_id)
            model = HopfieldModel.from_bytes(data)
        except CorruptModel as exc:
            raise Conflict(
                f"Model {model_id!r} cannot be loaded: {exc} Delete it "
                f"(DELETE /v1/models/{model_id}) and store it again."
            ) from exc
        with self._lock:
            self._entries[key] = model
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return model


def recall(
    model: HopfieldModel,
    model_id: str,
    patterns: list[list[Any]],
    *,
    max_iterations: int | None,
    seed: int | None,
    max_patterns: int,
) -> dict[str, Any]:
    """The recall reply for `patterns`, or InvalidInput naming what to fix."""
    if not patterns:
        raise _invalid(["body", "patterns"], "patterns is empty; send at least one pattern.")
    if len(patterns) > max_patterns:
        raise _invalid(
            ["body", "patterns"],
            f"patterns has {len(patterns):,} rows, over this server's limit of "
            f"{max_patterns:,} per request (NEURONAL_MAX_RECALL_PATTERNS); split them across "
            "several requests.",
        )
    _check_cells(model, patterns)
    sweeps = model.network["max_iterations"] if max_iterations is None else max_iterations
    work = len(patterns) * model.n_units**2 * sweeps
    if work > MAX_RECALL_WORK:
        raise _invalid(
            ["body", "patterns"],
            f"{len(patterns):,} patterns × {model.n_units}² units × {sweeps} iterations is "
            f"{work:,}, over this server's bound of {MAX_RECALL_WORK:,} per request; send "
            "fewer patterns or a lower max_iterations.",
        )
    try:
        result = model.recall(patterns, max_iterations=sweeps, seed=0 if seed is None else seed)
    except SpecError as exc:
        raise from_engine(exc, ["body"]) from exc
    except InputError as exc:
        raise from_engine(exc, ["body", "patterns"]) from exc
    return {"model_id": model_id, **result.to_dict()}


def _check_cells(model: HopfieldModel, patterns: list[list[Any]]) -> None:
    """Refuse what the engine would read as a number though the caller did not send one:
    booleans (JSON true is not 1) and anything that is not a list of plain numbers."""
    for r, row in enumerate(patterns):
        if type(row) is not list:
            raise _invalid(["body", "patterns", r], f"Pattern {r} is not a list of values.")
        if len(row) != model.n_units:
            raise _invalid(
                ["body", "patterns", r],
                f"Pattern {r} has {len(row)} values but the network has {model.n_units} units "
                f"({', '.join(model.feature_names[:5])}{', ...' if model.n_units > 5 else ''}); "
                "send one value per unit, in order.",
            )
        if PLAIN_NUMBERS.issuperset(map(type, row)):
            continue
        for c, value in enumerate(row):
            if type(value) not in PLAIN_NUMBERS:
                name = model.feature_names[c]
                raise _invalid(
                    ["body", "patterns", r, name],
                    f"Pattern {r}, unit {name!r}: {value!r} is not a number; every value must "
                    f"be {_spelled(model)}.",
                )


def _spelled(model: HopfieldModel) -> str:
    return "0 or 1" if model.encoding == "binary" else "-1 or +1"


def _invalid(loc: list[str | int], message: str) -> InvalidInput:
    return InvalidInput(message, errors=[field_error(loc, message)])
