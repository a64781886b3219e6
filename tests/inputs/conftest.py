"""A stack with small limits, so that going over each of them is cheap to show."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.inputs.helpers import PREDICT_ROWS, TRAINING_BUDGET, UPLOAD_LIMIT
from tests.stack import Stack


@pytest.fixture(scope="session")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """`neuronal serve` on the embedded default with small upload, predict and budget limits."""
    stack = Stack(
        tmp_path_factory.mktemp("limited"),
        {
            "NEURONAL_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
            "NEURONAL_MAX_PREDICT_ROWS": str(PREDICT_ROWS),
            "NEURONAL_MAX_TRAINING_BUDGET": str(TRAINING_BUDGET),
        },
        embedded=True,
    )
    stack.start_api()
    yield stack
    stack.stop()
