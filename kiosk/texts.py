"""Every word the kiosk shows or speaks, from view-model states, in one language.

Rules this module guarantees:
- Pure functions of a ``Translator`` and a view-model state; screens and the
  speech output both use them, so what is spoken is what is shown.
- Status is never colour alone: every state has a word and a symbol.
- A door code appears only in ``code_text`` and ``code_speech``: the spoken
  screen and confirmation never contain it (codes are spoken only on request).
- Times are facility-local ``HH:MM`` on screen; every function that shows a
  time takes ``speak=True`` for the words a voice says instead
  (``kiosk.spoken``: "sjutton till arton", never "sjutton noll noll").
- Ages are rounded down to minutes, hours and days.
- A phone number on screen shows only its last ``PHONE_SHOWN`` digits.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sync.replica.door_health import DoorFault

from . import spoken
from .caretaker import CaretakerView, DoorLine, Notice, ReaderLine, RejectedLine
from .i18n import Translator
from .leader import LeaderView
from .today import Entry, Health, Row, Status, TodayView
from .walkin import W, WalkinView

PHONE_SHOWN = 2


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
    "access_clock_untrusted": N_(
        "Drop-in times cannot be sold right now: the kiosk's clock cannot be checked, "
        "so the door would not accept a code. Please ask the staff."
    ),
    "access_not_ours": N_("This time cannot be booked here. Please ask the staff."),
    "access_no_lease": N_("This time can no longer be booked here."),
    "access_outside_lease": N_("This time can no longer be booked here."),
    "access_lease_ended": N_("This time can no longer be booked here."),
}
REFUSALS = {
    "clock_untrusted": N_("Drop-in booking is paused: the kiosk's clock cannot be checked."),
    "not_ours": N_("Drop-in booking is not possible here now."),
    "no_lease": N_("Drop-in booking is not possible here now."),
    "outside_lease": N_("Drop-in booking is not possible here now."),
    "lease_ended": N_("Drop-in booking is not possible here now."),
}
READER_STATES = {
    "no answer": N_("not answering"),
    "link lost": N_("cable or connection lost"),
    "secure channel": N_("encryption failed"),
    "tamper": N_("cover opened"),
}
DIRECTIONS = {"in": N_("in"), "out": N_("out")}
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
# The door controller's database faults (sync.replica.door_health), for the caretaker.
FAULTS = {
    "read": N_("The door controller cannot read the database: doors let in staff only"),
    "write": N_("The door controller cannot write to the database: events wait in its journal"),
    "journal": N_("The door controller cannot save events: they are kept in its memory only"),
}
OK, WARN, BAD = "✓", "⚠", "✗"  # symbols beside words, never instead of them


def hhmm(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%H:%M")


def span(start: datetime | None, end: datetime | None) -> str:
    return f"{hhmm(start)}–{hhmm(end)}"


def at_text(tr: Translator, at: datetime | None, speak: bool = False) -> str:
    """A clock time: ``17:30`` on screen, words when spoken."""
    if at is None:
        return ""
    return spoken.time_words(at, tr.lang) if speak else hhmm(at)


def span_text(
    tr: Translator, start: datetime | None, end: datetime | None, speak: bool = False
) -> str:
    return spoken.span_words(start, end, tr.lang) if speak else span(start, end)


def plain(text: str) -> str:
    """``text`` without the status symbols (they are not read aloud)."""
    return text.replace(OK, "").replace(WARN, "").replace(BAD, "").replace("·", ",").strip()


def mask_phone(typed: str) -> str:
    """A phone number as shown while typed: every digit but the last
    ``PHONE_SHOWN`` as a dot (someone behind the visitor reads nothing)."""
    digits = sum(c.isdigit() for c in typed)
    out, seen = [], 0
    for c in typed:
        if c.isdigit():
            seen += 1
            out.append(c if seen > digits - PHONE_SHOWN else "•")
        else:
            out.append(c)
    return "".join(out)


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
    if health.level == "unreadable":
        return (
            WARN
            + " "
            + _(
                "The bookings cannot be read just now: "
                "they are being fetched again from the booking system."
            )
        )
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


def entry_text(tr: Translator, e: Entry, speak: bool = False) -> str:
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
    return f"{span_text(tr, e.start, e.end, speak)}  {label}"


def block_label(tr: Translator, e: Entry) -> str:
    """A booking's words inside its timeline block (no times: the axis has them)."""
    label = e.label or tr._("Booked")
    if e.tentative:
        label += " " + tr._("(preliminary)")
    if e.walkin == "pending":
        label += " " + tr._("(drop-in, not yet confirmed)")
    return label


def status_text(tr: Translator, status: Status, speak: bool = False) -> str:
    """The glance: "✓ Free until 17:00" / "✗ Busy until 18:30"."""
    _ = tr._
    until = at_text(tr, status.until, speak)
    if status.busy:
        words = _("Busy until {time}").format(time=until) if until else _("Busy")
        return words if speak else f"{BAD} {words}"
    words = _("Free until {time}").format(time=until) if until else _("Free all day")
    return words if speak else f"{OK} {words}"


def status_detail(tr: Translator, row: Row, speak: bool = False) -> str:
    """The line under a status: who has the room now, or what comes next."""
    _ = tr._
    s = row.status
    if s.busy:
        label = s.label or _("Booked")
        return label + (" " + _("(whole hall)") if s.via_hall and row.level else "")
    if row.next is not None:
        what = block_label(tr, row.next)
        return _("Next: {time} {what}").format(time=at_text(tr, row.next.start, speak), what=what)
    return _("No more bookings today")


def refusal_text(tr: Translator, reason: str | None) -> str:
    return "" if reason is None else tr._(REFUSALS.get(reason, REFUSALS["no_lease"]))


def row_title(tr: Translator, row: Row) -> str:
    if row.level and row.parent_name:
        return tr._("{section} (part of {hall})").format(section=row.name, hall=row.parent_name)
    return row.name


def now_next_text(tr: Translator, row: Row, speak: bool = False) -> str:
    _ = tr._
    parts = []
    if row.now is not None:
        parts.append(_("Now: {what}").format(what=entry_text(tr, row.now, speak)))
    else:
        parts.append(_("Now: free"))
    if row.next is not None:
        parts.append(_("Next: {what}").format(what=entry_text(tr, row.next, speak)))
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


def reader_name(tr: Translator, line: ReaderLine) -> str:
    """A reader by where it sits: "Huvudentrén, in", "Kiosk foyer"."""
    if line.door_name:
        way = DIRECTIONS.get(line.direction or "")
        return f"{line.door_name}, {tr._(way)}" if way else line.door_name
    if line.kiosk:
        return tr._("Kiosk {name}").format(name=line.kiosk)
    return line.reader


def reader_state_text(tr: Translator, line: ReaderLine) -> str:
    """Online, or offline with the cause in the screen's language."""
    if line.online:
        connected = tr._("Connected")
        return f"{OK} {connected}"
    detail = line.detail.lower()
    cause = next((tr._(words) for key, words in READER_STATES.items() if key in detail), "")
    words = tr._("NOT CONNECTED")
    return f"{BAD} {words}" + (f": {cause}" if cause else "")


def error_text(tr: Translator, code: str | None) -> str | None:
    return None if code is None else tr._(ERRORS.get(code, ERRORS["no_lease"]))


def code_text(code: str) -> str:
    """A door code as shown: ``123 456``."""
    return f"{code[:3]} {code[3:]}"


def code_speech(tr: Translator, code: str) -> str:
    """A door code read digit by digit (only when the visitor asks)."""
    digits = spoken.digits_words(code, tr.lang)
    return tr._("Your door code is {digits}. Then press the hash key.").format(digits=digits)


# --- what is spoken for each screen (never a door code) -------------------------


def free_speech(tr: Translator, row: Row) -> str:
    """The free times a visitor can book, spoken: "Free to book from eleven
    until twelve, from fourteen until sixteen"."""
    if not row.walkins:
        return ""
    if row.refusal and not row.free:
        return refusal_text(tr, row.refusal)
    windows = [w for w in row.windows if w.sellable]
    if not windows:
        return tr._("No free drop-in times left today.")
    spans = ", ".join(span_text(tr, w.start, w.end, True) for w in windows)
    return tr._("Free to book: {spans}.").format(spans=spans)


def today_speech(tr: Translator, view: TodayView) -> str:
    _ = tr._
    out = [_("Today at {place}, {date}.").format(place=view.facility, date=date_text(tr, view.day))]
    banner = banner_text(tr, view.health)
    if banner:
        out.append(plain(banner))
    for row in view.rows:
        if row.divisible:
            continue  # its sections speak for it
        status = status_text(tr, row.status, True)
        detail = status_detail(tr, row, True)
        out.append(f"{row_title(tr, row)}: {status}, {detail}. {free_speech(tr, row)}")
    return " ".join(s.strip() for s in out if s.strip())


def walkin_speech(tr: Translator, v: WalkinView) -> str:
    _ = tr._
    when = span_text(tr, v.start, v.end, True)
    if v.state is W.CHOOSE:
        text = _("Book {resource}. Pick a start time and a length.").format(
            resource=v.resource_name
        )
        if v.chosen is not None:
            text += " " + _("Chosen: {when}.").format(when=when)
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
            resource=v.resource_name, when=span_text(tr, v.done.start, v.done.end, True),
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
        team=v.team, resource=v.resource_name, when=span_text(tr, v.start, v.end, True)
    )
    if v.state.value == "done" and v.saved is not None:
        text = saved_text(tr, *v.saved)
    elif v.state.value == "count":
        text += " " + counts_text(tr, v.participants, v.leaders)
        field = _("participants") if v.field == "p" else _("leaders")
        text += " " + _("Type the number of {field} and press Save.").format(field=field)
    elif v.stage == "start":
        text += " " + _("Enter the headcount at the start.")
    elif v.stage == "end":
        text += " " + _("Confirm the headcount at the end.")
    err = error_text(tr, v.error)
    return f"{err} {text}" if err else text


def counts_text(tr: Translator, participants: int, leaders: int) -> str:
    p = tr.n_("{n} participant", "{n} participants", participants).format(n=participants)
    lead = tr.n_("{n} leader", "{n} leaders", leaders).format(n=leaders)
    return tr._("{participants} and {leaders}.").format(participants=p, leaders=lead)


def saved_text(tr: Translator, participants: int, leaders: int) -> str:
    """What "Thank you!" repeats: the counts that were saved."""
    return tr._("Thank you! Saved: {counts}").format(counts=counts_text(tr, participants, leaders))


def caretaker_speech(tr: Translator, v: CaretakerView) -> str:
    _ = tr._
    listed = alarms(v)
    text = tr.n_("{n} alarm.", "{n} alarms.", len(listed)).format(n=len(listed))
    for line in listed:
        text += f" {plain(alarm_text(tr, line))}."
    for d in v.doors:
        text += f" {d.name}: {plain(door_state_text(tr, d))}."
    if v.message is not None:
        text += " " + _("Message from the booking system: {text}").format(text=v.message)
    if v.confirming == "lockdown":
        text += " " + _("Lock every door now? Only staff cards will open.")
    elif v.confirming == "release":
        text += " " + _("Release the lockdown? The doors go back to their schedules.")
    return text


def alarm_text(tr: Translator, line: object) -> str:
    """One alarm line: a door in alarm, a reader not connected, or a fault of
    the door controller's database (in words, since when)."""
    if isinstance(line, DoorLine):
        return f"{line.name}: {door_state_text(tr, line)}"
    if isinstance(line, ReaderLine):
        return f"{reader_name(tr, line)}: {reader_state_text(tr, line)}"
    if isinstance(line, DoorFault):
        what = tr._(FAULTS.get(line.kind.value, FAULTS["read"]))
        since = tr._(" since {time}").format(time=hhmm(line.since))
        return f"{BAD} {what}{since}"
    return str(line)


def alarms(v: CaretakerView) -> tuple[object, ...]:
    """Every alarm the caretaker view counts, to be listed (the count is theirs)."""
    return (*v.alarm_lines, *v.door_faults)


def rejected_text(tr: Translator, line: RejectedLine) -> str:
    text = tr._("{resource} at {time}: the drop-in booking was rejected by the booking system.")
    text = text.format(resource=line.resource, time=line.start.strftime("%d/%m %H:%M"))
    return f"{BAD} {text}" + (f" ({line.reason})" if line.reason else "")


def notice_lines(tr: Translator, notice: Notice) -> list[str]:
    lines = [error_text(tr, notice.error) or ""] if notice.error else []
    return lines + [rejected_text(tr, r) for r in notice.rejected]


def notice_speech(tr: Translator, notice: Notice) -> str:
    return " ".join(plain(line) for line in notice_lines(tr, notice))
