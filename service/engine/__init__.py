"""Neuronal's neural-network engine: dense feedforward, recurrent and Hopfield networks in NumPy.

`fit` trains a network described by the `network` and `training` objects of the HTTP API on
raw rows, sequences or a time series and returns a `Model` and the per-epoch history;
`validate_spec` is the one set of rules for those objects and `check_layout` the rule that
joins them to the data's layout. `window_series` and `chronological_split` turn a series into
samples. `HopfieldModel.store` builds a Hopfield network from binary patterns (see
`hopfield`). The engine depends on numpy only and does no I/O.
"""

from .activations import ACTIVATIONS
from .errors import (
    CheckpointMismatch,
    CorruptModel,
    DivergenceError,
    EngineError,
    InputError,
    SpecError,
)
from .hopfield import HopfieldModel, validate_hopfield_spec
from .initializers import INITS
from .losses import LOSSES
from .model import Model
from .optimizers import OPTIMIZERS
from .recurrent_spec import check_layout
from .sequences import Windows, chronological_split, window_series
from .spec import LIMITS, validate_spec
from .stored import load_model
from .targets import infer_task
from .training import Progress, fit

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LIMITS",
    "LOSSES",
    "OPTIMIZERS",
    "CheckpointMismatch",
    "CorruptModel",
    "DivergenceError",
    "EngineError",
    "HopfieldModel",
    "InputError",
    "Model",
    "Progress",
    "SpecError",
    "Windows",
    "check_layout",
    "chronological_split",
    "fit",
    "infer_task",
    "load_model",
    "validate_hopfield_spec",
    "validate_spec",
    "window_series",
]
