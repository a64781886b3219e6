"""Recurrent layers against torch.nn.RNN/GRU/LSTM with the same weights copied in (float64).

The engine stores `W_ih` `(d, G·H)` and `W_hh` `(H, G·H)` (PyTorch's `weight_ih`/`weight_hh`
transposed, same gate order) and one bias per gate (`bias_ih + bias_hh`), except the GRU's
`b_hn`, PyTorch's `bias_hh` of the candidate gate.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from service.engine import lstm_steps  # noqa: E402
from service.engine.sequence_net import SequenceNetwork, predict_sequences  # noqa: E402

T, N, D, H = 7, 6, 4, 5


TOL = 1e-8
TORCH = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def build(kind: str, layers: int, bptt=None, activation="tanh"):
    spec = {"type": kind, "units": H} | ({"activation": activation} if kind == "rnn" else {})
    net = SequenceNetwork(
        D, T, [spec] * layers, [3], ["softmax"], "cross_entropy", np.float64, bptt
    )
    rng = np.random.default_rng(7)
    net.initialize(rng, "glorot")
    net.params += rng.normal(scale=0.2, size=net.n_params)
    extra = {"nonlinearity": activation} if kind == "rnn" else {}
    ref = TORCH[kind](D, H, num_layers=layers, batch_first=True, dtype=torch.float64, **extra)
    head = nn.Linear(H, 3, dtype=torch.float64)
    with torch.no_grad():
        for i, p in enumerate(net.p):
            getattr(ref, f"weight_ih_l{i}").copy_(torch.from_numpy(p[0].T.copy()))
            getattr(ref, f"weight_hh_l{i}").copy_(torch.from_numpy(p[1].T.copy()))
            getattr(ref, f"bias_ih_l{i}").copy_(torch.from_numpy(p[2].copy()))
            hidden_bias = np.zeros_like(p[2])
            if kind == "gru":
                hidden_bias[2 * H :] = p[3]
            getattr(ref, f"bias_hh_l{i}").copy_(torch.from_numpy(hidden_bias))
        W, b, _ = net.dense_layers(net.params)[0]
        head.weight.copy_(torch.from_numpy(W.T.copy()))
        head.bias.copy_(torch.from_numpy(b.copy()))
    return net, ref, head


def engine_grads(net, kind: str) -> list[np.ndarray]:
    """The engine's gradients arranged like PyTorch's parameters."""
    out = []
    for g in net.g:
        hidden_bias = np.zeros_like(g[2])
        ih_bias = g[2].copy()
        if kind == "gru":
            hidden_bias[: 2 * H] = g[2][: 2 * H]
            hidden_bias[2 * H :] = g[3]
        else:
            hidden_bias[...] = g[2]
        out += [g[0].T, g[1].T, ih_bias, hidden_bias]
    W, b, _ = net.dense_layers(net.grad)[0]
    return out + [W.T, b]


def data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, T, D))
    labels = rng.integers(0, 3, N)
    return X, labels


def torch_run(ref, head, X, labels, lengths):
    x = torch.from_numpy(X)
    packed = nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths), batch_first=True)
    _, state = ref(packed)
    h_n = state[0] if isinstance(state, tuple) else state
    logits = head(h_n[-1])
    loss = nn.functional.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    return torch.softmax(logits, 1).detach().numpy(), float(loss.detach())


def engine_run(net, X, labels, lengths):
    buf = net.buffers(N)
    buf.set_lengths(lengths)
    Y = np.eye(3)[labels]
    loss = net.loss_and_grad(np.ascontiguousarray(X.transpose(1, 0, 2)), Y, buf)
    return buf.a[-1].copy(), loss


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_outputs_and_gradients_equal_torch(kind, layers, masked):
    lengths = np.array([7, 7, 5, 4, 2, 1]) if masked else np.full(N, T)
    assert_equals_torch(kind, layers, data(), lengths)


def assert_equals_torch(kind: str, layers: int, X_labels, lengths) -> None:
    """Outputs, loss and every gradient of the engine and of torch, on the same weights."""
    net, ref, head = build(kind, layers)
    X, labels = X_labels
    ours, our_loss = engine_run(net, X, labels, lengths)
    theirs, their_loss = torch_run(ref, head, X, labels, lengths)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL)
    assert abs(our_loss - their_loss) < TOL
    torch_grads = [p.grad.numpy() for p in [*ref.parameters(), *head.parameters()]]
    for mine, theirs_g in zip(engine_grads(net, kind), torch_grads, strict=True):
        np.testing.assert_allclose(mine, theirs_g, rtol=0, atol=TOL)


@pytest.mark.parametrize("form", ["tanh", "exp"])
@pytest.mark.parametrize("masked", [False, True])
def test_both_lstm_activation_forms_equal_torch(monkeypatch, form, masked):
    """The CPU picks one of the LSTM's two activation forms; the other is tested here too."""
    monkeypatch.setattr(lstm_steps, "FORM", form)
    lengths = np.array([7, 6, 6, 3, 2, 1]) if masked else np.full(N, T)
    assert_equals_torch("lstm", 2, data(3), lengths)


def test_relu_rnn_equals_torch():
    net, ref, head = build("rnn", 2, activation="relu")
    X, labels = data(1)
    lengths = np.array([7, 6, 6, 3, 3, 2])
    ours, _ = engine_run(net, X, labels, lengths)
    theirs, _ = torch_run(ref, head, X, labels, lengths)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL)
    for mine, theirs_g in zip(
        engine_grads(net, "rnn"),
        [p.grad.numpy() for p in [*ref.parameters(), *head.parameters()]],
        strict=True,
    ):
        np.testing.assert_allclose(mine, theirs_g, rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_truncated_bptt_equals_torch_with_the_state_detached(kind):
    k = 3
    net, ref, head = build(kind, 2, bptt=k)
    X, labels = data(2)
    engine_run(net, X, labels, np.full(N, T))
    x = torch.from_numpy(X)
    _, state = ref(x[:, : T - k])
    state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
    _, state = ref(x[:, T - k :], state)
    h_n = state[0] if isinstance(state, tuple) else state
    nn.functional.cross_entropy(head(h_n[-1]), torch.from_numpy(labels)).backward()
    torch_grads = [p.grad.numpy() for p in [*ref.parameters(), *head.parameters()]]
    for mine, theirs_g in zip(engine_grads(net, kind), torch_grads, strict=True):
        np.testing.assert_allclose(mine, theirs_g, rtol=0, atol=TOL)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("rows", [slice(None), slice(3, 4)])  # a batch, and one sequence
def test_prediction_equals_torch(kind, rows):
    net, ref, head = build(kind, 2)
    X, _ = data(3)
    X, lengths = X[rows], np.array([7, 2, 6, 5, 7, 1])[rows]
    X[np.arange(T) >= lengths[:, None]] = 0
    ours = predict_sequences(list(zip(net.layers, net.p, strict=True)),
                             net.dense_layers(net.params),
                             np.ascontiguousarray(X.transpose(1, 0, 2)), lengths)  # fmt: skip
    packed = nn.utils.rnn.pack_padded_sequence(
        torch.from_numpy(X), torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    with torch.no_grad():
        _, state = ref(packed)
        h_n = state[0] if isinstance(state, tuple) else state
        theirs = torch.softmax(head(h_n[-1]), 1).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL)
