"""The rules of a Hopfield `network` object and of a recall request, with their defaults.

`{"kind": "hopfield", "rule": "hebbian"|"storkey", "update": "async"|"sync",
"max_iterations": 100}`: everything but `kind` is optional. Validating a normalized spec again
returns it unchanged.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..spec_values import choice, integer, known_keys, mapping

KIND = "hopfield"
RULES = ("hebbian", "storkey")
UPDATES = ("async", "sync")
NETWORK_KEYS = ("kind", "max_iterations", "rule", "update")
DEFAULTS: dict[str, Any] = {"rule": "hebbian", "update": "async", "max_iterations": 100}
HOPFIELD_LIMITS: dict[str, int] = {
    "max_units": 4096,  # the weights are units² float64 values: 128 MiB at this limit
    "max_iterations": 10_000,
    "max_seed": 2**63 - 1,
}


def is_hopfield(network: Any) -> bool:
    """True for a `network` object that asks for a Hopfield network."""
    return isinstance(network, dict) and network.get("kind") == KIND


def validate_hopfield_spec(network: Any) -> dict:
    """Check a Hopfield `network` object; return it normalized, or raise `SpecError`."""
    mapping(network, "network")
    known_keys(network, NETWORK_KEYS, "network")
    kind = network.get("kind")
    if kind != KIND:
        raise SpecError("network.kind", f'network.kind must be "{KIND}", not {kind!r}.')
    return {
        "kind": KIND,
        "rule": choice(network.get("rule", DEFAULTS["rule"]), RULES, "network.rule", "a rule"),
        "update": choice(
            network.get("update", DEFAULTS["update"]), UPDATES, "network.update", "an update mode"
        ),
        "max_iterations": check_max_iterations(
            network.get("max_iterations", DEFAULTS["max_iterations"]), "network.max_iterations"
        ),
    }


def check_max_iterations(value: Any, field: str = "max_iterations") -> int:
    """A number of sweeps from 1 to the limit, or `SpecError` naming `field`."""
    return integer(value, field, 1, HOPFIELD_LIMITS["max_iterations"])


def check_seed(value: Any, field: str = "seed") -> int:
    """A seed for the update order: a whole number from 0 to 2^63 - 1."""
    return integer(value, field, 0, HOPFIELD_LIMITS["max_seed"])
