"""The rules of the `network` and `training` objects, and their defaults.

`validate_spec` is the one place these rules live: the API calls it to refuse an impossible
job at submission, and `fit` calls it before any work. It returns normalized plain dicts with
every default filled in; validating a normalized spec again returns it unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from .activations import ACTIVATIONS
from .class_weights import class_weight_spec
from .dropout import check_input_dropout, dropout_rate
from .errors import SpecError
from .folds import cross_validation_spec
from .initializers import INITS, default_init
from .losses import LOSSES
from .optimizers import OPTIMIZERS, Hyper
from .recurrent_spec import (
    bptt_steps,
    check_order,
    check_recurrent,
    count_parameters,
    is_recurrent,
    layer_type,
    recurrent_layer,
    sequence,
)
from .schedules import SCHEDULES
from .spec_values import boolean, choice, hyper, integer, is_int, known_keys, mapping, number

LIMITS: dict[str, int] = {
    "max_hidden_layers": 32,
    "max_units": 4096,
    "max_epochs": 10_000,
    "max_parameters": 20_000_000,
    "max_categories": 1000,  # distinct values of one categorical column
}
TASKS = ("classification", "regression")
CLASSIFICATION_OUTPUTS = ("sigmoid", "softmax", "step")
REGRESSION_LOSSES = ("huber", "mae", "mse")
SCALINGS = ("none", "normalize", "standardize")
DTYPES = ("float32", "float64")
NETWORK_KEYS = ("init", "input_dropout", "layers", "loss", "output_activation")
TRAINING_KEYS = (
    "batch_size", "bptt_steps", "class_weight", "clip_norm", "cross_validation", "dtype",
    "early_stopping", "epochs", "l2", "optimizer", "scaling", "schedule", "seed", "sequence",
    "shuffle", "validation_fraction",
)  # fmt: skip
EARLY_STOPPING = {
    "patience": Hyper(5, int, 1, 10**6, False, False),
    "min_delta": Hyper(0.0, float, 0.0, math.inf, False, True),
}
DEFAULTS: dict[str, Any] = {
    "activation": "relu", "epochs": 20, "batch_size": 32, "optimizer": "adam", "shuffle": True,
    "validation_fraction": 0.1, "l2": 0.0, "seed": 0, "scaling": "standardize",
    "dtype": "float32",
}  # fmt: skip


def validate_spec(
    network: Any,
    training: Any,
    *,
    task: str,
    n_features: int,
    n_classes: int | None = None,
    n_samples: int | None = None,
) -> tuple[dict, dict]:
    """Check a network and a training spec; return both normalized, or raise `SpecError`."""
    if task not in TASKS:
        raise SpecError("task", f"task {task!r} is not a task; choose one of: {', '.join(TASKS)}.")
    if task == "classification" and n_classes is not None and n_classes < 2:
        raise SpecError(
            "task", "The target has only one class; classification needs at least two classes."
        )
    net = _network(network, task)
    _check_size(net, task, n_features, n_classes)
    train = _training(training, n_samples)
    weights = class_weight_spec(train.pop("class_weight", None), task)
    if weights is not None:
        train["class_weight"] = weights
    folds = cross_validation_spec(train.pop("cross_validation", None), task)
    if folds is not None:
        train["cross_validation"] = folds
    check_recurrent(net, train)
    return net, train


def n_outputs(network: dict, task: str, n_classes: int | None, n_targets: int = 1) -> int:
    """Units of the output layer: one per class, or one for a binary sigmoid/step output."""
    if task == "regression":
        return n_targets
    assert n_classes is not None
    if n_classes == 2 and network["output_activation"] != "softmax":
        return 1
    return n_classes


def _network(spec: Any, task: str) -> dict:
    mapping(spec, "network")
    known_keys(spec, NETWORK_KEYS, "network")
    layers = spec.get("layers", [])
    if not isinstance(layers, list):
        raise SpecError("network.layers", "network.layers must be a list of layers.")
    if len(layers) > LIMITS["max_hidden_layers"]:
        raise SpecError(
            "network.layers",
            f"network.layers has {len(layers)} hidden layers; "
            f"at most {LIMITS['max_hidden_layers']} are allowed.",
        )
    hidden = [_layer(layer, f"network.layers[{i}]") for i, layer in enumerate(layers)]
    check_order(hidden)
    output = spec.get("output_activation")
    loss = spec.get("loss")
    if output is not None:
        choice(output, ACTIVATIONS, "network.output_activation", "an activation")
    if loss is not None:
        choice(loss, LOSSES, "network.loss", "a loss")
    output = output or _default_output(task, loss)
    loss = loss or _default_loss(task, output)
    _check_output(task, output, loss)
    init = spec.get("init")
    if init is None:
        init = default_init([x["activation"] for x in hidden if not is_recurrent(x)])
    choice(init, INITS, "network.init", "an initializer")
    net = {"layers": hidden, "output_activation": output, "loss": loss, "init": init}
    # Dropout appears only when set, so specs without it normalize as they always did.
    if spec.get("input_dropout") is not None:
        net["input_dropout"] = dropout_rate(spec["input_dropout"], "network.input_dropout")
        check_input_dropout(net)
    return net


def _layer(layer: Any, field: str) -> dict:
    mapping(layer, field)
    kind = layer_type(layer, field)
    if "units" not in layer:
        raise SpecError(f"{field}.units", f"{field}.units is required: the number of neurons.")
    units = layer["units"]
    limit = LIMITS["max_units"]
    if not is_int(units) or not 1 <= units <= limit:
        raise SpecError(
            f"{field}.units",
            f"{field}.units must be a whole number from 1 to {limit}, not {units!r}.",
        )
    if kind != "dense":
        return recurrent_layer(layer, kind, int(units), field)
    activation = layer.get("activation", DEFAULTS["activation"])
    choice(activation, ACTIVATIONS, f"{field}.activation", "an activation")
    if activation == "softmax":
        raise SpecError(
            f"{field}.activation",
            f"{field}.activation softmax can only be the output activation; "
            "choose another activation for a hidden layer.",
        )
    out = {"units": int(units), "activation": activation}
    if layer.get("dropout") is not None:
        out["dropout"] = dropout_rate(layer["dropout"], f"{field}.dropout")
    return out


def _default_output(task: str, loss: str | None) -> str:
    if task == "regression":
        return "linear"
    return "sigmoid" if loss == "binary_cross_entropy" else "softmax"


def _default_loss(task: str, output: str) -> str:
    if task == "classification":
        return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(output, "mse")
    return "mse"


def _check_output(task: str, output: str, loss: str) -> None:
    if task == "regression":
        if output == "softmax":
            raise SpecError(
                "network.output_activation",
                "network.output_activation softmax is for classification; a regression output "
                "needs one of: linear (usual), elu, leaky_relu, relu, sigmoid, step, tanh.",
            )
        if loss not in REGRESSION_LOSSES:
            raise SpecError(
                "network.loss",
                f"network.loss {loss} is a classification loss; for regression choose one of: "
                f"{', '.join(REGRESSION_LOSSES)}.",
            )
        return
    if output not in CLASSIFICATION_OUTPUTS:
        raise SpecError(
            "network.output_activation",
            f"network.output_activation {output} cannot give class probabilities; for "
            f"classification choose one of: {', '.join(CLASSIFICATION_OUTPUTS)}.",
        )
    fused = LOSSES[loss].fused_with
    if fused is not None and fused != output:
        raise SpecError(
            "network.loss",
            f"network.loss {loss} needs a {fused} output, not {output}; set "
            f"network.output_activation to {fused} or choose another loss.",
        )


def _check_size(net: dict, task: str, n_features: int, n_classes: int | None) -> None:
    n_out = n_outputs(net, task, n_classes) if n_classes else 1
    count = count_parameters(net["layers"], n_features, n_out)
    if count > LIMITS["max_parameters"]:
        raise SpecError(
            "network.layers",
            f"The network would have {count} parameters; at most {LIMITS['max_parameters']} "
            "are allowed, so use fewer or smaller layers.",
        )


def _training(spec: Any, n_samples: int | None) -> dict:
    mapping(spec, "training")
    known_keys(spec, TRAINING_KEYS, "training")
    get = spec.get
    out: dict[str, Any] = {}
    out["epochs"] = integer(
        get("epochs", DEFAULTS["epochs"]), "training.epochs", 1, LIMITS["max_epochs"]
    )
    default_batch = min(DEFAULTS["batch_size"], n_samples or DEFAULTS["batch_size"])
    out["batch_size"] = _batch_size(get("batch_size", default_batch), n_samples)
    out["optimizer"] = _optimizer(get("optimizer", {"name": DEFAULTS["optimizer"]}))
    out["shuffle"] = boolean(get("shuffle", DEFAULTS["shuffle"]), "training.shuffle")
    fraction = get("validation_fraction", DEFAULTS["validation_fraction"])
    rule = Hyper(0.1, float, 0.0, 0.9, False, True)
    out["validation_fraction"] = number(fraction, "training.validation_fraction", rule)
    out["early_stopping"] = _early_stopping(get("early_stopping"))
    out["l2"] = number(get("l2", 0.0), "training.l2", Hyper(0.0, float, 0.0, math.inf, False))
    out["seed"] = integer(get("seed", DEFAULTS["seed"]), "training.seed", 0, 2**63 - 1)
    out["scaling"] = choice(
        get("scaling", DEFAULTS["scaling"]), SCALINGS, "training.scaling", "a scaling"
    )
    out["dtype"] = choice(get("dtype", DEFAULTS["dtype"]), DTYPES, "training.dtype", "a dtype")
    out["schedule"] = _schedule(get("schedule") or {"name": "constant"})
    clip = get("clip_norm")
    out["clip_norm"] = None if clip is None else number(clip, "training.clip_norm", Hyper(1.0))
    # Recurrent settings appear only when set, so dense specs normalize as they always did.
    if get("bptt_steps") is not None:
        out["bptt_steps"] = bptt_steps(get("bptt_steps"))
    if get("sequence") is not None:
        out["sequence"] = sequence(get("sequence"))
    out["class_weight"] = get("class_weight")  # checked by validate_spec, which knows the task
    out["cross_validation"] = get("cross_validation")  # likewise
    return out


def _batch_size(value: Any, n_samples: int | None) -> int | str:
    if value == "full":
        return "full"
    high = n_samples if n_samples else 2**31
    if not is_int(value) or not 1 <= value <= high:
        allowed = f"from 1 to {n_samples} (the number of rows)" if n_samples else "of at least 1"
        raise SpecError(
            "training.batch_size",
            f'training.batch_size must be "full" or a whole number {allowed}, not {value!r}.',
        )
    return int(value)


def _optimizer(spec: Any) -> dict:
    mapping(spec, "training.optimizer")
    if "name" not in spec:
        raise SpecError(
            "training.optimizer.name",
            f"training.optimizer.name is required; choose one of: {', '.join(sorted(OPTIMIZERS))}.",
        )
    name = choice(spec["name"], OPTIMIZERS, "training.optimizer.name", "an optimizer")
    return {"name": name, **hyper(spec, OPTIMIZERS[name].hyper, "training.optimizer", name)}


def _schedule(spec: Any) -> dict:
    mapping(spec, "training.schedule")
    name = choice(spec.get("name"), SCHEDULES, "training.schedule.name", "a schedule")
    return {"name": name, **hyper(spec, SCHEDULES[name], "training.schedule", name)}


def _early_stopping(spec: Any) -> dict | None:
    if spec is None:
        return None
    mapping(spec, "training.early_stopping")
    known_keys(spec, tuple(EARLY_STOPPING), "training.early_stopping")
    return hyper(spec, EARLY_STOPPING, "training.early_stopping", "early stopping")
