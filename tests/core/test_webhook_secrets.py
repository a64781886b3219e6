"""Signing secrets: our signature is the one an independent Standard Webhooks implementation
verifies, and secrets are kept only encrypted under a server key that is not in the database."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from standardwebhooks.webhooks import Webhook

from service.core.config import InvalidSettings, Settings, load_settings
from service.core.webhook_secrets import SecretBox, SecretKeyError, new_secret, sign


def test_a_signature_verifies_with_the_standardwebhooks_package() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    body = b'{"type":"job.succeeded","timestamp":"2026-12-01T00:00:00Z","data":{}}'
    import time

    stamp = int(time.time())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(stamp),
               "webhook-signature": sign(secret, "msg_1", stamp, body)}  # fmt: skip
    assert Webhook(secret).verify(body, headers)["type"] == "job.succeeded"
    assert headers["webhook-signature"] != sign(new_secret(), "msg_1", stamp, body)


def test_the_key_file_is_made_once_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    sealed = SecretBox(settings).seal("whsec_abc")
    key_file = tmp_path / "webhook.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"whsec_abc" not in sealed
    assert SecretBox(Settings(data_dir=tmp_path)).open(sealed) == "whsec_abc"
    with pytest.raises(SecretKeyError, match="NEURONAL_WEBHOOK_KEY"):
        SecretBox(Settings(data_dir=tmp_path / "elsewhere")).open(sealed)


def test_a_configured_key_is_used_and_a_malformed_one_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Fernet.generate_key().decode()
    sealed = SecretBox(Settings(data_dir=tmp_path, webhook_key=key)).seal("whsec_x")
    assert not (tmp_path / "webhook.key").exists()
    assert Fernet(key).decrypt(sealed) == b"whsec_x"
    monkeypatch.setenv("NEURONAL_WEBHOOK_KEY", "not-a-key")
    with pytest.raises(InvalidSettings, match="NEURONAL_WEBHOOK_KEY must be 32 bytes"):
        load_settings()
    monkeypatch.delenv("NEURONAL_WEBHOOK_KEY")
    monkeypatch.setenv("NEURONAL_WEBHOOK_RETRY_SCHEDULE", "[0, -1]")
    with pytest.raises(InvalidSettings, match="must not be negative"):
        load_settings()
    assert os.environ.get("NEURONAL_WEBHOOK_KEY") is None
