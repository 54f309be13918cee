"""Credential digests (PROTOCOL.md §6 "Credential digests").

Each digest is recomputed here from the protocol text with ``hmac`` and
``hashlib``, not through the module under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.replica import Credential, card_digest, card_id, code_digest, parse_record, pin_digest

K = bytes.fromhex("8f3a" * 16)


def spec_digest(key: bytes, message: str) -> str:
    """base64url(HMAC-SHA256(K, message)), unpadded."""
    mac = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def test_protocol_example_card_id() -> None:
    assert card_id(bytes.fromhex("0ABCDE40"), 26) == "0ABCDE40/26"


@pytest.mark.parametrize(
    ("data", "bits", "expected"),
    [
        (b"\x0a\xbc\xde\x40", 26, "0ABCDE40/26"),
        (b"\xab", 1, "AB/1"),
        (b"\xab", 8, "AB/8"),
        (b"\x00\x00\x00\x00\x01", 37, "0000000001/37"),
        (bytes(range(7)), 56, "00010203040506/56"),
    ],
)
def test_card_id_is_upper_hex_and_bit_count(data: bytes, bits: int, expected: str) -> None:
    assert card_id(data, bits) == expected


@pytest.mark.parametrize(
    ("data", "bits"),
    [(b"", 0), (b"", 8), (b"\x01", 0), (b"\x01", 9), (b"\x01\x02", 8), (b"\x01", -1)],
)
def test_card_id_refuses_bits_that_do_not_fit(data: bytes, bits: int) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        card_id(data, bits)


def test_card_digest_matches_the_protocol() -> None:
    got = card_digest(K, "0ABCDE40/26")
    assert got == spec_digest(K, "card:0ABCDE40/26")
    assert len(got) == 43 and "=" not in got


def test_pin_digest_matches_the_protocol() -> None:
    assert pin_digest(K, "anna", "4711") == spec_digest(K, "pin:anna:4711")


def test_code_digest_matches_the_protocol() -> None:
    assert code_digest(K, "fac1", "123456") == spec_digest(K, "code:fac1:123456")


def test_known_answers() -> None:
    # Pinned once from the spec formula, so that a change of encoding (padding,
    # alphabet, message text) shows up even if both sides changed together.
    assert card_digest(bytes(32), "0ABCDE40/26") == "7HMMZuRhP_1-ykgydg3wZnacyva99hb4eXr5V38hYFg"
    assert pin_digest(bytes(range(32)), "anna", "4711") == (
        "WaOE7-PwoZ41OmeBiQupRIq9mKPWTYloHI4L-RrZnBE"
    )


@given(
    data=st.binary(min_size=1, max_size=10),
    holder=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}", fullmatch=True),
    number=st.from_regex(r"[0-9]{4,12}", fullmatch=True),
)
def test_digests_are_the_spec_formula(data: bytes, holder: str, number: str) -> None:
    bits = len(data) * 8
    cid = card_id(data, bits)
    assert card_digest(K, cid) == spec_digest(K, f"card:{data.hex().upper()}/{bits}")
    assert pin_digest(K, holder, number) == spec_digest(K, f"pin:{holder}:{number}")
    assert code_digest(K, holder, number) == spec_digest(K, f"code:{holder}:{number}")


@given(number=st.from_regex(r"[0-9]{4,12}", fullmatch=True))
def test_a_typed_number_never_matches_a_card(number: str) -> None:
    """The same digits as a PIN, a visitor code, and as a card read."""
    as_hex = number if len(number) % 2 == 0 else "0" + number
    raw = bytes.fromhex(as_hex)
    cards = {
        card_digest(K, card_id(raw, len(raw) * 8)),
        card_digest(K, card_id(raw, len(raw) * 8 - 2)),
        card_digest(K, number),  # even the bare digits as a card id
    }
    typed = {pin_digest(K, "anna", number), code_digest(K, "anna", number)}
    assert len(cards) == 3 and len(typed) == 2
    assert not cards & typed


def test_a_pin_is_bound_to_its_holder_and_a_code_to_its_facility() -> None:
    assert pin_digest(K, "anna", "4711") != pin_digest(K, "bertil", "4711")
    assert code_digest(K, "fac1", "123456") != code_digest(K, "fac2", "123456")
    assert pin_digest(K, "anna", "4711") != pin_digest(bytes(32), "anna", "4711")


BAD_KEYS: list[Any] = [bytes(31), bytes(33), b"", bytearray(32), "k" * 32, None]


@pytest.mark.parametrize("key", BAD_KEYS, ids=["31", "33", "empty", "bytearray", "str", "none"])
def test_the_key_must_be_32_bytes(key: Any) -> None:
    for call in (
        lambda: card_digest(key, "0ABCDE40/26"),
        lambda: pin_digest(key, "anna", "4711"),
        lambda: code_digest(key, "fac1", "123456"),
    ):
        with pytest.raises(ValueError, match="exactly 32 bytes"):
            call()


@pytest.mark.parametrize(
    "pin",
    ["", "123", "1234567890123", "12a4", "12 34", " 1234", "1234\n", "１２３４", "٤٧١١", "-123"],
)
def test_pin_format_is_4_to_12_ascii_digits(pin: str) -> None:
    with pytest.raises(ValueError, match="4 to 12 digits"):
        pin_digest(K, "anna", pin)
    with pytest.raises(ValueError, match="4 to 12 digits"):
        code_digest(K, "fac1", pin)


@pytest.mark.parametrize("pin", ["0000", "4711", "123456789012"])
def test_pins_of_4_to_12_digits_are_accepted(pin: str) -> None:
    assert pin_digest(K, "anna", pin) == spec_digest(K, f"pin:anna:{pin}")
    assert code_digest(K, "fac1", pin) == spec_digest(K, f"code:fac1:{pin}")


def test_a_digest_is_a_valid_credential_digest() -> None:
    for digest in (
        card_digest(K, "0ABCDE40/26"),
        pin_digest(K, "anna", "4711"),
        code_digest(K, "fac1", "4711"),
    ):
        wire = {"id": "c", "holder": "anna", "kind": "pin", "digest": digest}
        cred = parse_record("credential", wire)
        assert isinstance(cred, Credential) and cred.digest == digest
