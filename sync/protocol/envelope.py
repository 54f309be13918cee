"""The signed envelope: JWS compact serialization with EdDSA / Ed25519 (PROTOCOL.md §4).

Rules this module guarantees:
- ``sign`` writes ``BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(sig)``
  (RFC 7515 §7.1) with the header exactly
  ``{"alg":"EdDSA","kid":<kid>,"typ":"hallvakt+json"}`` and the payload as
  canonical compact JSON (sorted keys, no spaces, UTF-8); Ed25519 (RFC 8037)
  is deterministic, so one payload, kid and key give one token.
- ``verify`` accepts a token only if all of these hold, else raises:
  - at most 256 KiB (PROTOCOL.md §2), three non-empty base64url segments
    (RFC 4648 §5) without padding, whitespace or other alphabets, each in its
    one canonical spelling (unused trailing bits zero) → else ``Malformed``;
  - a header that is a strict JSON object with ``alg`` exactly ``EdDSA``
    (else ``UnsupportedAlgorithm``, a ``BadSignature``: no ``none``, no HMAC,
    no alg confusion), ``typ`` exactly ``hallvakt+json`` (RFC 8725 §3.11
    explicit typing), a ``kid`` of 1-128 printable ASCII characters, and no
    ``crit`` (we understand no extension, RFC 7515 §4.1.11) → else ``Malformed``.
    Other header parameters are ignored (RFC 7515 §4); embedded keys
    (``jwk``, ``jku``, ``x5c``, ``x5u``) are never used: keys come only from
    the caller's ``keys`` by ``kid``;
  - a ``kid`` present in ``keys`` → else ``UnknownKey``;
  - a 64-byte signature that verifies over the ASCII signing input → else
    ``BadSignature``; an empty signature segment (how ``alg: none`` tokens
    end, RFC 7515 §A.5) with a payload is ``BadSignature`` too (or
    ``UnsupportedAlgorithm`` for its header), never ``Malformed``: a
    receiver logs it as a security event (PROTOCOL.md §4);
  - and only then, a payload that is strict UTF-8 JSON: an object, no
    duplicate member names, no ``NaN``/``Infinity`` or overflowing numbers,
    no lone surrogates, nesting at most ``MAX_DEPTH`` → else ``Malformed``.
  Any payload serialization is accepted (other implementations need not be
  canonical); the signature covers the bytes as sent.
- ``verify`` raises nothing but ``EnvelopeError`` for any input bytes or text.

Why our own code and not a JOSE library: joserfc verifies our tokens and we
verify its tokens (tests/sync/test_protocol_envelope_interop.py, both ways),
so the wire is plain RFC 7515. What it would not do for us is most of this
module: it hands over a payload with a member named twice, ``NaN`` or a
non-object, and accepts a header without ``typ`` or with ``alg`` written
twice (the interop test shows each); a library picks the algorithm from the
header, where we accept exactly one, with keys only from the caller by
``kid``; and joserfc 1.8 warns on every ``EdDSA`` token (RFC 9864 renames
it), the name PROTOCOL.md §4 fixes. The cryptography is not ours (the
``cryptography`` package's Ed25519). Cost, bench/envelope.py: signing as
fast as joserfc; verifying a 256-event batch 1.1x joserfc, whose verify
does no JSON checks (docs/benchmarks.md): a canonical payload, as nodes send,
is parsed in C and checked by re-encoding (``_canonical_object``).
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import pybase64
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .errors import (
    BadSignature,
    EnvelopeError,
    Malformed,
    TooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)

__all__ = [
    "ALG",
    "MAX_DEPTH",
    "MAX_TOKEN_BYTES",
    "TYP",
    "BadSignature",
    "EnvelopeError",
    "Malformed",
    "TooLarge",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "Verified",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "sign",
    "sign_canonical",
    "verify",
]

ALG = "EdDSA"
TYP = "hallvakt+json"
MAX_TOKEN_BYTES = 256 * 1024  # PROTOCOL.md §2: maximum payload
MAX_DEPTH = 32  # nesting of objects and arrays; v1 messages need 7
SIGNATURE_BYTES = 64  # RFC 8032 §5.1.6

_UNSIGNED = re.compile(rb"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # RFC 4648 §5
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_UNUSED_BITS = (0, 0, 0x0F, 0x03)  # by the length mod 4 (1 cannot be)
_KID = re.compile(r"[!-~]{1,128}")  # printable ASCII, no space
_SURROGATE = re.compile("[\ud800-\udfff]")
_STR = {str}
_CONTAINERS = {dict, list, tuple}  # compared by exact type (``_shape_problem_of``)


@dataclass(frozen=True, slots=True)
class Verified:
    """A token whose signature verified: the signer's ``kid`` and the payload's claims."""

    kid: str
    claims: dict[str, Any]


# --- base64url (RFC 4648 §5, RFC 7515 §2: no padding) ---------------------------


# pybase64 encodes and decodes in SIMD what the standard library does a byte at
# a time: 20 against 430 us each way for a batch of 256 events (89 kB), the
# same bytes (the checks of one spelling below are ours, before it decodes).


def b64url_encode(data: bytes) -> str:
    """Base64url of ``data`` without padding."""
    return pybase64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url; raise ``Malformed`` unless ``text`` is the one
    canonical spelling of its bytes (no padding, whitespace or ``+/``)."""
    if not isinstance(text, str) or len(text) % 4 == 1:
        raise Malformed("not unpadded base64url")
    try:
        ascii_text = text.encode("ascii")
    except UnicodeEncodeError:
        raise Malformed("not unpadded base64url") from None
    # The alphabet, checked in C: deleting its 64 letters leaves nothing (a
    # pattern took 1 ms over a 100 KB payload, at every message).
    if ascii_text.translate(None, _ALPHABET):
        raise Malformed("not unpadded base64url")
    # One spelling: a last group of 2 or 3 letters carries 4 or 2 unused bits,
    # which must be zero (re-encoding the bytes and comparing says the same,
    # at the cost of the whole payload again).
    unused = _UNUSED_BITS[len(text) % 4]
    if unused and _VALUE[ascii_text[-1]] & unused:
        raise Malformed("non-canonical base64url (unused bits set)")
    try:
        return pybase64.b64decode(ascii_text + b"=" * (-len(text) % 4), b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - the alphabet guards
        raise Malformed("not unpadded base64url") from exc


# --- strict JSON (RFC 8259, I-JSON RFC 7493 §2) --------------------------------


# The canonical spelling's one definition: compact, sorted keys, UTF-8 text
# (not ASCII escapes), no NaN. ``canonical_json`` checks a payload and encodes
# it so; the node's outbox stores event bodies so (sync.replica.outbox), which
# lets the link splice them into a payload unchanged (``send.pack_events``).
# The encoder is made once: ``json.dumps`` with options makes one per call.
canonical_text = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON with sorted keys: the bytes ``sign`` puts in a token.

    Raises ``ValueError`` for anything ``verify`` would refuse (not an object,
    non-string keys, NaN/Infinity, lone surrogates, nesting beyond ``MAX_DEPTH``)
    and ``TypeError`` for values JSON cannot represent.
    """
    if not isinstance(value, Mapping):
        raise ValueError("a payload must be a JSON object")
    problem = _shape_problem_of(value)
    if problem is not None:
        raise ValueError(f"payload {problem}")
    text = canonical_text(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("payload holds a lone surrogate") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Malformed(f"duplicate member name {key[:40]!r}")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise Malformed(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise Malformed(f"number {text[:40]} overflows")
    return value


def _tree_problem(value: Any) -> str | None:
    """What makes ``value`` unfit for the wire, or None (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "holds a lone surrogate"
            continue
        if isinstance(item, Mapping):
            children: list[Any] = list(item.values())
            for key in item:
                if not isinstance(key, str):
                    return "has a member name that is not a string"
                if _SURROGATE.search(key):
                    return "holds a lone surrogate"
        elif isinstance(item, list | tuple):
            children = list(item)
        else:
            continue
        if depth > MAX_DEPTH:
            return f"nests deeper than {MAX_DEPTH}"
        stack.extend((child, depth + 1) for child in children)
    return None


def _shape_problem_of(value: Any, *, parsed: bool = False) -> str | None:
    """``_tree_problem`` without looking into strings: member names are
    strings and nesting is at most ``MAX_DEPTH`` (level by level, containers
    only). Enough where no string can hold a lone surrogate: JSON text without
    ``\\u`` escapes (UTF-8 cannot hold one), or text about to be encoded as
    UTF-8 (which refuses one). ``parsed``: ``value`` came from ``json.loads``,
    whose member names are strings: only the nesting is looked at."""
    level: list[Any] = [dict(value)]
    for _ in range(MAX_DEPTH):
        if not parsed:
            for item in level:  # the set of the names' types, made in C: a name is a str
                if type(item) is dict and not {*map(type, item)} <= _STR:
                    return "has a member name that is not a string"
        level = [  # other containers are not JSON: json.dumps raises TypeError
            c
            for item in level
            for c in (item.values() if type(item) is dict else item)
            if type(c) in _CONTAINERS
        ]
        if not level:
            return None
    return f"nests deeper than {MAX_DEPTH}"


def _strict_object(raw: bytes, what: str) -> dict[str, Any]:
    """``raw`` as a strict JSON object (module rules), else ``Malformed``."""
    value = _canonical_object(raw)
    return value if value is not None else _strict_object_checked(raw, what)


def _canonical_object(raw: bytes) -> dict[str, Any] | None:
    """The object ``raw`` holds when ``raw`` is exactly msgspec's compact
    sorted encoding of it (as nodes send it: ``canonical_json`` spells every
    payload of theirs the same way), else None: then the checked parse decides.

    msgspec parses in C without a hook per object, keeping the last of two
    equal member names; so the re-encoding is shorter than ``raw`` whenever a
    member was dropped, and any other liberty of spelling comes back changed.
    What the checked parse refuses besides: ``NaN`` and overflowing numbers
    (msgspec refuses them too), lone surrogates (only a ``\\u`` escape can
    spell one in UTF-8: such text takes the checked parse) and nesting beyond
    ``MAX_DEPTH`` (checked here). The value is the one the checked parse
    returns (both parse numbers exactly, integers to the same digit limit).
    tests/sync/test_protocol_envelope_fastpath.py compares the two on
    generated payloads."""
    try:
        if b"\\u" in raw:
            return None
        # Bytes, not text: msgspec never encodes a string into bytes that are
        # not UTF-8, so equal bytes are UTF-8 (and decoding them first cost
        # more than half the parse).
        value = _decode(raw)
        if type(value) is not dict or _shape_problem_of(value, parsed=True) is not None:
            return None
        return value if _encode_sorted(value) == raw else None
    except (ValueError, RecursionError, msgspec.MsgspecError):
        return None


_decode = msgspec.json.Decoder().decode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def _strict_object_checked(raw: bytes, what: str) -> dict[str, Any]:
    """``_strict_object`` for any serialization: the exact verdict and error."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Malformed(f"{what} is not UTF-8") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite,
        )
    except Malformed as exc:
        raise Malformed(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{what} is not JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    # Without a \u escape, JSON text holds no lone surrogate (UTF-8 cannot):
    # only the nesting is left to check, over the containers alone.
    problem = _tree_problem(value) if "\\u" in text else _shape_problem_of(value, parsed=True)
    if problem is not None:
        raise Malformed(f"{what} {problem}")
    return value


# --- sign and verify -------------------------------------------------------------


def sign(payload: Mapping[str, Any], kid: str, key: Ed25519PrivateKey) -> bytes:
    """Sign ``payload`` as a compact JWS; return the token's ASCII bytes.

    Raises ``ValueError`` for a bad ``kid`` or a payload ``verify`` would refuse,
    ``TooLarge`` if the token would exceed 256 KiB (split the message).
    """
    return sign_canonical(canonical_json(payload), kid, key)


def sign_canonical(payload: bytes, kid: str, key: Ed25519PrivateKey) -> bytes:
    """``sign`` of a payload already encoded: the caller vouches that ``payload``
    is ``canonical_json`` of the claims it means (``sync.protocol.send.pack_events``
    builds it so, and its tests compare the bytes with ``sign``'s).

    Raises ``ValueError`` for a bad ``kid``, ``TooLarge`` above 256 KiB.
    """
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise ValueError(f"kid must be 1-128 printable ASCII characters, not {kid!r}")
    header = canonical_json({"alg": ALG, "kid": kid, "typ": TYP})
    signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
    signature = key.sign(signing_input.encode("ascii"))
    token = f"{signing_input}.{b64url_encode(signature)}".encode("ascii")
    if len(token) > MAX_TOKEN_BYTES:
        raise TooLarge(f"token of {len(token)} bytes is above {MAX_TOKEN_BYTES}")
    return token


def verify(token: bytes | str, keys: Mapping[str, Ed25519PublicKey]) -> Verified:
    """Check ``token`` against the trusted ``keys`` (by ``kid``); return its claims.

    Raises ``Malformed``, ``UnknownKey`` or ``BadSignature`` (module rules);
    nothing else for any bytes or text.
    """
    if isinstance(token, str):
        try:
            token = token.encode("ascii")
        except UnicodeEncodeError:
            raise Malformed("a token is ASCII") from None
    if not isinstance(token, bytes | bytearray | memoryview):
        raise Malformed(f"a token is bytes, not {type(token).__name__}")
    token = bytes(token)
    if len(token) > MAX_TOKEN_BYTES:
        raise TooLarge(f"token of {len(token)} bytes is above {MAX_TOKEN_BYTES}")
    # Three non-empty segments of the base64url alphabet, checked in C (a
    # pattern took 1 ms over a 100 KB token).
    parts = token.split(b".")
    if len(parts) != 3 or not all(p and not p.translate(None, _ALPHABET) for p in parts):
        unsigned = _UNSIGNED.fullmatch(token)
        if unsigned is not None:
            # An empty signature (``alg: none`` as RFC 7515 §A.5 makes it) is a
            # forgery attempt, a security event, not a malformed message (§4).
            _check_header(_strict_object(b64url_decode(unsigned.group(1).decode()), "header"))
            raise BadSignature("the signature is empty")
        raise Malformed(_shape_problem(token))
    head_b64, body_b64, sig_b64 = (p.decode("ascii") for p in parts)
    kid = _check_header(_strict_object(b64url_decode(head_b64), "header"))
    key = keys.get(kid)
    if key is None:
        raise UnknownKey(kid)
    signature = b64url_decode(sig_b64)
    if len(signature) != SIGNATURE_BYTES:
        raise BadSignature(f"an Ed25519 signature has 64 bytes, not {len(signature)}")
    try:
        key.verify(signature, f"{head_b64}.{body_b64}".encode("ascii"))
    except InvalidSignature:
        raise BadSignature(f"signature does not verify with key {kid!r}") from None
    return Verified(kid, _strict_object(b64url_decode(body_b64), "payload"))


def _check_header(header: dict[str, Any]) -> str:
    """Validate a decoded JOSE header; return its ``kid``."""
    alg = header.get("alg")
    if alg != ALG:
        raise UnsupportedAlgorithm(f"alg must be {ALG!r}, not {_short(alg)}")
    if "crit" in header:
        raise Malformed("crit names extensions this receiver does not understand")
    if header.get("typ") != TYP:
        raise Malformed(f"typ must be {TYP!r}, not {_short(header.get('typ'))}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise Malformed(f"kid must be 1-128 printable ASCII characters, not {_short(kid)}")
    return kid


def _shape_problem(token: bytes) -> str:
    if b"=" in token:
        return "base64url padding is not allowed"
    if any(c in token for c in b" \t\r\n\f\v"):
        return "whitespace is not allowed in a token"
    if token.count(b".") != 2:
        return "a compact JWS has exactly three segments"
    return "segments must be non-empty base64url (A-Z a-z 0-9 - _)"


def _short(value: object) -> str:
    return repr(value)[:60]
