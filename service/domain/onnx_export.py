"""A trained model as an ONNX graph: its preprocessing, its dense layers and its output head.

Inputs (batch dimension `N` dynamic):
- `numeric` — `double [N, n_numeric]`, the raw numeric features in the model's feature order
  (NaN = missing); present when the model has numeric features.
- `categorical:<feature>` — `string [N, 1]` for each categorical feature ("" = missing).

The graph applies the stored preprocessing (`x * scale + offset`, missing → the training mean),
one-hot encodes categorical columns over the training categories (an unseen value is all
zeros, "" is the missing indicator when training had one), then `Gemm` + activation per layer
in the weights' own dtype. Outputs: `probabilities [N, n_classes]` and `class_index [N]` for a
classifier (column order = the `classes` metadata entry), `predictions [N, n_outputs]` for a
regression. Metadata props carry the classes, features and the task as JSON.

A recurrent model takes `sequences` and `lengths` instead (see `onnx_recurrent.py`); its
metadata adds `steps`, the most steps a sequence may have.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper

from service.core.errors import Conflict
from service.domain.onnx_graph import DTYPES, Graph
from service.domain.onnx_recurrent import check_recurrent_exportable, recurrent_inputs
from service.engine import Model

OPSET = 17
ML_OPSET = 3
IR_VERSION = 8  # the IR that introduced opset 17: readable by every runtime supporting it
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
NUMERIC_INPUT = "numeric"
CATEGORICAL_PREFIX = "categorical:"


def _step(g: Graph, z: str) -> str:
    zero = g.const("zero", np.zeros((), g.dtype))
    return g.op("Cast", [g.op("GreaterOrEqual", [z, zero])], "step", to=g.onnx_type)


def _elu(g: Graph, z: str) -> str:
    if g.dtype == np.float32:
        return g.op("Elu", [z], alpha=ELU_ALPHA)
    # onnxruntime has no double Elu kernel: max(z, 0) + alpha * (exp(min(z, 0)) - 1)
    zero = g.const("zero", np.zeros((), g.dtype))
    one = g.const("one", np.ones((), g.dtype))
    alpha = g.const("alpha", np.full((), ELU_ALPHA, g.dtype))
    negative = g.op("Sub", [g.op("Exp", [g.op("Min", [z, zero])]), one])
    return g.op("Add", [g.op("Relu", [z]), g.op("Mul", [negative, alpha])], "elu")


ACTIVATIONS: dict[str, Callable[[Graph, str], str]] = {
    "step": _step,
    "sigmoid": lambda g, z: g.op("Sigmoid", [z]),
    "tanh": lambda g, z: g.op("Tanh", [z]),
    "relu": lambda g, z: g.op("Relu", [z]),
    "leaky_relu": lambda g, z: g.op("LeakyRelu", [z], alpha=LEAKY_SLOPE),
    "elu": _elu,
    "linear": lambda g, z: z,
    "softmax": lambda g, z: g.op("Softmax", [z], axis=-1),
}


def check_exportable(model: Model) -> None:
    """Raise Conflict naming what the ONNX export cannot express, if anything."""
    unknown = [name for _, _, name in model.layers if name not in ACTIVATIONS]
    if unknown:
        raise Conflict(
            f"The model uses the activation {unknown[0]!r}, which the ONNX export cannot "
            f"express; it supports {', '.join(ACTIVATIONS)}. Download the .npz weights instead."
        )
    if np.dtype(model.dtype) not in DTYPES:
        raise Conflict(f"The model's weights are {model.dtype}; ONNX export needs float32/64.")


def export_onnx(model: Model, *, name: str = "neuronal") -> bytes:
    """The model (preprocessing, layers, output head) as a serialized ONNX ModelProto."""
    check_exportable(model)
    g = Graph(np.dtype(model.dtype))
    if model.recurrent is not None:
        check_recurrent_exportable(model)
        inputs, features = recurrent_inputs(g, model)
    else:
        inputs, features = _preprocess(g, model)
    for W, b, activation in model.layers:
        z = g.op("Gemm", [features, g.const("W", W), g.const("b", b)], "dense")
        features = ACTIVATIONS[activation](g, z)
    outputs = _head(g, model, features)
    graph = helper.make_graph(g.nodes, name, inputs, outputs, initializer=g.initializers)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="neuronal",
    )
    proto.ir_version = IR_VERSION
    meta: dict[str, Any] = {
        "task": model.task, "classes": model.classes, "features": model.features,
    }  # fmt: skip
    if model.recurrent is not None:
        meta["steps"] = model.steps
    helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.items()})
    onnx.checker.check_model(proto, full_check=True)
    return bytes(proto.SerializeToString())


def _preprocess(g: Graph, model: Model) -> tuple[list[onnx.ValueInfoProto], str]:
    """Graph inputs and the network's input tensor `[N, n_inputs]` in the weights' dtype."""
    inputs: list[onnx.ValueInfoProto] = []
    blocks: list[str] = []
    if len(model.mean):
        n_numeric = len(model.mean)
        inputs.append(
            helper.make_tensor_value_info(NUMERIC_INPUT, TensorProto.DOUBLE, ["N", n_numeric])
        )
        scaled = g.op(
            "Add",
            [
                g.op("Mul", [NUMERIC_INPUT, g.const("scale", model.scale)]),
                g.const("offset", model.offset),
            ],
        )
        fill = g.const("fill", model.fill.astype(np.float64))
        imputed = g.op("Where", [g.op("IsNaN", [NUMERIC_INPUT]), fill, scaled], "imputed")
        blocks.append(g.op("Cast", [imputed], "numeric", to=g.onnx_type))
    for feature in model.features:
        if feature["kind"] != "categorical":
            continue
        input_name = CATEGORICAL_PREFIX + feature["name"]
        inputs.append(helper.make_tensor_value_info(input_name, TensorProto.STRING, ["N", 1]))
        categories = [str(c) for c in feature["categories"]]
        if feature["missing_indicator"]:
            categories.append("")
        encoded = g.op("OneHotEncoder", [input_name], "onehot", cats_strings=categories, zeros=1)
        flat = g.op("Flatten", [encoded], axis=1)
        blocks.append(g.op("Cast", [flat], "onehot", to=g.onnx_type))
    joined = blocks[0] if len(blocks) == 1 else g.op("Concat", blocks, "inputs", axis=1)
    return inputs, joined


def _head(g: Graph, model: Model, out: str) -> list[onnx.ValueInfoProto]:
    """Name the outputs; a classifier's outputs become probabilities like `predict_proba`."""
    n_out = model.n_outputs
    if model.task != "classification":
        g.nodes.append(helper.make_node("Identity", [out], ["predictions"]))
        return [helper.make_tensor_value_info("predictions", g.onnx_type, ["N", n_out])]
    assert model.classes is not None
    n_classes = len(model.classes)
    if model.layers[-1][2] == "softmax":
        proba = out
    elif n_out == 1:
        one = g.const("one", np.ones((), g.dtype))
        proba = g.op("Concat", [g.op("Sub", [one, out]), out], "binary", axis=1)
    else:  # independent sigmoid/step units: normalise each row, uniform when all are zero
        axes = g.const("axes", np.array([1], np.int64))
        total = g.op("ReduceSum", [out, axes], "total", keepdims=1)
        positive = g.op("Greater", [total, g.const("zero", np.zeros((), g.dtype))])
        uniform = g.const("uniform", np.full((), 1.0 / n_classes, g.dtype))
        proba = g.op("Where", [positive, g.op("Div", [out, total]), uniform], "normalised")
    g.nodes.append(helper.make_node("Identity", [proba], ["probabilities"]))
    g.nodes.append(helper.make_node("ArgMax", [proba], ["class_index"], axis=1, keepdims=0))
    return [
        helper.make_tensor_value_info("probabilities", g.onnx_type, ["N", n_classes]),
        helper.make_tensor_value_info("class_index", TensorProto.INT64, ["N"]),
    ]
