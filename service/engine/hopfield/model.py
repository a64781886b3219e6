"""A Hopfield network: stored patterns, weights and thresholds, with recall and safe storage.

Attributes: `network` (the normalized spec); `encoding` (`binary` 0/1 or `bipolar` -1/+1, what
the patterns came in and what recall answers in); `feature_names` (one per unit); `weights`
`(n, n)` float64, symmetric with a zero diagonal; `thresholds` `(n,)` (zero after `store`);
`patterns` `(p, n)` int8 -1/+1, the stored patterns in the order given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CorruptModel, InputError
from ..serialization import pack, unpack
from .dynamics import Trace, energy, fixed_points, settle, update_matrix
from .patterns import ENCODINGS, encode, read_patterns
from .rules import RULES
from .spec import HOPFIELD_LIMITS, check_max_iterations, check_seed, validate_hopfield_spec

FORMAT = "neuronal-hopfield"
CORRUPT = "The stored model is corrupt or not a Neuronal Hopfield network"


@dataclass
class Recall:
    """What `HopfieldModel.recall` found for each probe (one entry per row)."""

    states: np.ndarray  # (b, n) int64 in the model's encoding
    energy: list[np.ndarray]  # one array per row: iterations + 1 energies, the start first
    iterations: np.ndarray  # (b,) sweeps run
    converged: np.ndarray  # (b,) reached a fixed point
    cycled: np.ndarray  # (b,) stopped in a 2-cycle (synchronous updates only)
    nearest_pattern: np.ndarray  # (b,) index of the closest stored pattern (the first on ties)
    hamming: np.ndarray  # (b,) units where the final state differs from that pattern

    def to_dict(self) -> dict[str, list]:
        """Plain JSON-ready lists, keyed as in the HTTP recall reply."""
        return {
            "states": self.states.tolist(),
            "energy": [row.tolist() for row in self.energy],
            "iterations": self.iterations.tolist(),
            "converged": self.converged.tolist(),
            "nearest_pattern": self.nearest_pattern.tolist(),
            "hamming": self.hamming.tolist(),
        }


class HopfieldModel:
    """Stores binary patterns and recalls the nearest one from a damaged probe."""

    def __init__(
        self,
        *,
        network: Any,
        encoding: str,
        weights: np.ndarray,
        thresholds: np.ndarray,
        patterns: np.ndarray,
        feature_names: list[str],
    ) -> None:
        self.network: dict = validate_hopfield_spec(network)
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}.")
        self.encoding: str = encoding
        self.weights = np.asarray(weights, dtype=np.float64)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.patterns = np.asarray(patterns, dtype=np.int8)
        if not isinstance(feature_names, list):
            raise ValueError("the feature names must be a list, one name per unit")
        self.feature_names: list[str] = [str(name) for name in feature_names]
        _check_parts(self.weights, self.thresholds, self.patterns, self.feature_names)
        self.n_units: int = self.weights.shape[0]
        self.n_patterns: int = self.patterns.shape[0]

    @classmethod
    def store(
        cls,
        patterns: Any,
        network: Any,
        *,
        feature_names: list[str] | None = None,
        encoding: str | None = None,
    ) -> HopfieldModel:
        """Learn the weights from patterns `(p, n)` of 0/1 or -1/+1 with the spec's rule."""
        spec = validate_hopfield_spec(network)
        xi, encoding = read_patterns(patterns, encoding=encoding, names=feature_names)
        if xi.shape[1] > HOPFIELD_LIMITS["max_units"]:
            raise InputError(
                f"The patterns have {xi.shape[1]} values each; a Hopfield network has at most "
                f"{HOPFIELD_LIMITS['max_units']} units, so send fewer columns."
            )
        names = feature_names or [f"x{j}" for j in range(xi.shape[1])]
        weights = RULES[spec["rule"]](xi)
        return cls(network=spec, encoding=encoding, weights=weights,
                   thresholds=np.zeros(xi.shape[1]), patterns=xi, feature_names=names)  # fmt: skip

    def recall(
        self,
        patterns: Any,
        *,
        max_iterations: Any = None,
        seed: Any = 0,
        trace: Trace | None = None,
    ) -> Recall:
        """Settle each probe `(b, n)` (or one flat row) from its start to an attractor."""
        limit = self.network["max_iterations"] if max_iterations is None else max_iterations
        limit = check_max_iterations(limit)
        rng = np.random.default_rng(check_seed(seed))
        probes, _ = read_patterns(patterns, encoding=self.encoding, names=self.feature_names,
                                  single_row=True)  # fmt: skip
        done = settle(self.weights, self.thresholds, probes, update=self.network["update"],
                      max_iterations=limit, rng=rng, trace=trace)  # fmt: skip
        nearest, hamming = self._nearest(done.states)
        return Recall(
            states=encode(done.states, self.encoding),
            energy=done.energy,
            iterations=done.iterations,
            converged=done.converged,
            cycled=done.cycled,
            nearest_pattern=nearest,
            hamming=hamming,
        )

    def energy(self, states: Any) -> np.ndarray:
        """`E(s) = -1/2 sᵀ W s + θᵀ s` of each row `(b,)`, states in the model's encoding."""
        s, _ = read_patterns(states, encoding=self.encoding, names=self.feature_names,
                             single_row=True)  # fmt: skip
        return energy(self.weights, self.thresholds, s)

    def stable(self) -> np.ndarray:
        """`(p,)` bool: which stored patterns are fixed points of the dynamics."""
        return fixed_points(update_matrix(self.weights, self.thresholds), self.patterns)

    def capacity(self) -> dict[str, Any]:
        """n_patterns, n_units, capacity_ratio (patterns / units), and the stable patterns."""
        stable = self.stable()
        return {
            "n_patterns": self.n_patterns,
            "n_units": self.n_units,
            "capacity_ratio": self.n_patterns / self.n_units,
            "stable_patterns": int(stable.sum()),
            "stable_fraction": float(stable.mean()),
        }

    def _nearest(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        overlap = states @ self.patterns.T.astype(np.float64)  # n - 2 * hamming
        nearest = np.argmax(overlap, axis=1)
        best = overlap[np.arange(len(states)), nearest]
        return nearest, np.rint((self.n_units - best) / 2).astype(np.int64)

    def to_bytes(self) -> bytes:
        """Serialise to `.npz` bytes: `weights`, `thresholds`, `patterns`, JSON metadata."""
        arrays: dict[str, np.ndarray] = {
            "weights": self.weights,
            "thresholds": self.thresholds,
            "patterns": self.patterns,
        }
        meta = {"format": FORMAT, "version": 1, "network": self.network,
                "encoding": self.encoding, "features": self.feature_names}  # fmt: skip
        return pack(arrays, meta)

    @classmethod
    def from_bytes(cls, data: bytes) -> HopfieldModel:
        """Load what `to_bytes` wrote; anything else raises `CorruptModel`, never runs code."""
        try:
            arrays, meta = unpack(data, CORRUPT, CorruptModel)
            if meta.get("format") != FORMAT or meta.get("version") != 1:
                raise ValueError("it does not carry the Neuronal Hopfield format marker")
            if set(arrays) != {"weights", "thresholds", "patterns"}:
                raise ValueError("it holds unexpected or missing arrays")
            floats = arrays["weights"].dtype == arrays["thresholds"].dtype == np.float64
            if arrays["patterns"].dtype != np.int8 or not floats:
                raise ValueError("an array has the wrong type")
            return cls(network=meta["network"], encoding=meta["encoding"],
                       feature_names=meta["features"], **arrays)  # fmt: skip
        except CorruptModel:
            raise
        except ValueError as e:
            raise CorruptModel(f"{CORRUPT}: {e}") from None
        except (KeyError, TypeError, AttributeError) as e:
            raise CorruptModel(f"{CORRUPT}: missing or malformed entry ({e!r}).") from None


def _check_parts(W: np.ndarray, theta: np.ndarray, patterns: np.ndarray, names: list) -> None:
    n = W.shape[0] if W.ndim == 2 else -1
    if W.shape != (n, n) or theta.shape != (n,) or patterns.ndim != 2 or patterns.shape[1] != n:
        raise ValueError("the weights, thresholds and patterns do not have matching shapes")
    if len(names) != n or patterns.shape[0] == 0:
        raise ValueError("there must be one feature name per unit and at least one pattern")
    if not (np.isfinite(W).all() and np.isfinite(theta).all()):
        raise ValueError("the weights and thresholds must be finite")
    if not np.array_equal(W, W.T) or np.any(np.diag(W) != 0):
        raise ValueError("the weights must be symmetric with a zero diagonal")
    if not np.all(np.abs(patterns) == 1):
        raise ValueError("the stored patterns must be -1/+1")
