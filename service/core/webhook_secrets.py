"""Webhook signing secrets: made, kept encrypted, and used to sign a delivery.

A signing secret must be usable by the delivery workers, so it cannot be hashed like an API
key; it is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under a server
key that is not in the database. A copy of the database alone can neither read a secret nor
sign a delivery. The key is `NEURONAL_WEBHOOK_KEY` (a Fernet key; every API and delivery
worker process must share it); without one, the embedded default generates a key file in the
data directory (`webhook.key`, mode 0600) on first use, which every process of one host reads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from service.core.config import Settings

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
KEY_FILE = "webhook.key"


class SecretKeyError(RuntimeError):
    """The server key cannot decrypt a stored secret (it was changed or is not shared)."""


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,` + base64 HMAC-SHA256 of id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class SecretBox:
    """Encrypts and decrypts signing secrets with the server key of the settings."""

    def __init__(self, settings: Settings) -> None:
        self._fernet = Fernet(server_key(settings))

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a webhook secret cannot be decrypted with this server's key: every API and "
                "worker process must run with the same NEURONAL_WEBHOOK_KEY"
            ) from None


def server_key(settings: Settings) -> bytes:
    """The configured key, or the data directory's key file (made on first use)."""
    if settings.webhook_key:
        return settings.webhook_key.encode()
    path = settings.data_dir.resolve() / KEY_FILE
    if not path.exists():
        _write_new_key(path)
    return path.read_bytes().strip()


def _write_new_key(path: Path) -> None:
    """Write a whole key file, then link it into place: of two processes starting at once,
    one key wins and neither ever reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(Fernet.generate_key())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
