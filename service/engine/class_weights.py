"""Class weights: the rule of `training.class_weight` and the weight each class gets.

`null` (every class weighs 1), `"balanced"` (class `c` weighs `n / (k * n_c)`, counted over
all `n` rows of the data and its `k` classes) or `{"<class label>": weight}` (classes not
named weigh 1). A batch's loss is then the weighted mean `sum_i w_i l_i / sum_i w_i` of its
rows' losses (see `Network.row_weights`), so only the ratios between the weights matter.

Labels are JSON object keys, so always text: a key names a class when it equals the label's
text or, for a numeric label, when it is the same number (`"1"` names the class `1.0`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import SpecError

FIELD = "training.class_weight"
SHOWN_CLASSES = 20


def class_weight_spec(value: Any, task: str) -> str | dict[str, float] | None:
    """The normalized `training.class_weight`, or `SpecError`."""
    if value is None:
        return None
    if task != "classification":
        raise SpecError(
            FIELD,
            f"{FIELD} weights the classes of a classification; this job is a regression (a "
            "forecast is one too), so remove it.",
        )
    if value == "balanced":
        return "balanced"
    if not isinstance(value, dict):
        raise SpecError(
            FIELD,
            f'{FIELD} must be null, "balanced" or an object from class label to weight, like '
            f'{{"yes": 2.0, "no": 1.0}}, not {value!r}.',
        )
    out: dict[str, float] = {}
    for key, weight in value.items():
        label = str(key)
        ok = isinstance(weight, int | float) and not isinstance(weight, bool)
        if not ok or not math.isfinite(weight) or weight <= 0:
            raise SpecError(
                FIELD,
                f"{FIELD} gives class {label!r} the weight {weight!r}; a class weight must be "
                "a positive number.",
            )
        out[label] = float(weight)
    return out


def unknown_labels(spec: Any, classes: list) -> list[str]:
    """The keys of a class-weight mapping that name no class."""
    if not isinstance(spec, dict):
        return []
    return [key for key in spec if not any(_names(key, label) for label in classes)]


def unknown_label_message(label: str, classes: list) -> str:
    """Why `label` cannot be weighted, listing the classes it could be."""
    shown = ", ".join(repr(c) for c in classes[:SHOWN_CLASSES])
    more = f" and {len(classes) - SHOWN_CLASSES} more" if len(classes) > SHOWN_CLASSES else ""
    return (
        f"{FIELD} names {label!r}, which is not a class of the target; its classes are: "
        f"{shown}{more}."
    )


def class_weights(spec: Any, classes: list, labels: np.ndarray) -> np.ndarray | None:
    """The weight of each class `(k,)` for rows labelled `labels` (class indices), or None."""
    if spec is None:
        return None
    k = len(classes)
    if spec == "balanced":
        counts = np.bincount(labels, minlength=k)
        return len(labels) / (k * counts.astype(np.float64))
    missing = unknown_labels(spec, classes)
    if missing:
        raise SpecError(FIELD, unknown_label_message(missing[0], classes))
    weights = np.ones(k)
    named: dict[int, str] = {}
    for key, weight in spec.items():
        for index, label in enumerate(classes):
            if _names(key, label):
                if index in named:
                    raise SpecError(
                        FIELD, f"{FIELD} names class {label!r} twice ({named[index]!r}, {key!r})."
                    )
                named[index] = key
                weights[index] = weight
    return weights


def _names(key: str, label: Any) -> bool:
    if key == str(label):
        return True
    if isinstance(label, bool):
        return key.lower() == str(label).lower()
    if not isinstance(label, int | float):
        return False
    try:
        return float(key) == float(label)
    except ValueError:
        return False
