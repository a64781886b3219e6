"""API keys: every /v1 route refuses a missing, malformed, wrong or revoked key with a 401
challenge, and the database never holds a secret, only its SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.inputs.helpers import assert_problem, query, raw_get
from tests.stack import Stack, wait_until

ROUTES = [
    ("GET", "/v1/datasets"),
    ("POST", "/v1/datasets"),
    ("GET", "/v1/datasets/ds_x"),
    ("DELETE", "/v1/datasets/ds_x"),
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/job_x"),
    ("GET", "/v1/jobs/job_x/metrics"),
    ("GET", "/v1/jobs/job_x/events"),
    ("POST", "/v1/jobs/job_x/cancel"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/mdl_x"),
    ("DELETE", "/v1/models/mdl_x"),
    ("GET", "/v1/models/mdl_x/weights"),
    ("POST", "/v1/models/mdl_x/predict"),
]


@pytest.fixture(scope="module")
def key(embedded_stack: Stack) -> str:
    return embedded_stack.create_key("keyholder")


def _wrong_headers(key: str) -> dict[str, dict[str, Any]]:
    prefix, kind, key_id, secret = key.split("_", 3)
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    return {
        "no header": {},
        "empty": {"Authorization": ""},
        "scheme only": {"Authorization": "Bearer"},
        "blank token": {"Authorization": b"Bearer    "},
        "basic auth": {"Authorization": f"Basic {key}"},
        "key without scheme": {"Authorization": key},
        "not our format": {"Authorization": "Bearer sk-1234567890"},
        "missing secret": {"Authorization": f"Bearer {prefix}_{kind}_{key_id}"},
        "unknown key id": {"Authorization": f"Bearer {prefix}_{kind}_ffffffff_{secret}"},
        "wrong secret": {"Authorization": f"Bearer {prefix}_{kind}_{key_id}_{other_secret}"},
        "the hash as the key": {
            "Authorization": f"Bearer {prefix}_{kind}_{key_id}_"
            + hashlib.sha256(secret.encode()).hexdigest()
        },
        "non-ascii": {"Authorization": "Bearer nrl_key_é_ü".encode()},
    }


WRONG = [
    "no header",
    "empty",
    "scheme only",
    "blank token",
    "basic auth",
    "key without scheme",
    "not our format",
    "missing secret",
    "unknown key id",
    "wrong secret",
    "the hash as the key",
    "non-ascii",
]


@pytest.mark.parametrize("wrong", WRONG)
def test_wrong_keys_get_401_with_a_challenge(embedded_stack: Stack, key: str, wrong: str) -> None:
    headers = {name: str(v).encode() if isinstance(v, str) else v for name, v in
               _wrong_headers(key)[wrong].items()}  # fmt: skip
    response = raw_get(embedded_stack, "/v1/models", headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "key" in response.json()["detail"].lower()


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_v1_route_needs_a_key(embedded_stack: Stack, method: str, path: str) -> None:
    with embedded_stack.client(None) as client:
        response = client.request(method, path, json={} if method == "POST" else None)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_scheme_is_case_insensitive(embedded_stack: Stack, key: str) -> None:
    for header in (f"bearer {key}", f"BEARER  {key} "):
        response = raw_get(embedded_stack, "/v1/models", {"Authorization": header.encode()})
        assert response.status_code == 200, (header, response.text)


def test_a_revoked_key_is_refused_and_others_keep_working(embedded_stack: Stack) -> None:
    doomed, spare = embedded_stack.create_key("revoker"), embedded_stack.create_key("revoker")
    with embedded_stack.client(doomed) as client:
        assert client.get("/v1/jobs").status_code == 200
        embedded_stack.neuronal("keys", "revoke", "key_" + doomed.split("_")[2])
        wait_until(
            lambda: client.get("/v1/jobs").status_code == 401,
            timeout=10,
            what="the revoked key to be refused",
        )
        problem = assert_problem(client.get("/v1/jobs"), 401)
        assert "revoked" in problem["detail"]
    with embedded_stack.client(spare) as client:
        assert client.get("/v1/jobs").status_code == 200


def test_keys_are_stored_hashed(embedded_stack: Stack, key: str) -> None:
    """No table holds the secret or the whole key; api_keys holds SHA-256(secret)."""
    key_id, secret = "key_" + key.split("_")[2], key.split("_", 3)[3]
    rows = query(embedded_stack, "SELECT * FROM api_keys WHERE id = ?", key_id)
    assert len(rows) == 1
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    tables = [
        t for (t,) in query(embedded_stack, "SELECT name FROM sqlite_master WHERE type='table'")
    ]
    assert "api_keys" in tables
    for table in tables:
        for row in query(embedded_stack, f'SELECT * FROM "{table}"'):
            for value in row:
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                assert secret not in text and key not in text, f"{table} holds the secret"


def test_the_secret_is_not_logged(embedded_stack: Stack, key: str) -> None:
    with embedded_stack.client(key) as client:
        client.get("/v1/datasets")
        client.get("/v1/datasets", headers={"Authorization": f"Bearer {key}x"})
    secret = key.split("_", 3)[3]
    logs = [path.read_text(errors="replace") for path in embedded_stack.tmp.glob("*.log")]
    assert logs and all(secret not in log for log in logs)
