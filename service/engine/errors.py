"""The errors the engine raises for what its caller can fix: bad data, a bad spec, a run that
diverged, bytes that are not what they should be.

Every one is an `EngineError`, so a caller tells them apart from a bug (any other exception)
by type alone. They stay `ValueError`s too, as numpy-style code expects of bad arguments.
Each message is one sentence a user can act on.
"""

from __future__ import annotations


class EngineError(ValueError):
    """Base of the engine's errors: the input, not the code, is at fault."""


class SpecError(EngineError):
    """A network or training spec that cannot be trained; `.field` is a dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InputError(EngineError):
    """Raw feature or target values that cannot be used; names the row and the feature."""

    def __init__(self, message: str, *, row: int | None = None, feature: str | None = None):
        super().__init__(message)
        self.row = row
        self.feature = feature


class DivergenceError(EngineError):
    """Training diverged; the message names the epoch and the setting to change."""

    def __init__(self, message: str, *, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


class CheckpointMismatch(EngineError):
    """A checkpoint that is not one, or that belongs to another run (data or specs differ)."""


class CorruptModel(EngineError):
    """Stored model bytes that are not a valid Neuronal model; nothing in them was run."""
