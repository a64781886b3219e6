"""What `neuronal predict` predicts with: a model id, `NAME@ALIAS` or `NAME@VERSION`.

Aliases are never all digits, so `churn@3` is version 3 and `churn@production` an alias. An
alias is read once, and every chunk of the file is then predicted by that version, so one
file never mixes two versions even if the alias moves meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from neuronal_client import NeuronalClient, PredictionResult

from service.cli.errors import usage_error

Predict = Callable[[list[dict[str, Any]]], PredictionResult]


@dataclass(frozen=True)
class ModelRef:
    """A model id, or a registered model's name with an alias or a version."""

    model_id: str | None = None
    name: str | None = None
    alias: str | None = None
    version: int | None = None


def parse_model_ref(text: str) -> ModelRef:
    if "@" not in text:
        return ModelRef(model_id=text)
    name, _, ref = text.partition("@")
    if not name or not ref or "@" in ref:
        usage_error("MODEL", f"a model id, NAME@ALIAS or NAME@VERSION, not {text!r}")
    if ref.isdigit():
        return ModelRef(name=name, version=int(ref))
    return ModelRef(name=name, alias=ref)


def resolve(client: NeuronalClient, ref: ModelRef) -> tuple[str, Predict, str | None]:
    """The model id `ref` names now, a function predicting records with it, and a line saying
    which version that is (None for a plain model id)."""
    if ref.model_id is not None:
        model_id = ref.model_id
        return model_id, lambda records: client.predict(model_id, records=records), None
    assert ref.name is not None
    name = ref.name
    if ref.alias is not None:
        alias = client.get_alias(name, ref.alias)
        version, model_id = alias["version"], alias["model_id"]
        note = f"predicting with {name} version {version} (alias {ref.alias}), model {model_id}"
    else:
        assert ref.version is not None
        version = ref.version
        model_id = client.get_model_version(name, version)["model_id"]
        note = f"predicting with {name} version {version}, model {model_id}"

    def predict(records: list[dict[str, Any]]) -> PredictionResult:
        return client.predict_registered(name, version=version, records=records)

    return model_id, predict, note
