"""The demo facility's bookings and walk-in leases.

Rules this module guarantees:
- Weekly season slots per association, then one-offs per date in the main
  hall and the gym, in facility-local time converted with ``local_to_instant``:
  a weekly slot at 18:00 stays at 18:00 across DST.
- A private person's booking has no title, so no public screen names them.
- ``bookings``, when given, is an exact count: the horizon grows by whole
  weeks until the season slots can hold it, then a seeded sample thins it.
- Leases give the demo node walk-in authority in the main hall's lease zones.
"""

from __future__ import annotations

import math
import random
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from sync.protocol.timeutil import format_instant, local_to_instant

from .facility import ALL_DAYS, FIELDS, WEEKEND, Space, Wire, pack, rec
from .words import CLUB_FORMS, PLACES, SPORTS, TEAM_SPORTS

DEMO_NODE = "demo.node.n1"


class UtcCache:
    """Local (date, minute) -> RFC 3339 UTC text, memoised (many bookings share it)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.memo: dict[tuple[date, int], str] = {}

    def __call__(self, day: date, minute: int) -> str:
        text = self.memo.get((day, minute))
        if text is None:
            wall = time(minute // 60, minute % 60)
            text = self.memo[day, minute] = format_instant(local_to_instant(day, wall, self.tz))
        return text


def _oneoff(
    rng: random.Random,
    assocs: list[str],
    names: list[str],
    people: list[str],
    lane: int,
    weekend: bool,
) -> tuple[str, str]:
    """(holder, public title) of a one-off booking; private persons get no title."""
    if lane < 0:  # the whole hall
        if weekend:  # a home match against a visiting club (not a holder here)
            a = rng.randrange(len(assocs))
            sport = next((s for s in SPORTS if s in names[a]), "")
            if sport not in TEAM_SPORTS:
                event = "Uppvisning" if sport in ("Gymnastik", "Dans") else "Tävling"
                return assocs[a], f"{event}: {names[a]}"
            guest = f"{rng.choice(CLUB_FORMS).format(p=rng.choice(PLACES))} {sport}"
            return assocs[a], f"Seriematch: {names[a]} – {guest}"
        return "internal.school", rng.choice(("Skolavslutning", "Idrottsdag", "Skolidrott"))
    x = rng.random()
    if x < 0.55:
        return rng.choice(people), ""
    if x < 0.8 or weekend:
        return rng.choice(assocs), ""
    return "internal.fritid", rng.choice(("Seniorgympa", "Öppen hall", "Prova på"))


def book(
    rng: random.Random,
    spaces: list[Space],
    assocs: list[str],
    names: list[str],
    customers: list[str],
    horizon: list[date],
    bookings: int | None,
    utc: UtcCache,
) -> list[Wire]:
    """Every booking record over ``horizon`` (further when ``bookings`` needs it)."""
    season: dict[int, list[tuple[str, int, int, str]]] = {d: [] for d in ALL_DAYS}
    for sp in spaces:
        for days, lo, hi, use in sp.zones:
            for wd in days if use == "season" else ():
                for lane, s, e in pack(rng, sp.lanes, lo, hi, 0.08):
                    season[wd].append((sp.resource(lane), s, e, rng.choice(assocs)))
    first = horizon[0]
    dates = horizon
    held = sum(len(season[d.isoweekday()]) for d in horizon)
    if bookings is not None and held < bookings:
        weeks = math.ceil((bookings - held) / sum(len(v) for v in season.values()))
        dates = [first + timedelta(days=i) for i in range(len(horizon) + 7 * weeks)]
    fields = FIELDS["booking"]
    out: list[Wire] = []
    for day in dates:
        wd, stamp = day.isoweekday(), day.strftime("%Y%m%d")
        todo = [(rid, s, e, h, "") for rid, s, e, h in season[wd]]
        for sp in spaces[:2]:  # one-offs in the main hall and the gym
            for days, lo, hi, use in sp.zones:
                if use == "oneoff" and wd in days:
                    for lane, s, e in pack(rng, sp.lanes, lo, hi, 0.45):
                        h, title = _oneoff(rng, assocs, names, customers, lane, wd in WEEKEND)
                        todo.append((sp.resource(lane), s, e, h, title))
        for rid, s, e, h, title in todo:
            x = rng.random()
            status = "cancelled" if x < 0.02 else "tentative" if x < 0.03 else "confirmed"
            bid = f"b.{rid}.{stamp}.{s // 60:02d}{s % 60:02d}"
            values = (bid, [rid], utc(day, s), utc(day, e), h, title, status, "central", None, None)
            out.append(dict(zip(fields, values, strict=True)))
    if bookings is not None and len(out) > bookings:
        drop = set(rng.sample(range(len(out)), len(out) - bookings))
        out = [b for i, b in enumerate(out) if i not in drop]
    return out


def leases(main: Space, horizon: list[date], utc: UtcCache) -> list[Wire]:
    """Walk-in leases for the demo node on ``main``'s sections in its lease zones."""
    out: list[Wire] = []
    for day in horizon:
        for days, lo, hi, use in main.zones:
            for sec in main.sections if use == "lease" and day.isoweekday() in days else ():
                lid = f"lease.{sec}.{day:%Y%m%d}.{lo // 60:02d}00"
                out.append(rec("lease", lid, DEMO_NODE, sec, utc(day, lo), utc(day, hi)))
    return out
