"""What the search tests share: a small data set, search bodies, and waiting on a search."""

from __future__ import annotations

from typing import Any

import httpx

from tests.stack import wait_until

ENDED = ("succeeded", "failed", "cancelled")
TRIAL_ENDED = (*ENDED, "pruned")


def base_body(*, epochs: int = 3, learning_rate: float = 0.1, batch_size: int = 16) -> dict:
    return {
        "network": {"layers": [{"units": 8, "activation": "tanh"}]},
        "training": {
            "epochs": epochs,
            "batch_size": batch_size,
            "optimizer": {"name": "sgd", "learning_rate": learning_rate},
            "validation_fraction": 0.2,
            "seed": 3,
        },
    }


def search_body(dataset_id: str, space: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "base": fields.pop("base", base_body()), "space": space,
            **fields}  # fmt: skip


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/v1/searches", json=body)
    assert answer.status_code == 202, answer.text
    search: dict[str, Any] = answer.json()
    return search


def get(client: httpx.Client, search_id: str) -> dict[str, Any]:
    answer = client.get(f"/v1/searches/{search_id}")
    assert answer.status_code == 200, answer.text
    search: dict[str, Any] = answer.json()
    return search


def wait_search(
    client: httpx.Client, search_id: str, until: Any = None, *, timeout: float = 180
) -> dict[str, Any]:
    """Poll the search until `until(search)` holds (default: it has ended)."""
    until = until or (lambda s: s["status"] in ENDED)

    def check() -> dict[str, Any] | None:
        search = get(client, search_id)
        return search if until(search) else None

    found: dict[str, Any] = wait_until(check, timeout=timeout, what=f"search {search_id}",
                                       interval=0.2)  # fmt: skip
    return found


def trials(client: httpx.Client, search_id: str) -> list[dict[str, Any]]:
    """The search's trials as jobs, in trial order."""
    answer = client.get("/v1/jobs", params={"search_id": search_id, "limit": 500})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["items"], key=lambda job: job["trial"])


def upload_iris(client: httpx.Client, iris_bytes: bytes) -> str:
    answer = client.post("/v1/datasets", files={"file": ("iris.csv", iris_bytes, "text/csv")})
    assert answer.status_code == 201, answer.text
    dataset_id: str = answer.json()["id"]
    return dataset_id
