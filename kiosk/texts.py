"""Every word the kiosk shows or speaks, from view-model states, in one language.

Rules this module guarantees:
- Pure functions of a ``Translator`` and a view-model state; screens and the
  speech output both use them, so what is spoken is what is shown.
- Status is never colour alone: every state has a word and a symbol.
- A door code appears only in ``code_text`` and ``code_speech``: the spoken
  screen and confirmation never contain it (codes are spoken only on request).
- Times are facility-local ``HH:MM``; ages are rounded down to minutes, hours
  and days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from .caretaker import CaretakerView, DoorLine, Notice, RejectedLine
from .i18n import Translator
from .leader import LeaderView
from .today import Entry, Health, Row, TodayView
from .walkin import W, WalkinView


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


WEEKDAYS = (
    N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"),
    N_("Friday"), N_("Saturday"), N_("Sunday"),
)  # fmt: skip
MONTHS = (
    N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"),
    N_("July"), N_("August"), N_("September"), N_("October"), N_("November"), N_("December"),
)  # fmt: skip
DOOR_STATES = {
    "locked": N_("Locked"),
    "unlocked": N_("Unlocked"),
    "open": N_("Open"),
    "held_open": N_("ALARM: held open"),
    "forced": N_("ALARM: forced open"),
    "lockdown": N_("Lockdown"),
    "fire_release": N_("ALARM: fire release"),
    "powerless": N_("ALARM: no power"),
    "unknown": N_("Unknown"),
}
ERRORS = {
    "card_unknown": N_("This card is not known here. Try another card or ask the staff."),
    "card_revoked": N_("This card is blocked. Please contact the municipality."),
    "card_not_valid": N_("This card is not valid today."),
    "card_no_holder": N_("This card is not registered to anyone."),
    "phone_bad": N_("That is not a phone number we can use. Please check it."),
    "conflict": N_("Sorry, that time was just booked. Please pick another time."),
    "in_past": N_("That time has already passed. Please pick another time."),
    "no_lease": N_("This time can no longer be booked here."),
    "outside_lease": N_("This time can no longer be booked here."),
    "not_slots": N_("That length cannot be booked here."),
    "too_long": N_("That length cannot be booked here."),
    "not_walkin": N_("This time cannot be booked here."),
    "no_code": N_("No door code could be made. Please ask the staff."),
    "count_range": N_("Please enter a number of participants from 0 and at least one leader."),
    "db_busy": N_("The kiosk is busy. Please try again."),
}
PRICES = {
    "association": N_("Association rate"),
    "person": N_("Private person rate"),
    "internal": N_("Internal rate"),
}
VERDICTS = {
    "pending": N_("Saved here; not yet confirmed by the booking system"),
    "accepted": N_("Confirmed by the booking system"),
    "rejected": N_("REJECTED by the booking system"),
}
OK, WARN, BAD = "✓", "⚠", "✗"  # symbols beside words, never instead of them


def hhmm(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%H:%M")


def span(start: datetime | None, end: datetime | None) -> str:
    return f"{hhmm(start)}–{hhmm(end)}"


def date_text(tr: Translator, day: date) -> str:
    _ = tr._
    weekday, month = _(WEEKDAYS[day.weekday()]), _(MONTHS[day.month - 1])
    return _("{weekday} {day} {month} {year}").format(
        weekday=weekday, day=day.day, month=month, year=day.year
    )


def age_text(tr: Translator, age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return tr.n_("{n} minute", "{n} minutes", minutes).format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return tr.n_("{n} hour", "{n} hours", hours).format(n=hours)
    days = hours // 24
    return tr.n_("{n} day", "{n} days", days).format(n=days)


def banner_text(tr: Translator, health: Health) -> str | None:
    """The offline/stale banner, with the data's age; None when all is well."""
    _ = tr._
    if health.level == "never":
        return WARN + " " + _("Not yet in contact with the booking system: no bookings to show.")
    if health.age is None or health.level == "ok":
        return None
    age = age_text(tr, health.age)
    if health.level == "stale":
        return (
            BAD
            + " "
            + _(
                "Out of date: no contact with the booking system for {age}. "
                "Bookings shown may have changed; doors admit staff only."
            ).format(age=age)
        )
    offline = _(
        "Offline: the booking system was last reached {age} ago. Bookings shown may have changed."
    )
    return f"{WARN} {offline.format(age=age)}"


def entry_text(tr: Translator, e: Entry) -> str:
    _ = tr._
    label = e.label or _("Booked")
    if e.via_hall:
        label += " " + _("(whole hall)")
    if e.tentative:
        label += " " + _("(preliminary)")
    if e.walkin == "rejected":
        label += " " + _("(rejected)")
    elif e.walkin == "pending":
        label += " " + _("(drop-in, not yet confirmed)")
    elif e.walkin == "accepted":
        label += " " + _("(drop-in)")
    return f"{span(e.start, e.end)}  {label}"


def row_title(tr: Translator, row: Row) -> str:
    if row.level and row.parent_name:
        return tr._("{section} (part of {hall})").format(section=row.name, hall=row.parent_name)
    return row.name


def now_next_text(tr: Translator, row: Row) -> str:
    _ = tr._
    parts = []
    if row.now is not None:
        parts.append(_("Now: {what}").format(what=entry_text(tr, row.now)))
    else:
        parts.append(_("Now: free"))
    if row.next is not None:
        parts.append(_("Next: {what}").format(what=entry_text(tr, row.next)))
    return " · ".join(parts)


def free_text(tr: Translator, row: Row) -> str:
    if not row.walkins:
        return ""
    if not row.free:
        return tr._("No free drop-in times left today")
    n = len(row.free)
    return tr.n_("{n} free time to book", "{n} free times to book", n).format(n=n)


def door_state_text(tr: Translator, line: DoorLine) -> str:
    mark = BAD if line.alarm else OK if line.state == "locked" else WARN
    return f"{mark} {tr._(DOOR_STATES.get(line.state, line.state))}"


def error_text(tr: Translator, code: str | None) -> str | None:
    return None if code is None else tr._(ERRORS.get(code, ERRORS["no_lease"]))


def code_text(code: str) -> str:
    """A door code as shown: ``123 456``."""
    return f"{code[:3]} {code[3:]}"


def code_speech(tr: Translator, code: str) -> str:
    """A door code read digit by digit (only when the visitor asks)."""
    return tr._("Your door code is {digits}.").format(digits=", ".join(code))


# --- what is spoken for each screen (never a door code) -------------------------


def today_speech(tr: Translator, view: TodayView) -> str:
    _ = tr._
    out = [_("Today at {place}, {date}.").format(place=view.facility, date=date_text(tr, view.day))]
    banner = banner_text(tr, view.health)
    if banner:
        out.append(banner.lstrip(OK + WARN + BAD + " "))
    for row in view.rows:
        out.append(f"{row_title(tr, row)}: {now_next_text(tr, row)}. {free_text(tr, row)}")
    return " ".join(s.strip() for s in out if s.strip())


def walkin_speech(tr: Translator, v: WalkinView) -> str:
    _ = tr._
    when = span(v.start, v.end)
    if v.state is W.CHOOSE:
        text = _("Book {resource}. Pick a start time and a length.").format(
            resource=v.resource_name
        )
    elif v.state is W.IDENTIFY:
        text = _("Tap your card on the reader.")
        if v.phone_allowed:
            text += " " + _("Or enter your phone number.")
    elif v.state is W.CONFIRM:
        text = _("{resource}, {when}. {price}. Press Confirm to book.").format(
            resource=v.resource_name, when=when, price=tr._(PRICES[v.price or "person"])
        )
    elif v.state is W.DONE and v.done is not None:
        text = _("Booked: {resource}, {when}. {verdict}. Your door code is on the screen.").format(
            resource=v.resource_name, when=span(v.done.start, v.done.end),
            verdict=tr._(VERDICTS[v.done.verdict]),
        )  # fmt: skip
    else:
        text = ""
    err = error_text(tr, v.error)
    return f"{err} {text}".strip() if err else text


def leader_speech(tr: Translator, v: LeaderView) -> str:
    _ = tr._
    if v.booking is None:
        return _("No booking for your team today.")
    text = _("{team}: {resource}, {when}.").format(
        team=v.team, resource=v.resource_name, when=span(v.start, v.end)
    )
    if v.stage == "start":
        text += " " + _("Enter the headcount at the start.")
    elif v.stage == "end":
        text += " " + _("Confirm the headcount at the end.")
    err = error_text(tr, v.error)
    return f"{err} {text}" if err else text


def caretaker_speech(tr: Translator, v: CaretakerView) -> str:
    _ = tr._
    text = tr.n_("{n} alarm.", "{n} alarms.", v.alarms).format(n=v.alarms)
    for d in v.doors:
        text += f" {d.name}: {door_state_text(tr, d).lstrip(OK + WARN + BAD + ' ')}."
    return text


def rejected_text(tr: Translator, line: RejectedLine) -> str:
    text = tr._("{resource} at {time}: the drop-in booking was rejected by the booking system.")
    text = text.format(resource=line.resource, time=line.start.strftime("%d/%m %H:%M"))
    return f"{BAD} {text}" + (f" ({line.reason})" if line.reason else "")


def notice_lines(tr: Translator, notice: Notice) -> list[str]:
    lines = [error_text(tr, notice.error) or ""] if notice.error else []
    return lines + [rejected_text(tr, r) for r in notice.rejected]


def notice_speech(tr: Translator, notice: Notice) -> str:
    return " ".join(line.lstrip(OK + WARN + BAD + " ") for line in notice_lines(tr, notice))
