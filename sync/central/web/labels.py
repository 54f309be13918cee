"""The words the page uses for codes from the store (marked for the catalogues).

One table per vocabulary; templates look a code up and translate it, and an
unknown code is shown as it is (a newer node may report a state this page
does not know yet).
"""

from __future__ import annotations

from .i18n import N_

PROBLEMS = {
    "offline": N_("Offline"),
    "door_forced": N_("Door forced"),
    "door_held_open": N_("Door held open"),
    "door_fire_release": N_("Fire release"),
    "door_lockdown": N_("Lockdown"),
    "door_powerless": N_("Lock without power"),
    "reader_offline": N_("Reader offline"),
    "tamper": N_("Tamper"),
    "clock_untrusted": N_("Clock not trusted"),
    "behind": N_("Data not up to date"),
}

DOOR_STATES = {
    "locked": N_("locked"),
    "unlocked": N_("unlocked"),
    "open": N_("open"),
    "held_open": N_("held open"),
    "forced": N_("forced open"),
    "lockdown": N_("lockdown"),
    "fire_release": N_("fire release"),
    "powerless": N_("without power"),
}
ALARM_DOOR_STATES = frozenset({"held_open", "forced", "lockdown", "fire_release", "powerless"})

READER_STATES = {"online": N_("online"), "offline": N_("offline")}

CLOCK_SOURCES = {
    "ntp": N_("network time"),
    "rtc": N_("hardware clock"),
    "none": N_("no time source: trusted by setting"),
}

KINDS = {
    "alarms": N_("All alarms"),
    "all": N_("All events"),
    "forced": N_("Door forced"),
    "held_open": N_("Door held open"),
    "fire_release": N_("Fire release"),
    "tamper": N_("Tamper"),
    "reader_offline": N_("Reader offline"),
    "lockdown": N_("Lockdown"),
    "security": N_("Security rejection"),
    "quarantine": N_("Quarantined message"),
}

FIELDS = {
    "door": N_("door"),
    "reader": N_("reader"),
    "state": N_("state"),
    "active": N_("active"),
    "reason": N_("reason"),
    "cmd": N_("command"),
    "result": N_("result"),
    "detail": N_("detail"),
    "topic": N_("topic"),
}

COMMANDS = {
    "unlock": N_("Unlock a door"),
    "lockdown": N_("Lock down every door"),
    "release": N_("End the lockdown"),
    "resync": N_("Resynchronise the node's data"),
    "message": N_("Message on the kiosk"),
}

COMMAND_STATES = {
    "queued": N_("queued"),
    "delivered": N_("delivered"),
    "done": N_("done (command.done)"),
    "failed": N_("failed"),
    "expired": N_("expired"),
}

ROLES = {
    "viewer": N_("viewer"),
    "grants": N_("grants officer"),
    "operator": N_("operator"),
    "admin": N_("admin"),
}

ACTIONS = {
    "command": N_("command sent"),
    "login": N_("signed in"),
    "login_failed": N_("sign-in failed"),
    "logout": N_("signed out"),
    "account_added": N_("account added"),
    "account_changed": N_("account changed"),
    "node_registered": N_("node registered"),
    "report_viewed": N_("report viewed"),
    "report_downloaded": N_("report downloaded"),
}

BOOKING_STATUS = {
    "confirmed": N_("confirmed"),
    "tentative": N_("tentative"),
    "cancelled": N_("cancelled"),
    "rejected": N_("rejected"),
}
HOLDER_KINDS = {
    "association": N_("association"),
    "person": N_("private person"),
    "staff": N_("staff"),
    "internal": N_("internal customer"),
}

ALL = {
    "PROBLEMS": PROBLEMS,
    "DOOR_STATES": DOOR_STATES,
    "ALARM_DOOR_STATES": ALARM_DOOR_STATES,
    "READER_STATES": READER_STATES,
    "CLOCK_SOURCES": CLOCK_SOURCES,
    "KINDS": KINDS,
    "FIELDS": FIELDS,
    "COMMANDS": COMMANDS,
    "COMMAND_STATES": COMMAND_STATES,
    "ROLES": ROLES,
    "ACTIONS": ACTIONS,
    "BOOKING_STATUS": BOOKING_STATUS,
    "HOLDER_KINDS": HOLDER_KINDS,
}
