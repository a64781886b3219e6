"""What the routes of feedforward models answer for a Hopfield model, and the other way round.

A Hopfield network recalls whole patterns; it has no features-to-target mapping, so predict,
batch predictions, ONNX export and the confusion matrix refuse it with a 422 pointing to
`/recall`, and `/recall` refuses a feedforward model pointing to `/predict`.
"""

from __future__ import annotations

from service.core.errors import InvalidInput, field_error
from service.engine.hopfield.model import FORMAT as HOPFIELD_FORMAT
from service.engine.stored import model_format


def is_hopfield_model(data: bytes) -> bool:
    """Whether stored model bytes hold a Hopfield network (CorruptModel if they are corrupt)."""
    return model_format(data) == HOPFIELD_FORMAT


def hopfield_cannot_predict(model_id: str) -> InvalidInput:
    message = (
        f"Model {model_id!r} is a Hopfield network: it recalls stored patterns instead of "
        "predicting a target, so predictions, batch predictions, ONNX export and confusion "
        f'matrices do not apply to it; send POST /v1/models/{model_id}/recall {{"patterns": '
        "[[...], ...]} with one 0/1 or -1/+1 value per unit."
    )
    return InvalidInput(message, errors=[field_error(["path", "model_id"], "a Hopfield network")])


def feedforward_cannot_recall(model_id: str) -> InvalidInput:
    message = (
        f"Model {model_id!r} is a feedforward network, not a Hopfield network, so it has no "
        f"stored patterns to recall; predict with POST /v1/models/{model_id}/predict."
    )
    loc: list[str | int] = ["path", "model_id"]
    return InvalidInput(message, errors=[field_error(loc, "not a Hopfield network")])
