"""Benchmark of the JWS envelope (sync/protocol/envelope.py) against joserfc.

Run ``.venv/bin/python bench/envelope.py`` (``--quick`` for a smoke run).
joserfc (a test dependency) does the same work with the same Ed25519 key:
``jws.serialize_compact`` of the canonical payload bytes, and
``jws.deserialize_compact`` followed by ``json.loads`` of the payload (our
``verify`` returns the parsed claims, after its strict JSON checks). Two
messages: a ``cursor`` (the smallest) and an ``events`` batch of 256 events
(the largest a link sends, about 75 KB). Each operation is timed call by call,
ours and joserfc's alternating in a seeded random order, after a warm-up;
medians and p99 (nearest rank) of every call are printed, and the ratio ours /
joserfc. There is no goal: the figure says what the envelope's own strictness
costs over the library's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from joserfc import jws
from joserfc.jwk import OKPKey

from sync.protocol import Events, encode
from sync.protocol.envelope import ALG, TYP, canonical_json, sign, verify
from sync.protocol.testing import private_key, ring
from sync.protocol.wire import OutboxEvent
from sync.replica.outbox import uuid7

SEED = 7
KID = "bench.hall.n1/1"
KEY = private_key(KID)
KEYS = ring(KID)
JOSE_KEY = OKPKey.import_key(
    KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
)
HEADER = {"alg": ALG, "kid": KID, "typ": TYP}
IAT = 1_780_000_000


def messages() -> dict[str, dict[str, Any]]:
    at = datetime(2026, 5, 28, 19, 46, 40, tzinfo=UTC)
    events = []
    last: str | None = None
    for i in range(256):
        when = at + timedelta(milliseconds=i)
        last = uuid7(int(when.timestamp() * 1000), after=last)
        body = {"door": "huvudentre", "credential": "c.00042", "reader": "main-in", "i": i}
        events.append(OutboxEvent(i + 1, last, "access.granted", when, body))
    cursor = {
        "v": 1,
        "kind": "cursor",
        "node": "bench.hall.n1",
        "iat": IAT,
        "applied_rev": 41,
        "want": "changes",
    }
    return {
        "cursor": cursor,
        "events (256)": encode(Events(2**40, tuple(events)), "bench.hall.n1", IAT),
    }


def p99(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[max(0, -(-99 * len(ordered) // 100) - 1)]


def paired(
    n: int, ours: Callable[[], Any], theirs: Callable[[], Any]
) -> tuple[list[int], list[int]]:
    """Time ``ours`` and ``theirs`` ``n`` times each, in a seeded random order."""
    for _ in range(min(50, n)):
        ours(), theirs()
    rng = random.Random(SEED)
    t_ours: list[int] = []
    t_theirs: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        for fn, out in sorted(((ours, t_ours), (theirs, t_theirs)), key=lambda _: rng.random()):
            t0 = clock()
            fn()
            out.append(clock() - t0)
    return t_ours, t_theirs


def line(what: str, ours: list[int], theirs: list[int]) -> str:
    mo, mt = statistics.median(ours), statistics.median(theirs)
    po, pt = p99(ours), p99(theirs)
    return (
        f"{what:28s} ours median {mo / 1e3:8.1f} µs p99 {po / 1e3:8.1f} µs | joserfc median"
        f" {mt / 1e3:8.1f} µs p99 {pt / 1e3:8.1f} µs | ratio median {mo / mt:.2f}x p99"
        f" {po / pt:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    args = ap.parse_args(argv)
    n = 200 if args.quick else 3000
    warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")
    print(f"hallvakt envelope bench: {n} calls each, python {sys.version.split()[0]}")
    for name, claims in messages().items():
        payload = canonical_json(claims)
        token = sign(claims, KID, KEY)
        theirs_token = jws.serialize_compact(HEADER, payload, JOSE_KEY, algorithms=[ALG])
        assert verify(theirs_token, KEYS).claims == claims  # the same work, both ways
        assert json.loads(jws.deserialize_compact(token, JOSE_KEY, algorithms=[ALG]).payload) == (
            claims
        )
        print(f"\n== {name}: token of {len(token)} bytes ==")
        ours_s, theirs_s = paired(
            n,
            lambda c=claims: sign(c, KID, KEY),
            lambda c=claims: jws.serialize_compact(
                HEADER, canonical_json(c), JOSE_KEY, algorithms=[ALG]
            ),
        )
        print(line("sign", ours_s, theirs_s))
        ours_v, theirs_v = paired(
            n,
            lambda t=token: verify(t, KEYS),
            lambda t=token: json.loads(
                jws.deserialize_compact(t, JOSE_KEY, algorithms=[ALG]).payload
            ),
        )
        print(line("verify (+ parse claims)", ours_v, theirs_v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
