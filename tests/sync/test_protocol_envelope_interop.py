"""The envelope against joserfc, a well-kept JOSE library, both ways (PROTOCOL.md §4).

A token ``sign`` writes is a valid RFC 7515 compact JWS that joserfc verifies
with the same key, header and payload bytes; a token joserfc signs with our
header is one ``verify`` accepts. The last cases are why the envelope is our
own (sync/protocol/envelope.py, its opening comment): tokens with a valid
signature that joserfc hands over, and that ``verify`` refuses.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from sync.protocol.envelope import (
    ALG,
    TYP,
    Malformed,
    UnsupportedAlgorithm,
    b64url_encode,
    canonical_json,
    sign,
    verify,
)
from sync.protocol.testing import private_key, ring

KID = "central-1"
KEY = private_key(KID)
KEYS = ring(KID)
HEADER = {"alg": ALG, "kid": KID, "typ": TYP}
JOSE_KEY = OKPKey.import_key(
    KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
)


@pytest.fixture(autouse=True)
def _edDSA_is_our_contract() -> Iterator[None]:
    """joserfc warns on every use of ``EdDSA``: RFC 9864 deprecates the name in
    favour of ``Ed25519``. PROTOCOL.md §4 fixes ``EdDSA`` (the same algorithm,
    RFC 8037), so that one warning is expected here and nothing else is."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")
        yield


def jose_verify(token: bytes | str) -> Any:
    return jws.deserialize_compact(token, JOSE_KEY, algorithms=[ALG])


def jose_sign(header: dict[str, Any], payload: bytes) -> str:
    return jws.serialize_compact(header, payload, JOSE_KEY, algorithms=[ALG])


claims = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.text(max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=10,
    ),
    max_size=6,
).filter(lambda d: not any(0xD800 <= ord(c) <= 0xDFFF for k in d for c in k))


@settings(max_examples=60, deadline=None)
@given(claims)
def test_joserfc_verifies_what_we_sign(payload: dict[str, Any]) -> None:
    token = sign(payload, KID, KEY)
    obj = jose_verify(token)
    assert obj.protected == HEADER
    assert obj.payload == canonical_json(payload)
    assert json.loads(obj.payload) == payload


@settings(max_examples=60, deadline=None)
@given(claims)
def test_we_verify_what_joserfc_signs(payload: dict[str, Any]) -> None:
    token = jose_sign(HEADER, json.dumps(payload).encode())  # not canonical: any spelling
    got = verify(token, KEYS)
    assert (got.kid, got.claims) == (KID, payload)


def test_a_token_is_the_same_bytes_from_both() -> None:
    """Ed25519 is deterministic: one header, payload and key give one token."""
    payload = {"v": 1, "kind": "cursor", "node": "n1", "iat": 1, "want": "changes"}
    ours = sign(payload, KID, KEY).decode()
    theirs = jose_sign(HEADER, canonical_json(payload))
    header, body, _ = theirs.split(".")
    assert json.loads(jose_verify(theirs).payload) == payload
    assert ours.split(".")[1] == body  # the same payload bytes
    # joserfc writes its header with its own member order; both verify either way
    assert verify(theirs, KEYS).claims == verify(ours, KEYS).claims == payload
    assert header and jose_verify(ours).protected == HEADER


def _signed(header: bytes, payload: bytes) -> str:
    h, p = b64url_encode(header), b64url_encode(payload)
    return f"{h}.{p}.{b64url_encode(KEY.sign(f'{h}.{p}'.encode()))}"


GOOD_HEADER = json.dumps(HEADER).encode()
STRICTER = [
    ("a payload member twice", GOOD_HEADER, b'{"v":1,"v":2}', "duplicate member name"),
    ("NaN in the payload", GOOD_HEADER, b'{"v":NaN}', "NaN is not JSON"),
    ("a payload that is not an object", GOOD_HEADER, b"[1,2]", "not a JSON object"),
    (
        "alg written twice in the header",
        b'{"alg":"EdDSA","alg":"EdDSA","kid":"central-1","typ":"hallvakt+json"}',
        b'{"v":1}',
        "duplicate member name",
    ),
    (
        "no explicit type (RFC 8725 §3.11)",
        b'{"alg":"EdDSA","kid":"central-1"}',
        b'{"v":1}',
        "typ must be",
    ),
]


@pytest.mark.parametrize(
    ("header", "payload", "why"), [c[1:] for c in STRICTER], ids=[c[0] for c in STRICTER]
)
def test_where_the_envelope_is_stricter_than_joserfc(
    header: bytes, payload: bytes, why: str
) -> None:
    token = _signed(header, payload)
    assert jose_verify(token).payload == payload  # joserfc: a valid signature, here you are
    with pytest.raises(Malformed, match=why):
        verify(token, KEYS)


def test_both_refuse_a_foreign_algorithm() -> None:
    """No algorithm agility on either side when the caller pins ``EdDSA``."""
    token = _signed(b'{"alg":"HS256","kid":"central-1","typ":"hallvakt+json"}', b'{"v":1}')
    with pytest.raises(JoseError):
        jose_verify(token)
    with pytest.raises(UnsupportedAlgorithm):
        verify(token, KEYS)
