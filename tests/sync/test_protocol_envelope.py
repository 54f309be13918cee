"""The JWS envelope (PROTOCOL.md §4; RFC 7515 compact, RFC 8037 EdDSA).

envelope.py guarantees: ``sign`` writes one canonical token per (payload, kid,
key); ``verify`` accepts only three canonical unpadded base64url segments, a
header with ``alg`` EdDSA, ``typ`` hallvakt+json, a printable ``kid`` and no
``crit``, a known ``kid``, a verifying signature and then a strict UTF-8 JSON
object payload; everything else raises the matching ``EnvelopeError``, and
nothing else is ever raised.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol.envelope import (
    MAX_DEPTH,
    MAX_TOKEN_BYTES,
    BadSignature,
    EnvelopeError,
    Malformed,
    TooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    Verified,
    b64url_decode,
    b64url_encode,
    canonical_json,
    sign,
    verify,
)
from sync.protocol.testing import private_key, ring

KID = "central-1"
KEY = private_key(KID)
KEYS = ring(KID, "central-2")
PAYLOAD: dict[str, Any] = {"v": 1, "kind": "cursor", "node": "n1", "iat": 1, "want": "changes"}

# RFC 8037 Appendix A.1 test key; A.4 signs "Example of Ed25519 signing".
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_INPUT = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIG = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)
RFC_KEY = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))

# The golden token of docs/protocol.md: a node's cursor signed with the RFC 8037 key.
GOLDEN_KID = "malmo.kroksbackshallen.n1/1"
GOLDEN_CLAIMS = {
    "applied_rev": 7,
    "iat": 1780000000,
    "kind": "cursor",
    "node": "malmo.kroksbackshallen.n1",
    "v": 1,
    "want": "changes",
}
GOLDEN_TOKEN = (
    b"eyJhbGciOiJFZERTQSIsImtpZCI6Im1hbG1vLmtyb2tzYmFja3NoYWxsZW4ubjEvMSIsInR5cCI6ImhhbGx2YWt0"
    b"K2pzb24ifQ.eyJhcHBsaWVkX3JldiI6NywiaWF0IjoxNzgwMDAwMDAwLCJraW5kIjoiY3Vyc29yIiwibm9kZSI6Im1"
    b"hbG1vLmtyb2tzYmFja3NoYWxsZW4ubjEiLCJ2IjoxLCJ3YW50IjoiY2hhbmdlcyJ9."
    b"5EOP_yAOxUkEShtKLQzBOVgOdeUevVwMcxhqBXRQtuNvUjj4crgnoACiCS04VrR1_yEifZzrGuoc2jPK8CYnCw"
)


def forge(header: dict[str, Any] | bytes, payload: bytes, key: Ed25519PrivateKey = KEY) -> bytes:
    """A token with any header and payload bytes, properly signed with ``key``."""
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    signing_input = f"{b64url_encode(head)}.{b64url_encode(payload)}"
    sig = key.sign(signing_input.encode())
    return f"{signing_input}.{b64url_encode(sig)}".encode()


def std_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "EdDSA", "kid": KID, "typ": "hallvakt+json"}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


# --- known answers -----------------------------------------------------------


def test_rfc8037_known_answer() -> None:
    raw = RFC_KEY.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert b64url_encode(raw) == RFC8037_X
    assert b64url_encode(RFC_KEY.sign(RFC8037_INPUT.encode())) == RFC8037_SIG


def test_golden_token_both_ways() -> None:
    token = sign(GOLDEN_CLAIMS, GOLDEN_KID, RFC_KEY)
    assert token == GOLDEN_TOKEN
    pub = Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D)).public_key()
    assert verify(GOLDEN_TOKEN, {GOLDEN_KID: pub}) == Verified(GOLDEN_KID, GOLDEN_CLAIMS)


def test_docs_show_the_golden_token() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")
    section = doc[doc.index("## Envelope and messages (sync/protocol)") :]
    assert GOLDEN_TOKEN.decode() in section.splitlines()
    assert canonical_json(GOLDEN_CLAIMS).decode() in section
    assert RFC8037_D in section and RFC8037_X in section and GOLDEN_KID in section


def test_sign_writes_the_exact_header_and_canonical_payload() -> None:
    head, body, sig = sign({"z": 1, "a": "å", "m": [1, 2]}, KID, KEY).split(b".")
    assert (
        b64url_decode(head.decode()) == b'{"alg":"EdDSA","kid":"central-1","typ":"hallvakt+json"}'
    )
    assert b64url_decode(body.decode()) == '{"a":"å","m":[1,2],"z":1}'.encode()
    assert len(b64url_decode(sig.decode())) == 64


def test_signing_is_deterministic() -> None:
    assert sign(PAYLOAD, KID, KEY) == sign(dict(reversed(PAYLOAD.items())), KID, KEY)


# --- round trip and tampering --------------------------------------------------


def test_round_trip() -> None:
    assert verify(sign(PAYLOAD, KID, KEY), KEYS) == Verified(KID, PAYLOAD)
    assert verify(sign(PAYLOAD, KID, KEY).decode(), KEYS).claims == PAYLOAD  # text too


def test_any_serialization_of_the_payload_verifies() -> None:
    """Other implementations need not write canonical JSON: the bytes are signed."""
    body = b'{ "want" : "changes",\n "v": 1.5e0, "x": "\\u00e5" }'
    assert verify(forge(std_header(), body), KEYS).claims == {"want": "changes", "v": 1.5, "x": "å"}


def test_tampering_any_character_fails() -> None:
    token = sign(PAYLOAD, KID, KEY)
    for i in range(len(token)):
        if token[i] == ord("."):
            continue
        for sub in (b"A", b"_"):
            if token[i : i + 1] == sub:
                continue
            bad = token[:i] + sub + token[i + 1 :]
            with pytest.raises(EnvelopeError):
                verify(bad, KEYS)


def test_tampered_payload_is_a_bad_signature() -> None:
    head, _, sig = sign(PAYLOAD, KID, KEY).split(b".")
    other = b64url_encode(canonical_json({**PAYLOAD, "want": "snapshot"})).encode()
    with pytest.raises(BadSignature):
        verify(b".".join([head, other, sig]), KEYS)


def test_key_of_another_kid_fails() -> None:
    with pytest.raises(BadSignature):
        verify(sign(PAYLOAD, "central-2", KEY), KEYS)  # central-1's key under central-2
    with pytest.raises(UnknownKey) as exc:
        verify(sign(PAYLOAD, "central-9", KEY), KEYS)
    assert exc.value.kid == "central-9"


def test_signature_of_the_wrong_length_fails() -> None:
    head, body, _ = sign(PAYLOAD, KID, KEY).split(b".")
    for n in (1, 63, 65, 128):
        with pytest.raises(BadSignature):
            verify(b".".join([head, body, b64url_encode(bytes(n)).encode()]), KEYS)


# --- header ----------------------------------------------------------------------


def _hs256_with_public_key() -> bytes:
    """The classic alg confusion: HMAC keyed with the verifier's public key."""
    pub = KEYS[KID].public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    head = b64url_encode(json.dumps(std_header(alg="HS256")).encode())
    body = b64url_encode(canonical_json(PAYLOAD))
    mac = hmac.new(pub, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url_encode(mac)}".encode()


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "EdDSA ", " EdDSA", "eddsa", "ES256",
                                 "Ed25519", "", 1, None, ["EdDSA"]])  # fmt: skip
def test_only_eddsa(alg: object) -> None:
    header = {"alg": alg, "kid": KID, "typ": "hallvakt+json"}
    with pytest.raises(UnsupportedAlgorithm):
        verify(forge(header, canonical_json(PAYLOAD)), KEYS)


def test_alg_none_with_empty_signature_and_alg_confusion_fail() -> None:
    """An unsigned token is a forgery attempt: ``BadSignature`` (a security
    event, PROTOCOL.md §4), not ``Malformed`` (quarantined)."""
    head = b64url_encode(json.dumps(std_header(alg="none")).encode())
    body = b64url_encode(canonical_json(PAYLOAD))
    with pytest.raises(UnsupportedAlgorithm):
        verify(f"{head}.{body}.".encode(), KEYS)
    eddsa = b64url_encode(json.dumps(std_header()).encode())
    with pytest.raises(BadSignature, match="the signature is empty"):
        verify(f"{eddsa}.{body}.".encode(), KEYS)
    with pytest.raises(Malformed):  # no payload either: not a message at all
        verify(f"{head}..".encode(), KEYS)
    with pytest.raises(UnsupportedAlgorithm):
        verify(_hs256_with_public_key(), KEYS)
    assert issubclass(UnsupportedAlgorithm, BadSignature)


@pytest.mark.parametrize(
    "header",
    [
        std_header(typ=None),
        std_header(typ="JWT"),
        std_header(typ="HALLVAKT+JSON"),
        std_header(typ="application/hallvakt+json"),
        std_header(kid=None),
        std_header(kid=""),
        std_header(kid=7),
        std_header(kid="has space"),
        std_header(kid="x" * 129),
        std_header(crit=["exp"]),
        std_header(crit=[]),
        std_header(crit=["b64"], b64=False),
    ],
)
def test_header_rules(header: dict[str, Any]) -> None:
    with pytest.raises(Malformed):
        verify(forge(header, canonical_json(PAYLOAD)), KEYS)


def test_unknown_header_parameters_are_ignored_and_embedded_keys_never_used() -> None:
    attacker = Ed25519PrivateKey.generate()
    jwk_x = b64url_encode(
        attacker.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )
    header = std_header(jwk={"kty": "OKP", "crv": "Ed25519", "x": jwk_x}, extra=1)
    assert verify(forge(header, canonical_json(PAYLOAD)), KEYS).claims == PAYLOAD
    with pytest.raises(BadSignature):
        verify(forge(header, canonical_json(PAYLOAD), attacker), KEYS)


@pytest.mark.parametrize(
    "head",
    [
        b'{"alg":"EdDSA","alg":"EdDSA","kid":"central-1","typ":"hallvakt+json"}',
        b'["EdDSA"]',
        b"not json",
        b"\xff\xfe",
        b"",
    ],
)
def test_header_must_be_a_strict_object(head: bytes) -> None:
    with pytest.raises(Malformed):
        verify(forge(head, canonical_json(PAYLOAD)), KEYS)


# --- base64url ---------------------------------------------------------------------


def test_b64url_is_strict() -> None:
    assert b64url_decode("") == b""
    assert b64url_decode("_-8") == base64.urlsafe_b64decode("_-8=")
    for bad in ["QQ==", "QQ=", "Q", "QR", "+/8", "QQ\n", " QQ", "Q Q", "QUI=", "QUJ", "€"]:
        with pytest.raises(Malformed):
            b64url_decode(bad)


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def canonical_b64url(text: str) -> bytes | None:
    """The definition ``b64url_decode`` implements, spelled the slow way: the
    alphabet alone, no padding, and the bytes' own encoding equal to the text."""
    if any(c not in B64URL for c in text) or len(text) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text else None


@given(
    st.one_of(
        st.text(alphabet=B64URL, max_size=12),  # every unused-bit pattern of a last letter
        st.text(alphabet=B64URL + "=+/ \n.€\x00", max_size=12),
        st.text(max_size=12),
        st.binary(max_size=9).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    )
)
def test_b64url_decode_is_the_one_spelling_definition(text: str) -> None:
    expected = canonical_b64url(text)
    if expected is None:
        with pytest.raises(Malformed):
            b64url_decode(text)
    else:
        assert b64url_decode(text) == expected


def test_b64url_last_letter_every_unused_bit_pattern() -> None:
    """Every last group of two letters, and every third letter after two: the
    unused bits are in the last letter, so this covers each mask's every bit."""
    texts = [a + b for a in B64URL for b in B64URL] + ["QU" + c for c in B64URL]
    for text in texts:
        expected = canonical_b64url(text)
        if expected is None:
            with pytest.raises(Malformed):
                b64url_decode(text)
        else:
            assert b64url_decode(text) == expected, text
    # 4 unused bits, then 2, left zero:
    assert sum(canonical_b64url(t) is not None for t in texts) == 64 * 4 + 16


def test_padding_whitespace_and_other_alphabets_are_rejected() -> None:
    token = sign(PAYLOAD, KID, KEY)
    head, body, sig = token.split(b".")
    variants = [
        token + b"\n",
        b" " + token,
        token.replace(b".", b". ", 1),
        b"\t".join([head, body, sig]),
        head + b"=." + body + b"." + sig,
        head + b"." + body + b"." + sig + b"==",
        token.replace(b"-", b"+").replace(b"_", b"/"),
        head + b"." + body,
        token + b".",
        b".".join([head, body, sig, sig]),
        b"",
        b"..",
    ]
    for bad in variants:
        if bad != token:
            with pytest.raises(Malformed):
                verify(bad, KEYS)


def test_a_non_canonical_signature_spelling_is_rejected() -> None:
    """The last character carries 4 unused bits; setting them must not give a second
    spelling of the same valid token."""
    token = sign(PAYLOAD, KID, KEY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(chr(token[-1]))
    twin = alphabet[last | 0b0001] if last & 0b0001 == 0 else alphabet[last & ~0b0001]
    with pytest.raises(Malformed):
        verify(token[:-1] + twin.encode(), KEYS)


# --- payload ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"v":1,"v":1}',
        b'{"a":{"b":1,"b":2}}',
        b'{"n":NaN}',
        b'{"n":Infinity}',
        b'{"n":-Infinity}',
        b'{"n":1e999}',
        b'{"n":-1e999}',
        b'{"n":' + b"1" * 5000 + b"}",
        b"[]",
        b'"text"',
        b"1",
        b"null",
        b"",
        b"{",
        b'{"a":1} x',
        b"\xef\xbb\xbf{}",  # a BOM
        b'{"a":"\xff"}',
        b'{"a":"\\ud800"}',
        b'{"\\udfff":1}',
        b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
        b"[" * 50_000 + b"]" * 50_000,
        b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
)
def test_payload_must_be_a_strict_json_object(body: bytes) -> None:
    with pytest.raises(Malformed):
        verify(forge(std_header(), body), KEYS)


def test_nesting_up_to_the_limit_is_fine() -> None:
    body = b'{"a":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    assert verify(forge(std_header(), body), KEYS).claims["a"] is not None


def test_the_payload_is_parsed_only_after_the_signature() -> None:
    head, _, sig = forge(std_header(), b'{"v":1}').split(b".")
    garbage = b64url_encode(b'{"v":1,"v":1}').encode()
    with pytest.raises(BadSignature):
        verify(b".".join([head, garbage, sig]), KEYS)


# --- size ------------------------------------------------------------------------


def _token_of_size(size: int) -> bytes:
    pad = size - len(sign({"p": ""}, KID, KEY))
    n = pad * 3 // 4
    while True:
        token = sign({"p": "x" * n}, KID, KEY) if n >= 0 else b""
        if len(token) >= size:
            return token
        n += 1


def test_size_limit() -> None:
    at_limit = _token_of_size(MAX_TOKEN_BYTES - 2)
    assert len(at_limit) <= MAX_TOKEN_BYTES
    assert verify(at_limit, KEYS).kid == KID
    with pytest.raises(TooLarge):
        sign({"p": "x" * MAX_TOKEN_BYTES}, KID, KEY)
    over = forge(std_header(), canonical_json({"p": "x" * MAX_TOKEN_BYTES}))
    with pytest.raises(TooLarge):
        verify(over, {})  # refused before any key lookup
    with pytest.raises(TooLarge):
        verify(b"A" * (MAX_TOKEN_BYTES + 1), KEYS)


# --- sign's own checks -------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"n": float("nan")},
        {"n": float("inf")},
        {1: "int key"},
        {"a": "\ud800"},
        {"a": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)},
        ["not", "an", "object"],
    ],
)
def test_sign_refuses_what_verify_would_refuse(payload: Any) -> None:
    with pytest.raises(ValueError):
        sign(payload, KID, KEY)


def test_sign_refuses_values_json_cannot_hold() -> None:
    with pytest.raises(TypeError):
        sign({"a": object()}, KID, KEY)


@pytest.mark.parametrize("kid", ["", "a b", "x" * 129, "kid\n", "é"])
def test_sign_refuses_a_bad_kid(kid: str) -> None:
    with pytest.raises(ValueError):
        sign(PAYLOAD, kid, KEY)


# --- Hypothesis --------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
b64_segments = st.binary(max_size=80).map(b64url_encode)


@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_envelope_errors(data: bytes) -> None:
    with pytest.raises(EnvelopeError):
        verify(data, KEYS)


@given(st.text(max_size=400))
def test_arbitrary_text_raises_only_envelope_errors(text: str) -> None:
    with pytest.raises(EnvelopeError):
        verify(text, KEYS)


@given(st.tuples(b64_segments, b64_segments, b64_segments))
def test_three_random_segments_raise_only_envelope_errors(parts: tuple[str, str, str]) -> None:
    with pytest.raises(EnvelopeError):
        verify(".".join(parts), KEYS)


@given(json_values, json_values)
def test_signed_json_of_any_shape_verifies_or_is_malformed(header: Any, body: Any) -> None:
    token = forge(json.dumps(header).encode(), json.dumps(body).encode())
    with contextlib.suppress(EnvelopeError):
        verify(token, KEYS)


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_round_trip_of_any_object(payload: dict[str, Any]) -> None:
    assert verify(sign(payload, KID, KEY), KEYS) == Verified(KID, payload)
