"""GET /v1/jobs/{id}/curves.svg: a standalone SVG of the loss and accuracy curves."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from tests.stack import ROOT, Stack, wait_for_job

SVG = "{http://www.w3.org/2000/svg}"
IMAGE = ROOT / "docs" / "images" / "curves.svg"


def polylines(text: str) -> dict[str, list[tuple[float, float]]]:
    root = ET.fromstring(text)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return {
        line.attrib["data-series"]: [
            (float(x), float(y)) for x, y in (p.split(",") for p in line.attrib["points"].split())
        ]
        for line in root.iter(f"{SVG}polyline")
    }


def test_classifier_curves_have_loss_and_accuracy(embedded_stack: Stack, iris_bytes: bytes) -> None:
    key = embedded_stack.create_key("curves")
    with embedded_stack.client(key) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("iris.csv", iris_bytes, "text/csv")}
        ).json()
        job = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset["id"],
                "network": {"layers": [{"units": 16, "activation": "tanh"}]},
                "training": {
                    "epochs": 25,
                    "batch_size": 16,
                    "seed": 2,
                    "optimizer": {"name": "adam", "learning_rate": 0.02},
                },
            },  # fmt: skip
        ).json()
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
        response = client.get(f"/v1/jobs/{job['id']}/curves.svg")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        series = polylines(response.text)
        assert sorted(series) == ["train_accuracy", "train_loss", "val_accuracy", "val_loss"]
        assert all(len(points) == 25 for points in series.values())
        xs = [x for x, _ in series["train_loss"]]
        assert xs == sorted(xs) and len(set(xs)) == 25
        loss_y = [y for _, y in series["train_loss"]]
        assert loss_y[-1] > loss_y[0]  # the loss falls, and SVG's y axis points down
        IMAGE.parent.mkdir(parents=True, exist_ok=True)
        IMAGE.write_text(response.text.replace(job["id"], "job_example"))  # stable in git

        with embedded_stack.client(embedded_stack.create_key("curves-other")) as other:
            hidden = other.get(f"/v1/jobs/{job['id']}/curves.svg")
        assert hidden.status_code == 404
        assert hidden.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/jobs/job_nope/curves.svg").status_code == 404


def test_regression_curves_have_loss_only(embedded_stack: Stack) -> None:
    rows = "\n".join(f"{i / 10},{(i % 7) / 3},{i / 5 + 1}" for i in range(60))
    key = embedded_stack.create_key("curves-regression")
    with embedded_stack.client(key) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("r.csv", f"a,b,y\n{rows}\n".encode(), "text/csv")}
        ).json()
        job = client.post(
            "/v1/jobs",
            json={
                "dataset_id": dataset["id"],
                "task": "regression",
                "network": {"layers": [{"units": 4}]},
                "training": {"epochs": 6, "validation_fraction": 0.0},
            },
        ).json()
        assert job.get("status") == "queued", job
        assert wait_for_job(client, job["id"])["status"] == "succeeded"
        series = polylines(client.get(f"/v1/jobs/{job['id']}/curves.svg").text)
        assert list(series) == ["train_loss"]
        assert len(series["train_loss"]) == 6
