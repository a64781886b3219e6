"""Hopfield networks: binary patterns stored in symmetric weights, recalled by settling.

A model kind of its own beside the feedforward `Model`: no epochs and no gradient. `store`
learns the weights in one pass (Hebbian or Storkey rule), `recall` lets damaged patterns settle
into the nearest attractor, asynchronously or synchronously, and reports the energy of every
sweep.
"""

from .dataset import check_summaries, patterns_from_table
from .dynamics import Settled, energy, settle
from .model import HopfieldModel, Recall
from .patterns import BINARY, BIPOLAR, read_patterns
from .spec import HOPFIELD_LIMITS, is_hopfield, validate_hopfield_spec

__all__ = [
    "BINARY",
    "BIPOLAR",
    "HOPFIELD_LIMITS",
    "HopfieldModel",
    "Recall",
    "Settled",
    "check_summaries",
    "energy",
    "is_hopfield",
    "patterns_from_table",
    "read_patterns",
    "settle",
    "validate_hopfield_spec",
]
