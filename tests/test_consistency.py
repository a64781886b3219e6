"""One convention everywhere: timestamps, prediction CSV columns, and what the CLI promises."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.cli.test_cli import neuronal
from tests.stack import Stack, wait_for_job, wait_until

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
TIMESTAMPS = ("created_at", "started_at", "finished_at", "revoked_at", "time")
LABELS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)"]


def stamps(value: Any) -> list[str]:
    """Every timestamp field anywhere inside `value`."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TIMESTAMPS and item is not None:
                found.append(item)
            else:
                found.extend(stamps(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(stamps(item))
    return found


def status_event(client: httpx.Client, path: str) -> dict[str, Any]:
    with client.stream("GET", path) as stream:
        lines = list(stream.iter_lines())
    data = lines[lines.index("event: status") + 1]
    return dict(json.loads(data.removeprefix("data: ")))


def quoted_csv() -> bytes:
    """Rows whose labels and a text column would run as spreadsheet formulas, beside a column
    of negative numbers that must stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["x", "offset", "note", "label"])
    for i in range(90):
        note = "-2+3" if i % 2 else "@note"
        writer.writerow([i % 3 + (i % 7) / 10, f"-{i % 5}.5", note, LABELS[i % 3]])
    return out.getvalue().encode()


def trained(stack: Stack, key: str) -> tuple[str, str, str]:
    with stack.client(key) as client:
        files = {"file": ("formulas.csv", quoted_csv())}
        dataset = client.post("/v1/datasets", files=files)
        assert dataset.status_code == 201, dataset.text
        spec = {"network": {"layers": [{"units": 8}]}, "training": {"epochs": 30}}
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], **spec})
        done = wait_for_job(client, job.json()["id"])
        assert done["status"] == "succeeded", stack.logs()
        return dataset.json()["id"], done["id"], done["model_id"]


def test_every_timestamp_is_iso_8601_utc_with_z(embedded_stack: Stack, tmp_path: Path) -> None:
    key = embedded_stack.create_key("stamps")
    dataset_id, job_id, model_id = trained(embedded_stack, key)
    seen: dict[str, list[str]] = {}
    with embedded_stack.client(key) as client:
        seen["dataset"] = stamps(client.get(f"/v1/datasets/{dataset_id}").json())
        seen["datasets"] = stamps(client.get("/v1/datasets").json())
        seen["job"] = stamps(client.get(f"/v1/jobs/{job_id}").json())
        seen["jobs"] = stamps(client.get("/v1/jobs").json())
        seen["job events"] = stamps(status_event(client, f"/v1/jobs/{job_id}/events"))
        seen["model"] = stamps(client.get(f"/v1/models/{model_id}").json())
        files = {"file": ("rows.csv", quoted_csv())}
        created = client.post(f"/v1/models/{model_id}/predictions", files=files).json()
        wait_until(
            lambda: client.get(f"/v1/predictions/{created['id']}").json()["status"] == "succeeded",
            timeout=60, what="the prediction job",
        )  # fmt: skip
        seen["prediction job"] = stamps(client.get(f"/v1/predictions/{created['id']}").json())
        seen["prediction events"] = stamps(
            status_event(client, f"/v1/predictions/{created['id']}/events")
        )
    listed = embedded_stack.neuronal("keys", "list").stdout
    seen["keys"] = re.findall(r"\t(\S+)\t(?:active|revoked)", listed)
    for listing in ("datasets", "jobs", "models"):
        table = neuronal(listing, "list", "--url", embedded_stack.url, "--key", key, cwd=tmp_path)
        seen[f"neuronal {listing} list"] = re.findall(r"\b(\d{4}-\d\d-\d\d\S*)", table.stdout)
    log = (embedded_stack.tmp / "api.log").read_text().splitlines()
    seen["logs"] = [json.loads(line)["time"] for line in log[-50:]]
    for where, found in seen.items():
        assert found, where
        bad = [stamp for stamp in found if not ISO_Z.match(stamp)]
        assert not bad, (where, bad)


def test_both_prediction_csvs_keep_the_inputs_and_disarm_formulas(
    embedded_stack: Stack, tmp_path: Path
) -> None:
    key = embedded_stack.create_key("csv-columns")
    _, _, model_id = trained(embedded_stack, key)
    rows = tmp_path / "rows.csv"
    rows.write_bytes(quoted_csv())
    env = ("--url", embedded_stack.url, "--key", key)
    tables = {}
    for mode in ("online", "batch"):
        out = tmp_path / f"{mode}.csv"
        extra = ["--batch"] if mode == "batch" else []
        done = neuronal("predict", model_id, str(rows), "--output", str(out), *extra, *env,
                        cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        tables[mode] = list(csv.reader(out.open()))
    online, batch = tables["online"], tables["batch"]
    classes = sorted(LABELS)
    header = ["x", "offset", "note", "label", "prediction", *(f"probability_{c}" for c in classes)]
    expected_header = [f"'{h}" if h[0] in "=+-@" else h for h in header]
    assert online[0] == batch[0] == expected_header
    assert len(online) == len(batch) == 91
    for table in (online, batch):
        for row in table[1:]:
            assert float(row[1]) < 0 and not row[1].startswith("'"), "negative numbers stay"
            assert row[2] in ("'-2+3", "'@note")
            assert row[3] in [f"'{label}" for label in LABELS] and row[4].startswith("'")
            assert abs(sum(float(p) for p in row[5:]) - 1) < 1e-6
    assert [r[4] for r in online] == [r[4] for r in batch]


def test_the_cli_promises_what_it_has(tmp_path: Path) -> None:
    create = neuronal("jobs", "create", "--help", cwd=tmp_path).stdout
    flat = " ".join(create.replace("│", " ").split())
    assert "step, sigmoid, tanh, relu" in flat and "(default relu)" in flat
    assert "sgd, momentum, nesterov" in flat and "(default adam)" in flat
    models = neuronal("models", "--help", cwd=tmp_path).stdout
    assert "inspect" not in models
    for command in re.findall(r"│ (\w+)\s{2,}", models):
        assert neuronal("models", command, "--help", cwd=tmp_path).returncode == 0


def test_jobs_cancel_says_cancelling_until_it_took_effect(
    embedded_stack: Stack, iris_bytes: bytes, tmp_path: Path
) -> None:
    key = embedded_stack.create_key("cancel-words")
    with embedded_stack.client(key) as client:
        dataset = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes)}).json()
        spec = {"network": {"layers": [{"units": 64}]}, "training": {"epochs": 10000,
                "batch_size": 1}}  # fmt: skip
        job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **spec}).json()
        wait_until(lambda: client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running",
                   timeout=60, what="the job to run")  # fmt: skip
        done = neuronal("jobs", "cancel", job["id"], "--url", embedded_stack.url, "--key", key,
                        cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"job {job['id']}: cancelling"), done.stdout
        assert wait_for_job(client, job["id"])["status"] == "cancelled"
        again = neuronal("jobs", "cancel", job["id"], "--url", embedded_stack.url, "--key", key,
                         cwd=tmp_path)  # fmt: skip
        assert again.stdout.strip() == f"job {job['id']}: cancelled"
