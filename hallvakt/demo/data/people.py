"""Who the demo facility knows: associations, internal customers, private
persons, leaders and staff, their credentials, revocations and staff grants.

Rules this module guarantees:
- A person (leader, private customer, staff) has a first name as its only
  name, so no public screen names them.
- Card ids and PINs exist only as keyed digests (PROTOCOL.md "Credential
  digests"); ``secret`` derives a person's plain card id and PIN from the seed,
  the holder id and a tag alone, so ``recover`` can find them again.
- ``credentials``, when given, is an exact count: staff cards (one per 20,000
  credentials beyond three), then a card and a PIN per leader, and one lost
  card when a credential is left over.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from sync.replica.digests import card_digest, card_id, pin_digest

from .facility import ALL_DAYS, WEEKDAYS, WEEKEND, Wire, rec
from .words import FIRST_NAMES, club_names


@dataclass(slots=True)
class Who:
    """The holders and how many of each kind the credentials call for."""

    n_staff: int
    n_leaders: int | None  # None: the demo's natural 2-4 leaders per association
    spare: int  # 1: a lost (revoked) card for the first leader
    names: list[str]  # association names, by index of ``assocs``
    assocs: list[str]
    customers: list[str]
    holders: list[Wire] = field(default_factory=list)


def who(rng: random.Random, credentials: int | None) -> Who:
    """Associations, internal customers and private persons (module rules)."""
    if credentials is None:
        n_staff, n_assoc, n_leaders, spare = 3, 10, None, 1
    else:
        n_staff = min(credentials, 3 + credentials // 20_000)
        n_leaders, spare = divmod(credentials - n_staff, 2)
        if n_leaders == 0 and spare:  # no leader to own a lost card: one more staff card
            n_staff, spare = n_staff + 1, 0
        n_assoc = max(6, n_leaders // 8)
    names = club_names(rng)
    assocs = [f"assoc.{i:04d}" for i in range(min(n_assoc, len(names)))]
    holders = [rec("holder", a, "association", names[i], []) for i, a in enumerate(assocs)]
    holders.append(rec("holder", "internal.school", "internal", "Kroksbäcksskolan", []))
    holders.append(rec("holder", "internal.fritid", "internal", "Fritid Malmö", []))
    customers = [f"customer.{i:03d}" for i in range(20)]
    holders.extend(rec("holder", c, "person", rng.choice(FIRST_NAMES), []) for c in customers)
    return Who(n_staff, n_leaders, spare, names, assocs, customers, holders)


def secret(seed: int, holder_id: str, tag: str) -> tuple[str, str]:
    """A person's plain card id and PIN, derived from seed, holder id and tag only."""
    r = random.Random(f"{seed}:{holder_id}:{tag}")
    x = r.random()
    if x < 0.6:  # a MIFARE 7-byte UID (NXP manufacturer byte 04)
        cid = card_id(b"\x04" + r.randbytes(6), 56)
    elif x < 0.85:  # a 26-bit Wiegand read: 26 bits in 4 bytes
        cid = card_id(r.randbytes(3) + bytes([r.choice((0x00, 0x40, 0x80, 0xC0))]), 26)
    else:  # a MIFARE Classic 4-byte UID
        cid = card_id(r.randbytes(4), 32)
    return cid, f"{r.randrange(10_000):04d}"


def recover(seed: int, hid: str, cards: Mapping[str, str], key: bytes) -> tuple[str, str]:
    """The plain card id and PIN behind ``hid``'s card digest in ``cards``
    (holder -> digest). Raises ``ValueError`` when no seeded card matches."""
    for attempt in range(100):
        cid, pin = secret(seed, hid, f"card{attempt}")
        if card_digest(key, cid) == cards.get(hid):
            return cid, pin
    raise ValueError(f"{hid}: no card matches; were these entities made with seed {seed}?")


def window(days: tuple[int, ...], start: str, end: str) -> Wire:
    return {"days": list(days), "from": start, "to": end}


@dataclass(frozen=True, slots=True)
class Enrolled:
    credentials: list[Wire]
    revocations: list[Wire]
    grants: list[Wire]


def enrol(rng: random.Random, w: Who, *, seed: int, key: bytes, doors: list[str]) -> Enrolled:
    """Leaders and staff (added to ``w.holders``) with their credentials, a lost
    and a stolen card revoked, and staff grants on ``doors`` (module rules)."""
    creds: list[Wire] = []
    revocations: list[Wire] = []
    cards_seen: set[str] = set()

    def card(hid: str, tag: str) -> tuple[str, str]:
        for attempt in range(100):  # a card id is unique in the facility
            cid, pin = secret(seed, hid, f"{tag}{attempt}")
            if cid not in cards_seen:
                cards_seen.add(cid)
                return card_digest(key, cid), pin
        raise RuntimeError("no free card id")  # pragma: no cover

    def cred(cid: str, hid: str, kind: str, digest: str) -> None:
        creds.append(rec("credential", cid, hid, kind, digest, None, None, None))

    assocs = w.assocs
    if w.n_leaders is None:
        leaders_of = [a for a in assocs for _ in range(rng.randint(2, 4))]
    else:
        leaders_of = [assocs[i % len(assocs)] for i in range(w.n_leaders)]
    for i, assoc in enumerate(leaders_of):
        hid = f"person.{i:06d}"
        also = rng.choice(assocs) if rng.random() < 0.05 else assoc  # leads in two clubs
        member = [assoc] if also == assoc else [assoc, also]
        w.holders.append(rec("holder", hid, "person", rng.choice(FIRST_NAMES), member))
        digest, pin = card(hid, "card")
        cred(f"card.{hid}", hid, "card", digest)
        cred(f"pin.{hid}", hid, "pin", pin_digest(key, hid, pin))
    if w.spare and leaders_of:  # a lost card: still a credential, revoked by id
        cred("card.person.000000.lost", "person.000000", "card", card("person.000000", "lost")[0])
        revocations.append(
            rec("revocation", "rev.lost.1", "card.person.000000.lost", None, "Borttappat kort")
        )
    stolen = card("unknown", "stolen")[0]  # a card never enrolled here, revoked by digest
    revocations.append(rec("revocation", "rev.stolen.1", None, stolen, "Stulet kort"))
    grants: list[Wire] = []
    for i in range(w.n_staff):
        hid = f"staff.{i:02d}"
        w.holders.append(rec("holder", hid, "staff", rng.choice(FIRST_NAMES), []))
        cred(f"card.{hid}", hid, "card", card(hid, "card")[0])
        if i % 3 == 1:  # night patrol: every night, across midnight
            windows = [window(ALL_DAYS, "22:00", "06:00")]
        elif i % 3 == 2:  # cleaning
            windows = [window(ALL_DAYS, "05:00", "09:00")]
        else:  # caretaker
            windows = [window(WEEKDAYS, "06:00", "22:00"), window(WEEKEND, "08:00", "18:00")]
        grants.append(rec("grant", f"grant.{hid}", hid, doors, windows, None, None))
    return Enrolled(creds, revocations, grants)
