"""Hopfield jobs at submission: the `network` object, and the data set's rows as patterns.

A Hopfield network is stored in one pass over the patterns, with no epochs and nothing to
tune, so a job carries no `training` object (an empty one is accepted) and no `task`: anything
there would be silently meaningless, so it is refused with a 422 naming the field. Every
column of the data set, the target included, is one unit; each value must be 0/1 or -1/+1,
and that is checked here, from the upload's column summaries and then from every value (the
bounds below keep that table small), before anything is queued.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.core.errors import InvalidInput, field_error, from_engine
from service.core.tables import Dataset
from service.domain.datasets import load_arrays
from service.engine import InputError, SpecError, validate_hopfield_spec
from service.engine.hopfield import (
    HOPFIELD_LIMITS,
    check_summaries,
    patterns_from_table,
    read_patterns,
)

TASK = "recall"
# Far past what any network recalls (about 0.14 × units patterns, at most 4096 units). Both
# rules cost rows × units² multiply-adds: Hebbian's in one BLAS product (about 1 s at its
# bound), Storkey's pattern by pattern in elementwise NumPy passes, measured at about 1e7 of
# them a second on one loaded core here (so about a minute at its bound).
MAX_PATTERNS = 10_000
MAX_STORE_WORK = {"hebbian": 2 * 10**10, "storkey": 10**9}


def validate_hopfield_job(
    session: Session, dataset: Dataset, request: dict[str, Any]
) -> tuple[str, dict, dict]:
    """The task, normalized network and (empty) training of a Hopfield job, or InvalidInput."""
    if request.get("task") is not None:
        raise InvalidInput(
            "A Hopfield network has no task: it stores every column as a pattern unit and "
            "recalls them all; leave task out.",
            errors=[field_error("task", "not used by a Hopfield network")],
        )
    training = request.get("training")
    if training:
        first = next(iter(training)) if isinstance(training, dict) else None
        message = (
            "A Hopfield network is stored in one pass, without epochs, batches or an "
            "optimizer; leave training out (or send {}). The recall settings go in network: "
            "rule, update, max_iterations."
        )
        loc: list[str | int] = ["training"] if first is None else ["training", str(first)]
        raise InvalidInput(message, errors=[field_error(loc, "not used by a Hopfield network")])
    try:
        network = validate_hopfield_spec(request["network"])
    except SpecError as exc:
        raise from_engine(exc) from exc
    _check_dataset(dataset, network["rule"])
    _check_values(session, dataset)
    return TASK, network, {}


def _check_dataset(dataset: Dataset, rule: str) -> None:
    layout = getattr(dataset, "layout", "table") or "table"  # sequence data sets have one
    if layout != "table":
        raise InvalidInput(
            f"Data set {dataset.id!r} is a {layout} data set; a Hopfield network stores the "
            "rows of a table, one pattern per row.",
            errors=[field_error("dataset_id", "not a table of patterns")],
        )
    try:
        check_summaries(dataset.features, dataset.target)
    except InputError as exc:
        raise _not_patterns(dataset, exc) from exc
    units, rows = dataset.n_features + 1, dataset.n_rows
    if units > HOPFIELD_LIMITS["max_units"]:
        raise InvalidInput(
            f"Data set {dataset.id!r} has {units} columns; a Hopfield network has at most "
            f"{HOPFIELD_LIMITS['max_units']} units (one per column), so use fewer columns.",
            errors=[field_error("dataset_id", "too many columns for a Hopfield network")],
        )
    if rows > MAX_PATTERNS:
        raise InvalidInput(
            f"Data set {dataset.id!r} has {rows:,} rows; a Hopfield job stores at most "
            f"{MAX_PATTERNS:,} patterns (a network of n units recalls about 0.14 n of them).",
            errors=[field_error("dataset_id", "too many patterns to store")],
        )
    work, bound = rows * units * units, MAX_STORE_WORK[rule]
    if work > bound:
        raise InvalidInput(
            f"Storing {rows:,} patterns of {units} units by the {rule} rule is rows × units² = "
            f"{work:,}, over this server's bound of {bound:,} for that rule; store fewer "
            "patterns or fewer units (or use the hebbian rule, one matrix product).",
            errors=[field_error("dataset_id", "too many patterns to store")],
        )


def _check_values(session: Session, dataset: Dataset) -> None:
    """Every value 0/1 or -1/+1, one encoding throughout: the summaries show only min and max."""
    columns, target, features = load_arrays(session, dataset.id)
    try:
        table, names = patterns_from_table(columns, target, features, dataset.target["name"])
        read_patterns(table, names=names)
    except InputError as exc:
        raise _not_patterns(dataset, exc, " (pattern rows count the data rows from 0)") from exc


def _not_patterns(dataset: Dataset, exc: InputError, note: str = "") -> InvalidInput:
    message = f"Data set {dataset.id!r} cannot be stored as Hopfield patterns: {exc}{note}"
    return InvalidInput(message, errors=[field_error(["dataset_id", exc.feature or ""], message)])
