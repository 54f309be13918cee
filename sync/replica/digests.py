"""Credential digests, exactly as PROTOCOL.md "Credential digests" specifies.

A node never stores a raw card number, PIN or visitor code: only
``base64url(HMAC-SHA256(K, message))`` without padding, where K is the
municipality's 32-byte credential key and the message is one of
``card:<HEX>/<bits>``, ``pin:<holder_id>:<pin>``, ``code:<facility_id>:<code>``.
The prefixes keep the three spaces apart: a typed number never matches a card.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

KEY_BYTES = 32


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"the credential key must be exactly {KEY_BYTES} bytes")
    return key


def _digest(key: bytes, message: str) -> str:
    mac = hmac.new(_check_key(key), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def card_id(data: bytes, bits: int) -> str:
    """The card id of a read: uppercase hex of the delivered bytes, ``/``, bit count.

    A 26-bit Wiegand read of bytes ``0A BC DE 40`` is ``0ABCDE40/26``. Raises
    ``ValueError`` when the bit count cannot fit the bytes.
    """
    if not data or bits <= 0 or bits > len(data) * 8 or bits <= (len(data) - 1) * 8:
        raise ValueError(f"{bits} bits do not fit {len(data)} bytes of card data")
    return f"{data.hex().upper()}/{bits}"


def card_digest(key: bytes, card: str) -> str:
    """Digest of a card id as produced by :func:`card_id`."""
    return _digest(key, "card:" + card)


def pin_digest(key: bytes, holder_id: str, pin: str) -> str:
    """Digest of a holder's PIN; raises ``ValueError`` unless the PIN is 4-12 digits."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("a PIN is 4 to 12 digits")
    return _digest(key, f"pin:{holder_id}:{pin}")


def code_digest(key: bytes, facility_id: str, code: str) -> str:
    """Digest of a visitor code for a booking at ``facility_id``."""
    if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 12):
        raise ValueError("a visitor code is 4 to 12 digits")
    return _digest(key, f"code:{facility_id}:{code}")
