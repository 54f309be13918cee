"""A few demo people's plain credentials, for the demo's panel and the benches.

``demo_credentials`` labels never name a person; it finds the plain card ids
and PINs again from the seed (``people.recover``), since the data holds only
their digests.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta

from sync.protocol.timeutil import format_instant, local_to_instant, parse_instant, zone

from .facility import Wire
from .people import recover

DEMO_CREDENTIAL_KEY = b"hallvakt-demo-credential-key-32b"


def demo_credentials(
    entities: Mapping[str, list[Wire]], *, seed: int, today: date, key: bytes = DEMO_CREDENTIAL_KEY
) -> dict[str, str]:
    """A few demo people's plain credentials: label -> what to present at a door.

    Leaders of associations booked on ``today`` first (the main hall first, with
    where and when), then the caretaker and the night patrol. Labels never name
    a person. Raises ``ValueError`` when ``entities`` were not made with
    ``seed`` and ``key``.
    """
    tz = zone(entities["facility"][0]["timezone"])
    holders = {h["id"]: h for h in entities["holder"]}
    places = {r["id"]: r["name"] for r in entities["resource"]}
    creds = entities["credential"]
    cards = {c["holder"]: c["digest"] for c in creds if c["id"] == f"card.{c['holder']}"}
    leader_of: dict[str, str] = {}
    for h in holders.values():
        if h["kind"] == "person" and h["member_of"]:
            leader_of.setdefault(h["member_of"][0], h["id"])
    picks: dict[str, str] = {}
    today_s = format_instant(local_to_instant(today, time(0), tz))
    tomorrow_s = format_instant(local_to_instant(today + timedelta(days=1), time(0), tz))
    todays = [b for b in entities["booking"] if today_s <= b["start"] < tomorrow_s]
    hall = {r["id"] for r in entities["resource"] if "hall" in (r["id"], r["parent"])}
    for b in sorted(todays, key=lambda b: (b["resources"][0] not in hall, b["start"], b["id"])):
        if b["holder"] in leader_of and b["status"] == "confirmed" and len(picks) < 2:
            at = parse_instant(b["start"]).astimezone(tz)
            picks.setdefault(b["holder"], f" ({places[b['resources'][0]]} {at:%H:%M})")
    if not picks and leader_of:
        picks[next(iter(leader_of))] = ""
    out: dict[str, str] = {}
    for assoc, when in picks.items():
        cid, pin = recover(seed, leader_of[assoc], cards, key)
        out[f"leader of {holders[assoc]['display_name']}{when}"] = f"card {cid} + PIN {pin}"
    for sid, role in (("staff.00", "caretaker"), ("staff.01", "night patrol")):
        if sid in holders:
            out[role] = f"card {recover(seed, sid, cards, key)[0]}"
    return out
