"""The words of the PDF reports, in Swedish (the default: the municipality's officers) and English.

CSV headers are not here: they are stable machine names (docs/reports.md), the
same in every language, so a spreadsheet or the web page can rely on them.
"""

from __future__ import annotations

LANGS = ("sv", "en")

_WORDS: dict[str, tuple[str, str]] = {
    # key: (sv, en)
    "usage": ("Användning av lokaler", "Use of facilities"),
    "noshows": ("Uteblivna besök", "No-shows"),
    "attendance": ("Närvaro och aktivitetsstöd", "Attendance and activity grants"),
    "claims": ("Kontroll av redovisade aktiviteter", "Check of claimed sessions"),
    "period": ("Period", "Period"),
    "facilities": ("Anläggningar", "Facilities"),
    "all": ("alla", "all"),
    "made": ("Framtagen", "Made"),
    "source": (
        "Underlag: dörrarnas och kioskernas händelser i Hallvakt. Endast föreningsnamn,"
        " bokningstitlar och antal; inga personuppgifter.",
        "Source: the doors' and kiosks' events in Hallvakt. Association names, booking"
        " titles and counts only; no personal data.",
    ),
    "resource": ("Lokal", "Resource"),
    "booked_h": ("Bokat (h)", "Booked (h)"),
    "used_h": ("Använt (h)", "Used (h)"),
    "used_pct": ("Använt", "Used"),
    "not_entered_h": ("Ej använt (h)", "Not entered (h)"),
    "no_show_h": ("varav uteblivet (h)", "of which no-show (h)"),
    "pending_h": ("Ej avslutat (h)", "Not ended (h)"),
    "walkin_h": ("Drop-in (h)", "Walk-in (h)"),
    "total": ("Totalt", "Total"),
    "heat_title": ("Bokade timmar per veckodag och timme", "Booked hours by weekday and hour"),
    "heat_booked": ("Bokade timmar", "Booked hours"),
    "heat_share": ("Andel använd", "Share used"),
    "days": ("Mån Tis Ons Tor Fre Lör Sön", "Mon Tue Wed Thu Fri Sat Sun"),
    "facility_bars": ("Bokat och använt per anläggning", "Booked and used per facility"),
    "hours": ("timmar", "hours"),
    "booked": ("Bokat", "Booked"),
    "used": ("Använt", "Used"),
    "usage_note": (
        "Använt = bokning där föreningen eller kunden kom in (kort, kod eller kiosk)."
        " Ej använt = avslutad bokning utan inpassering; uteblivet = hallen rapporterade"
        " uteblivet besök eller släppte tiden. Drop-in = tider sålda i kiosken.",
        "Used = a booking its holder entered (card, code or kiosk). Not entered = an"
        " ended booking nobody entered; no-show = the hall reported it or released the"
        " time. Walk-in = time sold at the kiosk.",
    ),
    "holder": ("Förening", "Association"),
    "season": ("Säsong", "Season"),
    "strikes": ("Uteblivna", "No-shows"),
    "of_booked": ("av bokade", "of booked"),
    "flag": ("Varning", "Flag"),
    "flagged": ("över gränsen", "over the threshold"),
    "partial": ("(del av säsong)", "(part of season)"),
    "dates": ("Datum", "Dates"),
    "noshow_bars": ("Flest uteblivna besök", "Most no-shows"),
    "count": ("antal", "count"),
    "threshold": (
        "Gräns för varning: {n} uteblivna per säsong",
        "Flagged at {n} no-shows a season",
    ),
    "released": ("släppt", "released"),
    "no_show": ("uteblev", "no-show"),
    "date": ("Datum", "Date"),
    "time": ("Tid", "Time"),
    "place": ("Plats", "Place"),
    "heads": ("Deltagare", "Participants"),
    "leaders": ("Ledare", "Leaders"),
    "first_in": ("Första in", "First in"),
    "minutes": ("Min", "Min"),
    "meets": ("Uppfyller", "Meets"),
    "yes": ("ja", "yes"),
    "no": ("nej", "no"),
    "pending": ("ej avslutad", "not ended"),
    "same_day": ("samma dag", "same day"),
    "rule": ("Regel", "Rule"),
    "sessions": ("Aktiviteter", "Sessions"),
    "entered": ("Med inpassering", "Entered"),
    "meeting": ("Uppfyller regeln", "Meet the rule"),
    "counted": ("Deltagare som räknas", "Participants counted"),
    "attendance_bars": ("Aktiviteter per förening", "Sessions per association"),
    "attendance_note": (
        "Underlaget visar tid, antal deltagare (ledarens rapport i kiosken) och att en"
        " ledare var på plats (ledarkort i dörren eller ledare i rapporten). Det visar"
        " inte deltagarnas ålder eller medlemskap, och inte om samma person deltog i"
        " två aktiviteter samma dag: de delarna måste föreningen styrka.",
        "The evidence shows time, headcount (the leader's report at the kiosk) and a"
        " leader present (a leader's card at the door or a leader in the report). It"
        " does not show ages or membership, nor whether one person came to two"
        " sessions a day: the association must show those.",
    ),
    "minutes_note": (
        "Min = minuter från första inpassering (eller starten) till bokningens slut;"
        " dörren registrerar inpassering, inte utpassering.",
        "Min = minutes from the first entry (or the start) to the booking's end; the"
        " door records entries, not exits.",
    ),
    "reason.no_entry": ("ingen inpassering", "nobody entered"),
    "reason.too_short": ("för kort", "too short"),
    "reason.no_headcount": ("inget antal rapporterat", "no headcount"),
    "reason.too_few": ("för få deltagare", "too few participants"),
    "reason.no_leader": ("ingen ledare sedd", "no leader seen"),
    "reason.cancelled": ("avbokad", "cancelled"),
    "line": ("Rad", "Line"),
    "claimed": ("Redovisat", "Claimed"),
    "booking": ("Bokning", "Booking"),
    "door": ("Dörr", "Door"),
    "verdict": ("Underlag", "Evidence"),
    "notes": ("Anmärkning", "Notes"),
    "claims_summary": ("Sammanfattning", "Summary"),
    "tolerance": ("Tidstolerans: {n} min", "Time tolerance: {n} min"),
    "v.evidence": ("underlag finns", "evidence"),
    "v.no_entry": (
        "inget underlag: bokat, ingen inpassering",
        "no evidence: booked, nobody entered",
    ),
    "v.no_show": ("inget underlag: uteblivet besök", "no evidence: no-show"),
    "v.no_booking": ("inget underlag: ingen bokning", "no evidence: no booking"),
    "v.unknown_place": ("inget underlag: okänd plats", "no evidence: place unknown"),
    "v.duplicate": (
        "inget underlag: bokningen redan redovisad",
        "no evidence: booking claimed twice",
    ),
    "v.outside_period": ("ej kontrollerad: utanför perioden", "not checked: outside the period"),
    "claims_bars": ("Redovisade aktiviteter efter underlag", "Claimed sessions by evidence"),
    "page": ("Sida", "Page"),
    "n.more_claimed": (
        "redovisar {a} deltagare; ledaren rapporterade {b} vid start",
        "claims {a} participants; the leader reported {b} at the start",
    ),
    "n.late": (
        "första inpassering {a} min efter redovisad start",
        "first entry {a} min after the claimed start",
    ),
    "r.min": ("minst {n} min", "at least {n} min"),
    "r.heads_besides": (
        "minst {n} deltagare utöver ledaren",
        "at least {n} participants besides the leader",
    ),
    "r.heads_incl": (
        "minst {n} deltagare inklusive ledaren",
        "at least {n} participants including the leader",
    ),
    "r.per_leader": ("högst {n} räknas per ledare", "counted up to {n} per leader"),
    "r.max": ("högst {n} räknas", "at most {n} counted"),
    "r.leader": ("ledare närvarande", "a leader present"),
    "r.ages": ("ålder {a}–{b} (bedöms inte)", "ages {a}-{b} (not judged)"),
    "none": ("Inget att visa för perioden.", "Nothing to show for the period."),
}


def word(lang: str, key: str, **fmt: object) -> str:
    """The word ``key`` in ``lang`` (``sv`` or ``en``)."""
    sv, en = _WORDS[key]
    text = sv if lang == "sv" else en
    return text.format(**fmt) if fmt else text
