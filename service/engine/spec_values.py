"""Checks of single values in a spec: numbers in range, integers, booleans, choices, known
keys; each raises `SpecError` naming the field and what it expects."""

from __future__ import annotations

import math
from typing import Any

from .errors import SpecError
from .optimizers import Hyper


def hyper(spec: dict, hyper: dict[str, Hyper], field: str, owner: str) -> dict:
    for key in spec:
        if key != "name" and key not in hyper:
            takes = ", ".join(hyper) or "no settings"
            raise SpecError(
                f"{field}.{key}",
                f"{field}.{key} is not a setting of {owner}; {owner} takes: {takes}.",
            )
    return {key: number(spec.get(key, h.default), f"{field}.{key}", h) for key, h in hyper.items()}


def number(value: Any, field: str, rule: Hyper) -> Any:
    if rule.kind is int:
        return integer(value, field, int(rule.low), int(rule.high))
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        low_ok = value > rule.low if rule.low_open else value >= rule.low
        high_ok = value < rule.high if rule.high_open else value <= rule.high
        ok = low_ok and high_ok
    if not ok:
        raise SpecError(field, f"{field} must be {rule.describe()}, not {value!r}.")
    return float(value)


def integer(value: Any, field: str, low: int, high: int) -> int:
    if not is_int(value) or not low <= value <= high:
        raise SpecError(
            field, f"{field} must be a whole number from {low} to {high}, not {value!r}."
        )
    return int(value)


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(field, f"{field} must be true or false, not {value!r}.")
    return value


def is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def choice(value: Any, options: Any, field: str, what: str) -> Any:
    if not isinstance(value, str) or value not in options:
        raise SpecError(
            field, f"{field} {value!r} is not {what}; choose one of: {', '.join(sorted(options))}."
        )
    return value


def mapping(value: Any, field: str) -> None:
    if not isinstance(value, dict):
        raise SpecError(
            field, f"{field} must be an object (a JSON mapping), not {type(value).__name__}."
        )


def known_keys(spec: dict, allowed: tuple[str, ...], field: str) -> None:
    for key in spec:
        if key not in allowed:
            raise SpecError(
                f"{field}.{key}",
                f"{field}.{key} is an unknown field; allowed fields are: {', '.join(allowed)}.",
            )
