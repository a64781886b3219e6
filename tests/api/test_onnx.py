"""GET /v1/models/{id}/onnx: the exported graph gives the same answers as POST /predict."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from service.core.errors import Conflict
from service.domain.onnx_export import OPSET, export_onnx
from service.engine import fit
from tests.stack import Stack, wait_for_job

TOLERANCE = 1e-5
FAST = {"epochs": 4, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.02}}

# name -> (data set, hidden activation, network extras, training extras)
CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    "sigmoid": ("iris", "sigmoid", {}, {}),
    "tanh": ("iris", "tanh", {}, {}),
    "relu": ("iris", "relu", {}, {}),
    "leaky_relu": ("iris", "leaky_relu", {}, {}),
    "elu": ("iris", "elu", {}, {}),
    "elu-float64": ("iris", "elu", {}, {"dtype": "float64"}),
    "linear": ("iris", "linear", {}, {}),
    "step": ("iris", "step", {}, {}),
    "sigmoid-output-multiclass": ("iris", "relu", {"output_activation": "sigmoid"}, {}),
    "categorical-sigmoid-output": ("mixed", "tanh", {"output_activation": "sigmoid"}, {}),
    "categorical-softmax-output": ("mixed", "relu", {"output_activation": "softmax"}, {}),
    "step-output": ("mixed", "relu", {"output_activation": "step"}, {}),
    "regression-linear-output": ("regression", "relu", {}, {}),
    "dropout-and-class-weights": (
        "iris",
        "tanh",
        {"layers": [{"units": 6, "activation": "tanh", "dropout": 0.5}], "input_dropout": 0.2},
        {"class_weight": "balanced"},
    ),
}


def mixed_csv() -> bytes:
    """Numeric and categorical features with missing cells, and a binary target."""
    rng = np.random.default_rng(3)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["x", "colour", "size", "label"])
    for i in range(120):
        x, size = rng.normal(), rng.uniform(0, 50)
        colour = ["red", "green", "blue"][i % 3]
        label = "yes" if x + (colour == "red") > 0.3 else "no"
        writer.writerow(["" if i % 17 == 0 else round(x, 4), "" if i % 13 == 0 else colour,
                         round(size, 2), label])  # fmt: skip
    return out.getvalue().encode()


def regression_csv() -> bytes:
    rng = np.random.default_rng(4)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["a", "b", "y"])
    for _ in range(100):
        a, b = rng.normal(), rng.normal()
        writer.writerow([round(a, 4), round(b, 4), round(2 * a - b + 0.1 * rng.normal(), 4)])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def trained(embedded_stack: Stack, iris_bytes: bytes) -> dict[str, Any]:
    """One model per case, trained through the API (all jobs submitted before any wait)."""
    key = embedded_stack.create_key("onnx")
    client = embedded_stack.client(key)
    files = {"iris": iris_bytes, "mixed": mixed_csv(), "regression": regression_csv()}
    datasets = {
        name: client.post("/v1/datasets", files={"file": (f"{name}.csv", data, "text/csv")}).json()
        for name, data in files.items()
    }
    pending: dict[str, str] = {}
    models: dict[str, str] = {}

    def finish_oldest() -> None:
        case, job_id = next(iter(pending.items()))
        job = wait_for_job(client, pending.pop(case))
        assert job["status"] == "succeeded", (case, job, embedded_stack.logs())
        models[case] = job["model_id"]

    for case, (data, activation, network, training) in CASES.items():
        body = {
            "dataset_id": datasets[data]["id"],
            "network": {"layers": [{"units": 6, "activation": activation}], **network},
            "training": {**FAST, **training},
        }
        response = client.post("/v1/jobs", json=body)
        while response.status_code == 429:  # the tenant's cap on active jobs: let one finish
            finish_oldest()
            response = client.post("/v1/jobs", json=body)
        assert response.status_code == 202, (case, response.text)
        pending[case] = response.json()["id"]
    while pending:
        finish_oldest()
    yield {"client": client, "models": models, "datasets": datasets, "stack": embedded_stack}
    client.close()


def probe_rows(dataset: str) -> list[dict[str, Any]]:
    """Records to predict: ordinary rows, missing values and (for categoricals) unseen ones."""
    rng = np.random.default_rng(7)
    if dataset == "iris":
        names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        rows = [dict(zip(names, r, strict=True)) for r in rng.uniform(0.1, 8, (20, 4)).tolist()]
        rows[0]["petal_width"] = None
        return rows
    if dataset == "regression":
        rows = [{"a": a, "b": b} for a, b in rng.normal(size=(20, 2)).tolist()]
        rows[1]["a"] = None
        return rows
    colours = ["red", "green", "blue", "purple", None]
    return [
        {"x": None if i == 2 else float(rng.normal()), "colour": colours[i % 5],
         "size": float(rng.uniform(0, 50))}
        for i in range(20)
    ]  # fmt: skip


def onnx_feeds(session: ort.InferenceSession, rows: list[dict[str, Any]], features: list[dict]):
    numeric = [f["name"] for f in features if f["kind"] == "numeric"]
    feeds: dict[str, np.ndarray] = {}
    if numeric:
        values = [[np.nan if r[n] is None else r[n] for n in numeric] for r in rows]
        feeds["numeric"] = np.asarray(values, dtype=np.float64)
    for f in features:
        if f["kind"] == "categorical":
            column = [["" if r[f["name"]] is None else r[f["name"]]] for r in rows]
            feeds[f"categorical:{f['name']}"] = np.asarray(column, dtype=object)
    assert sorted(feeds) == sorted(i.name for i in session.get_inputs())
    return feeds


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_predict(trained: dict[str, Any], case: str) -> None:
    client: httpx.Client = trained["client"]
    model_id = trained["models"][case]
    response = client.get(f"/v1/models/{model_id}/onnx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    proto = onnx.load_from_string(response.content)
    onnx.checker.check_model(proto)
    assert {o.domain: o.version for o in proto.opset_import}[""] == OPSET
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "N" and not batch_dim.HasField("dim_value")

    model = client.get(f"/v1/models/{model_id}").json()
    rows = probe_rows(CASES[case][0])
    expected = client.post(f"/v1/models/{model_id}/predict", json={"records": rows})
    assert expected.status_code == 200, expected.text
    session = ort.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    outputs = dict(
        zip(
            [o.name for o in session.get_outputs()],
            session.run(None, onnx_feeds(session, rows, model["features"])),
            strict=True,
        )
    )
    if model["task"] == "classification":
        proba = np.asarray(expected.json()["probabilities"])
        assert outputs["probabilities"].shape == proba.shape
        np.testing.assert_allclose(outputs["probabilities"], proba, atol=TOLERANCE, rtol=0)
        labels = [model["classes"][i] for i in outputs["class_index"]]
        assert labels == expected.json()["predictions"]
    else:
        values = np.asarray(expected.json()["predictions"], dtype=np.float64)
        np.testing.assert_allclose(outputs["predictions"][:, 0], values, atol=TOLERANCE, rtol=0)


def test_onnx_is_per_tenant(trained: dict[str, Any]) -> None:
    stack: Stack = trained["stack"]
    model_id = trained["models"]["relu"]
    with stack.client(stack.create_key("onnx-other")) as other:
        response = other.get(f"/v1/models/{model_id}/onnx")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert trained["client"].get("/v1/models/model_nope/onnx").status_code == 404


def test_an_activation_onnx_cannot_express_is_a_conflict() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.array(["a", "b"] * 20)
    model, _ = fit(X, y, {"layers": [{"units": 4}]}, {"epochs": 1})
    W, b, _ = model.layers[0]
    model.layers[0] = (W, b, "swish")  # not an engine activation: stands for a future one
    with pytest.raises(Conflict, match="'swish'.*cannot express"):
        export_onnx(model)


def test_a_categorical_only_model_has_no_numeric_input() -> None:
    rng = np.random.default_rng(1)
    colours = rng.choice(["red", "green", "blue", ""], size=80)
    X = {"colour": colours, "shape": rng.choice(["round", "square"], size=80)}
    y = np.where(colours == "red", "warm", "cold")
    features = [{"name": "colour", "kind": "categorical"}, {"name": "shape", "kind": "categorical"}]
    model, _ = fit(X, y, {"layers": [{"units": 4, "activation": "elu"}]}, {"epochs": 3},
                   task="classification", features=features)  # fmt: skip
    session = ort.InferenceSession(export_onnx(model), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["categorical:colour", "categorical:shape"]
    rows = [["red", "round"], ["", "square"], ["violet", "round"]]
    feeds = {
        "categorical:colour": np.array([[r[0]] for r in rows], dtype=object),
        "categorical:shape": np.array([[r[1]] for r in rows], dtype=object),
    }
    proba = session.run(["probabilities"], feeds)[0]
    np.testing.assert_allclose(proba, model.predict_proba(rows), atol=TOLERANCE, rtol=0)


def op_types(data: bytes) -> list[str]:
    return [node.op_type for node in onnx.load_from_string(data).graph.node]


@pytest.mark.parametrize("recurrent", [False, True], ids=["dense", "recurrent"])
def test_dropout_leaves_no_trace_in_the_graph(recurrent: bool) -> None:
    rng = np.random.default_rng(2)
    hidden = {"units": 5, "activation": "tanh"}
    if recurrent:
        X, lengths = rng.normal(size=(60, 4, 3)), rng.integers(1, 5, 60)
        y = np.where(X[:, 0, 0] > 0, "up", "down")
        plain = {"layers": [{"type": "gru", "units": 4}, hidden]}
        dropped = {"layers": [{"type": "gru", "units": 4, "dropout": 0.4},
                              {**hidden, "dropout": 0.5}]}  # fmt: skip
    else:
        X, lengths = rng.normal(size=(60, 3)), None
        y = np.where(X[:, 0] > 0, "up", "down")
        plain = {"layers": [hidden]}
        dropped = {"layers": [{**hidden, "dropout": 0.5}], "input_dropout": 0.3}
    spec = {"epochs": 3, "batch_size": 8}
    model, _ = fit(X, y, dropped, spec, lengths=lengths)
    reference, _ = fit(X, y, plain, spec, lengths=lengths)
    data = export_onnx(model)
    assert "Dropout" not in op_types(data)
    assert op_types(data) == op_types(export_onnx(reference))
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = {"sequences": X, "lengths": np.int64(lengths)} if recurrent else {"numeric": X}
    proba = session.run(["probabilities"], feeds)[0]
    np.testing.assert_allclose(proba, model.predict_proba(X, lengths), atol=TOLERANCE, rtol=0)
