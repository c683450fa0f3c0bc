"""Stored secrets (webhook secrets, outbound credentials) encrypted with ORDERSYNC_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretKeyMissing(Exception):
    """ORDERSYNC_SECRET_KEY must be set to store or read secrets."""


class SecretBox:
    def __init__(self, secret_key: str | None) -> None:
        self._fernet = None
        if secret_key:
            # Any passphrase becomes a Fernet key (32 bytes, url-safe base64).
            raw = hashlib.sha256(secret_key.encode()).digest()
            self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise SecretKeyMissing(SecretKeyMissing.__doc__)
        return self._fernet

    def seal(self, plaintext: str) -> str:
        return self._require().encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str:
        try:
            return self._require().decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretKeyMissing(
                "a stored secret cannot be decrypted: ORDERSYNC_SECRET_KEY has changed"
            ) from None
