"""The CLI's account of a finished job names its cross-validation figures."""

from __future__ import annotations

from service.cli.client_commands import _outcome
from service.cli.tables import figure


def test_a_cross_validated_job_shows_each_metric_over_its_folds() -> None:
    job = {
        "id": "job_1",
        "status": "succeeded",
        "progress": {"epoch": 12, "epochs": 12, "fraction": 1.0},
        "metrics": {"train_loss": 0.2, "val_loss": 0.3},
        "model_id": "mdl_1",
        "cv_metrics": {
            "val_loss": {"mean": 0.31, "std": 0.02, "folds": [0.29, 0.33], "pooled": 0.305},
            "val_accuracy": {"mean": 0.9, "std": 0.05, "folds": [0.85, 0.95], "pooled": 0.9},
        },
    }
    lines = _outcome(job).splitlines()  # type: ignore[arg-type]
    assert lines[1] == (
        f"cross-validation val_loss: {figure(0.31)} ± {figure(0.02)} over 2 folds "
        f"(pooled {figure(0.305)})"
    )
    assert lines[2].startswith("cross-validation val_accuracy: 0.9000 ± 0.0500 over 2 folds")
    assert lines[3] == "model mdl_1"
    assert "cross-validation" not in _outcome({**job, "cv_metrics": None})  # type: ignore[arg-type]
