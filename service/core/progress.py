"""How far along a job is: the one formula behind every `progress.fraction` the API sends."""

from __future__ import annotations

from dataclasses import dataclass


def fraction_done(done: int, total: int) -> float:
    """`done / total`, rounded to 6 places; 0.0 while there is nothing to do."""
    return round(done / total, 6) if total > 0 else 0.0


@dataclass(frozen=True)
class EpochProgress:
    """A training job's progress: epochs trained out of those asked for."""

    epoch: int
    epochs: int

    @property
    def fraction(self) -> float:
        return fraction_done(self.epoch, self.epochs)


@dataclass(frozen=True)
class RowProgress:
    """A batch-prediction job's progress: rows predicted out of those sent."""

    rows_done: int
    n_rows: int

    @property
    def fraction(self) -> float:
        return fraction_done(self.rows_done, self.n_rows)
