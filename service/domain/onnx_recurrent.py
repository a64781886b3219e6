"""The recurrent part of a model's ONNX graph: preprocessing of every step, then ONNX `RNN`,
`GRU` and `LSTM` nodes with `sequence_lens`, handing the last layer's final state on.

Inputs: `sequences` — `double [N, T, d]`, the raw step values in the model's feature order
(NaN = missing), T at most the model's steps; `lengths` — `int64 [N]`, each sequence's real
steps (the rest is padding and ignored). The engine keeps PyTorch's gate order and one
combined bias; ONNX wants `LSTM` gates as (i, o, f, c) and `GRU` gates as (z, r, h) with
`linear_before_reset=1`, so the blocks are reordered here. onnxruntime runs these operators in
float32 only, so a float64 model's recurrent layers run in float32 (its dense layers keep
float64).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from service.core.errors import Conflict
from service.domain.onnx_graph import Graph
from service.engine import Model

SEQUENCES_INPUT = "sequences"
LENGTHS_INPUT = "lengths"
GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}  # engine blocks, ONNX order
OP_TYPES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
RNN_ACTIVATIONS = {  # engine name → ONNX activation and its alpha, if any
    "tanh": ("Tanh", None),
    "sigmoid": ("Sigmoid", None),
    "relu": ("Relu", None),
    "leaky_relu": ("LeakyRelu", 0.01),
    "elu": ("Elu", 1.0),
    "linear": ("Affine", 1.0),
}


def check_recurrent_exportable(model: Model) -> None:
    """Raise Conflict for an rnn activation ONNX's RNN operator has no equivalent of."""
    for layer, _ in model.recurrent or []:
        if layer.kind == "rnn" and layer.activation not in RNN_ACTIVATIONS:
            raise Conflict(
                f"The model's rnn layer uses the activation {layer.activation!r}, which ONNX's "
                f"RNN operator cannot express; it supports {', '.join(RNN_ACTIVATIONS)}. "
                "Download the .npz weights instead."
            )


def recurrent_inputs(g: Graph, model: Model) -> tuple[list, str]:
    """Graph inputs and the final state `[N, H]` of the last recurrent layer, in the
    weights' dtype."""
    assert model.recurrent is not None
    d = len(model.feature_names)
    inputs = [
        helper.make_tensor_value_info(SEQUENCES_INPUT, TensorProto.DOUBLE, ["N", "T", d]),
        helper.make_tensor_value_info(LENGTHS_INPUT, TensorProto.INT64, ["N"]),
    ]
    scaled = g.op(
        "Add",
        [
            g.op("Mul", [SEQUENCES_INPUT, g.const("scale", model.scale)]),
            g.const("offset", model.offset),
        ],
    )
    fill = g.const("fill", model.fill.astype(np.float64))
    imputed = g.op("Where", [g.op("IsNaN", [SEQUENCES_INPUT]), fill, scaled], "imputed")
    steps = g.op("Cast", [imputed], "steps", to=TensorProto.FLOAT)
    x = g.op("Transpose", [steps], "time_major", perm=[1, 0, 2])  # [T, N, d]
    lengths = g.op("Cast", [LENGTHS_INPUT], "lengths", to=TensorProto.INT32)
    final = ""
    for layer, params in model.recurrent:
        x, final = _layer(g, layer, params, x, lengths)
    state = g.op("Squeeze", [final, g.const("axes", np.array([0], np.int64))], "final")
    if g.onnx_type != TensorProto.FLOAT:
        state = g.op("Cast", [state], "final", to=g.onnx_type)
    return inputs, state


def _layer(g: Graph, layer, params, x: str, lengths: str) -> tuple[str, str]:
    """One recurrent node; returns its step outputs `[T, N, H]` and final state `[1, N, H]`."""
    kind, H = layer.kind, layer.units
    order = GATE_ORDER[kind]
    W_ih, W_hh, b = (np.asarray(p, np.float32) for p in params[:3])

    def blocks(a: np.ndarray) -> np.ndarray:  # (rows, G*H) engine → (1, G*H, rows) ONNX
        return np.concatenate([a[..., k * H : (k + 1) * H] for k in order], axis=-1).T[None]

    W, R = blocks(W_ih), blocks(W_hh)
    Wb = blocks(b[None, :])[0, :, 0]
    Rb = np.zeros_like(Wb)
    attrs: dict = {"hidden_size": H}
    if kind == "gru":
        Rb[2 * H :] = np.asarray(params[3], np.float32)  # b_hn, scaled by the reset gate
        attrs["linear_before_reset"] = 1
    if kind == "rnn":
        name, alpha = RNN_ACTIVATIONS[layer.activation]
        attrs["activations"] = [name]
        if alpha is not None:
            attrs["activation_alpha"] = [alpha]
        if name == "Affine":
            attrs["activation_beta"] = [0.0]
    B = np.concatenate([Wb, Rb])[None]
    y, y_h = g.name(f"{kind}_y"), g.name(f"{kind}_h")
    node_inputs = [x, g.const("W", W), g.const("R", R), g.const("B", B), lengths]
    g.nodes.append(helper.make_node(OP_TYPES[kind], node_inputs, [y, y_h], **attrs))
    steps = g.op("Squeeze", [y, g.const("axes", np.array([1], np.int64))], "steps")
    return steps, y_h
