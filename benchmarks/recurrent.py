"""Speed of the engine's LSTM and GRU against torch.nn.LSTM/GRU (CPU, 2 threads, float32).

Run: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE .venv/bin/python benchmarks/recurrent.py`
(`--quick` for fewer repeats, `--threads N` for another torch thread count). The engine runs
as the service runs it: training with the worker's BLAS thread count
(`NEURONAL_WORKER_BLAS_THREADS`, default 1) and prediction with the API's
(`NEURONAL_API_BLAS_THREADS`, default 1); `--engine-threads N` overrides both. The
same sequence classifier on both sides: T = 50 steps of d = 8 features, one recurrent layer of
64 units, a dense softmax output over 4 classes, cross-entropy, Adam (learning rate 0.001), a
fresh shuffle every epoch, no validation split.
Contenders alternate within each repeat (and swap who goes first), so background load hits
them alike. Prints the median seconds per epoch at batch 32 and 128, the single-sequence
predict latency, their ratios, and a MET/MISSED line per target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.core.config import get_settings  # noqa: E402
from service.engine import fit  # noqa: E402

THREADS = 2
T, D, UNITS, CLASSES = 50, 8, 64, 4
TARGETS = {128: 0.9, 32: 1.0}  # epoch time at most this share of PyTorch's
LATENCY_TARGET_MS = 0.5


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences whose class is which of four features has the largest sum over time."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, D)).astype(np.float32)
    y = np.argmax(X[:, :, :CLASSES].sum(axis=1), axis=1)
    return X, y


def engine_epochs(kind: str, X, y, batch: int, epochs: int) -> tuple[list[float], object]:
    network = {"layers": [{"type": kind, "units": UNITS}], "output_activation": "softmax"}
    training = {
        "epochs": epochs, "batch_size": batch, "validation_fraction": 0.0, "scaling": "none",
        "optimizer": {"name": "adam", "learning_rate": 0.001},
    }  # fmt: skip
    model, history = fit(X, y, network, training, task="classification")
    return [row["seconds"] for row in history], model


def torch_epochs(torch, kind: str, X, y, batch: int, epochs: int) -> tuple[list[float], object]:
    nn = torch.nn
    torch.manual_seed(0)
    rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(D, UNITS, batch_first=True)
    head = nn.Linear(UNITS, CLASSES)
    params = [*rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=0.001)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(Xt), generator=gen)
        for at in range(0, len(Xt), batch):
            idx = perm[at : at + batch]
            _, state = rnn(Xt[idx])
            h = state[0] if kind == "lstm" else state
            loss = nn.functional.cross_entropy(head(h[-1]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - start)
    return seconds, (rnn, head)


def latency_ms(predict, x, calls: int = 400) -> float:
    for _ in range(20):
        predict(x)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        predict(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and sequences")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads")
    parser.add_argument("--engine-threads", type=int, help="engine BLAS threads (train, predict)")
    args = parser.parse_args()
    import threadpoolctl
    import torch

    settings = get_settings()
    train_threads = args.engine_threads or settings.worker_blas_threads
    predict_threads = args.engine_threads or settings.api_blas_threads
    torch.set_num_threads(args.threads)
    blas_threads = threadpoolctl.threadpool_limits
    repeats, epochs = (2, 2) if args.quick else (4, 3)
    n = 1024 if args.quick else 2048
    X, y = data(n)
    print(f"numpy {np.__version__}, torch {torch.__version__} ({args.threads} threads), float32")
    print(f"engine BLAS threads: {train_threads} training, {predict_threads} predicting")
    print(f"classifier: T={T}, d={D}, one recurrent layer of {UNITS}, softmax over {CLASSES}")
    print(f"{n} sequences, {epochs} epochs per repeat, {repeats} repeats (alternating)\n")
    verdicts = []
    for kind in ("lstm", "gru"):
        models = {}
        for batch in (128, 32):
            times: dict[str, list[float]] = {"engine": [], "torch": []}
            for rep in range(repeats):
                order = ("engine", "torch") if rep % 2 == 0 else ("torch", "engine")
                for who in order:
                    if who == "engine":
                        with blas_threads(train_threads):
                            secs, models["engine"] = engine_epochs(kind, X, y, batch, epochs)
                    else:
                        with blas_threads(args.threads):
                            secs, models["torch"] = torch_epochs(torch, kind, X, y, batch, epochs)
                    times[who].extend(secs[1:] if len(secs) > 1 else secs)
            ours, theirs = (statistics.median(times[k]) for k in ("engine", "torch"))
            ratio = ours / theirs
            print(f"{kind} batch {batch:4d}: engine {ours:.4f} s/epoch "
                  f"(min {min(times['engine']):.4f}), torch {theirs:.4f} s/epoch "
                  f"(min {min(times['torch']):.4f}), ratio {ratio:.2f}  [{load()}]")  # fmt: skip
            limit = TARGETS[batch]
            verdicts.append((f"{kind} epoch time at batch {batch} <= {limit}x PyTorch's",
                             ratio <= limit, f"{ratio:.2f}x"))  # fmt: skip
        one = X[:1]
        model = models["engine"]
        with blas_threads(predict_threads):
            ours_ms = latency_ms(model.predict_proba, one)
        rnn, head = models["torch"]

        def torch_predict(x, rnn=rnn, head=head, lstm=kind == "lstm"):
            with torch.no_grad():
                _, state = rnn(torch.from_numpy(x))
                h = state[0] if lstm else state
                return torch.softmax(head(h[-1]), 1).numpy()

        theirs_ms = latency_ms(torch_predict, one)
        print(
            f"{kind} single-sequence predict: engine {ours_ms:.3f} ms, torch {theirs_ms:.3f} ms"
            f"  [{load()}]\n"
        )
        verdicts.append((f"{kind} single-sequence predict <= {LATENCY_TARGET_MS} ms",
                         ours_ms <= LATENCY_TARGET_MS, f"{ours_ms:.3f} ms"))  # fmt: skip
    print(f"== targets  [{load()}]")
    for text, met, figure in verdicts:
        print(f"{'MET' if met else 'MISSED'}: {text} ({figure})")


def load() -> str:
    """The load average, beside every figure: two shared cores make figures move with it."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


if __name__ == "__main__":
    main()
