"""One key of a search space: its shape checked (`choice`, `uniform`, `log_uniform`, `int`
with `step`/`log`) and turned into a `Dimension`; the values an `int` range holds."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("choice", "uniform", "log_uniform", "int")
MAX_CHOICES = 1000


class SpaceError(ValueError):
    """A space key whose value or path cannot be searched; str() says what to fix."""

    def __init__(self, key: str, value: object, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.value = value


@dataclass(frozen=True)
class Dimension:
    """One key of a space: a path and the values it may take."""

    path: str
    kind: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def discrete(self) -> bool:
        return self.kind in ("choice", "int")


def parse_dimension(path: str, spec: Any) -> Dimension:
    """The Dimension of space key `path`, or SpaceError saying what is wrong with `spec`."""
    if not isinstance(spec, Mapping):
        raise SpaceError(
            path,
            spec,
            f"space key {path} must be an object such as "
            '{"choice": [...]}, {"uniform": [low, high]}, {"log_uniform": '
            '[low, high]} or {"int": [low, high], "step": 1}.',
        )
    kinds = [kind for kind in KINDS if kind in spec]
    if len(kinds) != 1:
        found = ", ".join(map(str, spec)) or "nothing"
        raise SpaceError(
            path,
            spec,
            f"space key {path} must name exactly one of {', '.join(KINDS)}; it has {found}.",
        )
    kind = kinds[0]
    extra = [key for key in spec if key != kind and not (kind == "int" and key in ("step", "log"))]
    if extra:
        allowed = ' ("int" also takes step and log)' if kind != "int" else ": step and log"
        raise SpaceError(
            path,
            spec,
            f"space key {path} has unknown option {extra[0]!r} next "
            f"to {kind}; the only options are{allowed}.",
        )
    if kind == "choice":
        return _choice(path, spec["choice"])
    if kind == "int":
        return _int(path, spec)
    low, high = _bounds(path, kind, spec[kind], whole=False)
    if kind == "log_uniform" and low <= 0:
        raise SpaceError(
            path,
            spec,
            f"space key {path}: log_uniform needs low > 0, not "
            f"{low!r}; a log scale has no zero or negative values.",
        )
    return Dimension(path, kind, low=low, high=high)


def _choice(path: str, values: Any) -> Dimension:
    if not isinstance(values, list) or not values:
        raise SpaceError(
            path,
            values,
            f"space key {path}: choice must be a non-empty list of values, not {values!r}.",
        )
    if len(values) > MAX_CHOICES:
        raise SpaceError(
            path,
            len(values),
            f"space key {path}: choice has {len(values)} "
            f"values; at most {MAX_CHOICES} are allowed.",
        )
    seen: set[str] = set()
    for value in values:
        try:
            text = json.dumps(canonical(value), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            raise SpaceError(
                path, value, f"space key {path}: choice value {value!r} is not a finite JSON value."
            ) from None
        if text in seen:
            raise SpaceError(
                path,
                value,
                f"space key {path}: choice lists {value!r} twice; list each value once.",
            )
        seen.add(text)
    return Dimension(path, "choice", values=tuple(values))


def _int(path: str, spec: Mapping[str, Any]) -> Dimension:
    low, high = _bounds(path, "int", spec["int"], whole=True)
    step = spec.get("step", 1)
    if not _is_number(step) or not float(step).is_integer() or step < 1:
        raise SpaceError(
            path,
            step,
            f"space key {path}: step must be a whole number of at least 1, not {step!r}.",
        )
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(path, log, f"space key {path}: log must be true or false, not {log!r}.")
    if log and low < 1:
        raise SpaceError(
            path,
            spec,
            f"space key {path}: an int range with log needs low of at least 1, not {low!r}.",
        )
    return Dimension(path, "int", low=int(low), high=int(high), step=int(step), log=log)


def _bounds(path: str, kind: str, value: Any, *, whole: bool) -> tuple[float, float]:
    shape = "[low, high] of whole numbers" if whole else "[low, high] of numbers"
    ok = isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))
    if ok and whole:
        ok = all(float(x).is_integer() for x in value)
    if not ok:
        raise SpaceError(path, value, f"space key {path}: {kind} must be {shape}, not {value!r}.")
    low, high = value
    if not low < high:
        raise SpaceError(
            path,
            value,
            f"space key {path}: {kind} needs low < high, not "
            f"[{low!r}, {high!r}]; for one value, leave the key out of space and "
            "set it in base.",
        )
    return (int(low), int(high)) if whole else (float(low), float(high))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def plain(value: Any) -> Any:
    """A choice value as a fresh plain-JSON copy, so callers may change what they get."""
    return json.loads(json.dumps(value))


def int_grid(dim: Dimension) -> list[int]:
    """The values an `int` dimension may take: low, low + step, ... up to high."""
    assert dim.low is not None and dim.high is not None
    step = int(dim.step or 1)
    return list(range(int(dim.low), int(dim.high) + 1, step))


def snap_int(dim: Dimension, x: float) -> int:
    """The value of an `int` dimension nearest to `x` (on its step grid, within bounds)."""
    assert dim.low is not None and dim.high is not None
    step = int(dim.step or 1)
    count = (int(dim.high) - int(dim.low)) // step
    k = min(max(round((x - dim.low) / step), 0), count)
    return int(dim.low) + k * step


def canonical(value: Any) -> Any:
    """`value` with integral floats as ints, so 64 and 64.0 count as one value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value
