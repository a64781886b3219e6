"""The two error types the engine raises for bad input, both plain `ValueError`s.

`SpecError` points at a field of the `network`/`training` objects; `InputError` points at a
row and a feature of the raw data. Each message is one sentence a user can act on.
"""

from __future__ import annotations


class SpecError(ValueError):
    """A network or training spec that cannot be trained; `.field` is a dotted path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class InputError(ValueError):
    """Raw feature or target values that cannot be used; names the row and the feature."""

    def __init__(self, message: str, *, row: int | None = None, feature: str | None = None):
        super().__init__(message)
        self.row = row
        self.feature = feature
