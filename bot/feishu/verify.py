"""Checking Feishu callbacks ourselves: decryption, signature, token, replay window.

lark-oapi's dispatcher answers a failed check with HTTP 500 (which makes
Feishu retry), has no replay window, and wants canonical header case; these
checks answer the way we choose (401, nothing changes) and never import the
SDK.

- Encrypted bodies are `{"encrypt": base64}`: AES-256-CBC with the key
  sha256(encrypt key), the IV the first 16 bytes, PKCS#7 padding.
- With an encrypt key, `X-Lark-Signature` = sha256_hex(timestamp + nonce +
  encrypt key + raw body), compared in constant time. Feishu sends the URL
  check (saving the request URL in the console) encrypted but without the
  signature headers; an unsigned body is accepted only if it decrypts with
  our key to a URL check with our token, which changes nothing and only
  echoes the challenge.
- The verification token (`header.token`, or `token` in the URL check) must
  match, in constant time.
- The timestamp must be within `window` seconds of now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from Crypto.Cipher import AES

REPLAY_WINDOW = 300


class Rejected(Exception):
    """A callback that did not pass a check; the reason is for logs only."""


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except ValueError:
        raise Rejected("encrypt is not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise Rejected("encrypt has a bad length")
    plain = AES.new(key, AES.MODE_CBC, raw[:16]).decrypt(raw[16:])
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise Rejected("bad padding (wrong encrypt key?)")
    return plain[:-pad]


def encrypt(encrypt_key: str, plain: bytes, iv: bytes) -> str:
    """The inverse, for tests and fixtures."""
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    pad = 16 - len(plain) % 16
    body = AES.new(key, AES.MODE_CBC, iv).encrypt(plain + bytes([pad]) * pad)
    return base64.b64encode(iv + body).decode()


def signature(*, timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


@dataclass(frozen=True)
class Verifier:
    verification_token: str
    encrypt_key: str = ""
    window: int = REPLAY_WINDOW

    def open(self, headers: Mapping[str, str], body: bytes, *, now: float) -> dict[str, Any]:
        """The verified, decrypted JSON of a callback, or Rejected."""
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            outer = json.loads(body)
        except (ValueError, RecursionError):
            raise Rejected("body is not JSON") from None
        if not isinstance(outer, dict):
            raise Rejected("body is not an object")
        if self.encrypt_key:
            payload = self._decrypted(lower, body, outer, now=now)
        elif "encrypt" in outer:
            raise Rejected("encrypted body but no encrypt key configured")
        else:
            payload = outer
        if not isinstance(payload, dict):
            raise Rejected("payload is not an object")
        header = payload.get("header")
        if header is None and "header" not in payload:
            token = payload.get("token")
        elif isinstance(header, dict):
            token = header.get("token")
        else:
            raise Rejected("header is not an object")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), self.verification_token.encode()
        ):
            raise Rejected("bad verification token")
        if isinstance(header, dict) and not self.encrypt_key:
            # No signature without an encrypt key: the event's own time is the window.
            created = str(header.get("create_time", ""))
            timed = created.isascii() and created.isdigit()  # "²" is a digit, not a number
            if timed and abs(now - int(created[:10])) > self.window:
                raise Rejected("stale event")
        return payload

    def _decrypted(
        self, lower: Mapping[str, str], body: bytes, outer: dict[str, Any], *, now: float
    ) -> Any:
        names = ("x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature")
        unsigned = not any(name in lower for name in names)
        if not unsigned:
            timestamp = lower.get(names[0], "")
            expected = signature(
                timestamp=timestamp,
                nonce=lower.get(names[1], ""),
                encrypt_key=self.encrypt_key,
                body=body,
            )
            if not hmac.compare_digest(lower.get(names[2], "").encode(), expected.encode()):
                raise Rejected("bad signature")
            try:
                sent = int(timestamp)
            except ValueError:
                raise Rejected("no timestamp") from None
            if abs(now - sent) > self.window:
                raise Rejected("stale timestamp")
        if not isinstance(outer.get("encrypt"), str):
            raise Rejected("encrypt key set but body not encrypted")
        try:
            payload = json.loads(decrypt(self.encrypt_key, outer["encrypt"]))
        except (ValueError, RecursionError):
            raise Rejected("decrypted body is not JSON") from None
        if unsigned and not (
            isinstance(payload, dict)
            and payload.get("type") == "url_verification"
            and "header" not in payload
        ):
            # Feishu sends only the URL check unsigned; it carries no event.
            raise Rejected("bad signature")
        return payload

        return payload
