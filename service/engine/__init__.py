"""Neuronal's neural-network engine: dense feedforward networks in NumPy.

`fit` trains a network described by the `network` and `training` objects of the HTTP API on
raw rows and returns a `Model` and the per-epoch history; `validate_spec` is the one set of
rules for those objects. The engine depends on numpy only and does no I/O.
"""

from .activations import ACTIVATIONS
from .errors import InputError, SpecError
from .initializers import INITS
from .losses import LOSSES
from .model import Model
from .optimizers import OPTIMIZERS
from .spec import LIMITS, validate_spec
from .targets import infer_task
from .training import Progress, fit

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LIMITS",
    "LOSSES",
    "OPTIMIZERS",
    "InputError",
    "Model",
    "Progress",
    "SpecError",
    "fit",
    "infer_task",
    "validate_spec",
]
