"""The kiosk as a whole, without a window: which screen, which language,
which flow, the idle limit, taps from the kiosk's reader and speech.

Rules this module guarantees:
- One ``KioskModel`` per kiosk, built with ``Services``; the Kivy app only
  renders ``model`` state and forwards touches to its methods.
- ``tick`` is the only poll: it notices new data (the replica's sync state
  moved: new central data, a new outbox event such as a door or reader
  change, an ack with a walk-in verdict), new taps on this kiosk's reader
  (``kiosk_taps_after``), the minute turning, and the idle limit. Each poll is
  a couple of indexed reads; nothing waits on the network or a reader.
- Any screen but Today, and any visitor preference, is under the idle limit:
  warned ``TimeLimit.warn_s`` before, extended by any touch, and on expiry the
  kiosk returns to Today in the default language with default preferences.
- A tap on Today identifies: a caretaker opens the caretaker view, anyone
  else the leader view. A walk-in of theirs central rejected is shown first,
  once per kiosk run (and in the caretaker view until it is over); so is one
  booked with the phone number a visitor types for a new walk-in. Who booked
  (holder or phone digest) comes from the node database (``rejected_walkins``),
  so a restart loses nothing; only "already shown in this run" is in memory.
- Speech: the current screen is spoken on every change when the kiosk's
  ``speech`` setting is on (and on request by the "read aloud" button), and so
  is every confirmation and error; a door code only by ``speak_code``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from firmware_config.runtime import Notifier
from sync.replica import (
    Resource,
    beat,
    kiosk_taps_after,
    last_kiosk_tap_id,
    rejected_walkins,
)

from . import texts
from .caretaker import CaretakerModel, Notice, RejectedLine
from .i18n import Translator, available, translator
from .identity import IdentifyFailed, Identity, identify
from .leader import LeaderFlow
from .services import Services
from .timing import Phase, TimeLimit
from .today import TodayView, build_today
from .walkin import W, WalkinFlow

BEAT_S = 5.0

TEXT_SCALES = (1.0, 1.3, 1.6)


class Screen(Enum):
    TODAY = "today"
    WALKIN = "walkin"
    LEADER = "leader"
    CARETAKER = "caretaker"
    NOTICE = "notice"


@dataclass(frozen=True, slots=True)
class Prefs:
    lang: str
    text_size: int = 0  # index into TEXT_SCALES
    high_contrast: bool = False

    @property
    def scale(self) -> float:
        return TEXT_SCALES[self.text_size]


class KioskModel:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        s = svc.settings
        offered = [lang for lang in s.languages if lang in available()]
        self.languages = tuple(offered) or ("en",)
        self.default_prefs = Prefs(
            s.default_language if s.default_language in self.languages else self.languages[0]
        )
        self.prefs = self.default_prefs
        self.screen = Screen.TODAY
        self.walkin: WalkinFlow | None = None
        self.leader: LeaderFlow | None = None
        self.caretaker: CaretakerModel | None = None
        self.notice: Notice | None = None
        self._then: Screen = Screen.TODAY
        self.limit = TimeLimit(float(s.idle_timeout_s), svc.clock.monotonic())
        self.warning = False
        self.shown_rejections: set[str] = set()  # booking ids, this kiosk run
        self.last_tap = last_kiosk_tap_id(svc.rep)
        self._mark = self._data_mark()
        self.today: TodayView = build_today(svc.rep, svc.node_id, svc.clock.now())
        self.spoken: list[str] = []  # what was last said (for tests and the screen reader log)
        self.keypad = ""  # digits typed on the on-screen keypad (a phone number)
        self.started = svc.clock.now()
        self._next_beat = 0.0
        self.notifier = Notifier()

    # --- language, preferences, speech -------------------------------------------

    @property
    def tr(self) -> Translator:
        return translator(self.prefs.lang)

    def set_language(self, lang: str) -> None:
        if lang not in self.languages:
            raise ValueError(f"language {lang!r} is not offered")
        self.prefs = replace(self.prefs, lang=lang)
        self.touch()
        self.announce()

    def cycle_text_size(self) -> None:
        self.prefs = replace(self.prefs, text_size=(self.prefs.text_size + 1) % len(TEXT_SCALES))
        self.touch()

    def toggle_contrast(self) -> None:
        self.prefs = replace(self.prefs, high_contrast=not self.prefs.high_contrast)
        self.touch()

    def say(self, text: str, *, forced: bool = False) -> None:
        if not text or not (forced or self.svc.settings.speech):
            return
        self.spoken.append(text)
        del self.spoken[:-20]
        if self.svc.speaker.available:
            self.svc.speaker.say(text, self.prefs.lang)

    def screen_speech(self) -> str:
        tr = self.tr
        if self.screen is Screen.WALKIN and self.walkin is not None:
            return texts.walkin_speech(tr, self.walkin.view())
        if self.screen is Screen.LEADER and self.leader is not None:
            return texts.leader_speech(tr, self.leader.view())
        if self.screen is Screen.CARETAKER and self.caretaker is not None:
            return texts.caretaker_speech(tr, self.caretaker.view())
        if self.screen is Screen.NOTICE and self.notice is not None:
            return texts.notice_speech(tr, self.notice)
        return texts.today_speech(tr, self.today)

    def announce(self, *, forced: bool = False) -> None:
        """Speak the current screen (the "read aloud" button forces it)."""
        self.say(self.screen_speech(), forced=forced)

    def speak_code(self) -> None:
        """Read the door code aloud: only when the visitor asks."""
        if self.walkin is not None and self.walkin.done is not None:
            self.say(texts.code_speech(self.tr, self.walkin.done.code), forced=True)

    # --- navigation ------------------------------------------------------------------

    def _show(self, screen: Screen) -> None:
        self.screen = screen
        self.touch()
        self.announce()

    def home(self) -> None:
        """Back to Today in the default language (idle expiry, Cancel, Done)."""
        for flow in (self.walkin, self.leader):
            if flow is not None and flow.state.value != "closed":
                flow.cancel()
        self.walkin = self.leader = None
        self.caretaker = self.notice = None
        self.keypad = ""
        self.prefs = self.default_prefs
        self.refresh_today()
        self._show(Screen.TODAY)

    def start_walkin(self, resource: str, start: datetime | None = None) -> None:
        self.walkin = WalkinFlow(self.svc, resource)
        if start is not None:
            self.walkin.pick(start)
        self._show(Screen.WALKIN)

    def dismiss_notice(self) -> None:
        self.notice = None
        if self._then is Screen.TODAY:
            self.home()
        else:
            self._show(self._then)

    def _notify(self, notice: Notice, then: Screen) -> None:
        self.notice, self._then = notice, then
        self._show(Screen.NOTICE)

    # --- time and data ---------------------------------------------------------------

    def touch(self) -> None:
        self.limit.touch(self.svc.clock.monotonic())
        self.warning = False

    def extend(self) -> None:
        """The "more time" button of the warning."""
        self.limit.extend(self.svc.clock.monotonic())
        self.warning = False

    @property
    def idle_limited(self) -> bool:
        return self.screen is not Screen.TODAY or self.prefs != self.default_prefs

    def remaining(self) -> float:
        return self.limit.remaining(self.svc.clock.monotonic())

    def _data_mark(self) -> tuple[object, ...]:
        st = self.svc.rep.state()
        return (st.applied_rev, st.last_seq, st.acked_through, st.head_seen_at)

    def refresh_today(self) -> None:
        self.today = build_today(self.svc.rep, self.svc.node_id, self.svc.clock.now())

    def heartbeat(self) -> None:
        """Say the kiosk is alive (systemd's watchdog, ``hallvakt status``)."""
        self.notifier.ready()
        self.notifier.alive()
        mono = self.svc.clock.monotonic()
        if mono < self._next_beat:
            return
        self._next_beat = mono + BEAT_S
        detail = {"screen": self.screen.value, "lang": self.prefs.lang}
        try:
            beat(self.svc.rep, "kiosk", self.started, self.svc.clock.now(), detail)
        except sqlite3.OperationalError:
            self._next_beat = mono + 1.0  # the database is busy: soon again

    def tick(self) -> bool:
        """One poll; True when the screen should be drawn again."""
        self.heartbeat()
        changed = False
        if self.idle_limited:
            phase = self.limit.phase(self.svc.clock.monotonic())
            if phase is Phase.EXPIRED:
                if self.walkin is not None and self.walkin.state is not W.CLOSED:
                    self.walkin.timeout()
                self.home()
                return True
            if phase is Phase.WARNING and not self.warning:
                self.warning = True
                self.say(self.tr._("Do you need more time? Touch the screen to continue."))
                changed = True
        mark = self._data_mark()
        now = self.svc.clock.now()
        minute = now.astimezone(self.today.now.tzinfo).replace(second=0, microsecond=0)
        if mark != self._mark or minute != self.today.now.replace(second=0, microsecond=0):
            self._mark = mark
            self.refresh_today()
            if self.walkin is not None:
                self.walkin.refresh()
            changed = True
        for tap in kiosk_taps_after(self.svc.rep, self.svc.settings.id, self.last_tap):
            self.last_tap = tap.id
            self.on_tap(tap.digest)
            changed = True
        return changed

    # --- taps and identification ------------------------------------------------------

    def _rejections(self, who: Identity | None, phone: str | None) -> tuple[RejectedLine, ...]:
        """Walk-ins central rejected that ``who`` (or whoever booked with the
        phone digest ``phone``) has not been shown in this kiosk run."""
        holders = set() if who is None else {who.holder.id, *(g.id for g in who.groups)}
        rep, tz = self.svc.rep, self.svc.rep.tz
        out = []
        for rej in rejected_walkins(rep, holders, phone):
            b = rej.booking
            if b.id in self.shown_rejections:
                continue
            res = rep.get(Resource, b.resources[0])
            name = res.name if res else b.resources[0]
            out.append(RejectedLine(b.id, name, b.start.astimezone(tz), rej.reason))
            self.shown_rejections.add(b.id)
        return tuple(out)

    def on_tap(self, digest: str) -> None:
        """A card on this kiosk's reader."""
        self.touch()
        if self.screen is Screen.WALKIN and self.walkin is not None:
            if self.walkin.state is W.IDENTIFY:
                self.walkin.tap(digest)
                rejected = self._rejections(self.walkin.identity, None)
                if rejected:
                    self._notify(Notice(None, rejected), Screen.WALKIN)
                else:
                    self.announce()
            return  # a card elsewhere in the walk-in flow means nothing
        try:
            who = identify(self.svc.rep, digest, self.svc.clock.now())
        except IdentifyFailed as exc:
            self._notify(Notice(f"card_{exc.reason}"), Screen.TODAY)
            self.say(texts.error_text(self.tr, f"card_{exc.reason}") or "", forced=False)
            return
        self.walkin = self.leader = self.caretaker = None
        if who.caretaker:
            self.caretaker = CaretakerModel(self.svc, who)
            target = Screen.CARETAKER
        else:
            self.leader = LeaderFlow(self.svc, who)
            target = Screen.LEADER
        rejected = self._rejections(who, None)
        if rejected:
            self._notify(Notice(None, rejected), target)
        else:
            self._show(target)

    # --- the on-screen keypad (a private person's phone number) ---------------------

    def key(self, digit: str) -> None:
        if digit in "0123456789+" and len(self.keypad) < 16:
            self.keypad += digit
        self.touch()

    def key_back(self) -> None:
        self.keypad = self.keypad[:-1]
        self.touch()

    def submit_phone(self) -> None:
        """Hand the typed number to the walk-in; the kiosk forgets the digits.

        Walk-ins booked earlier with the same number that central rejected are
        shown first (as for a card tapped in the walk-in).
        """
        typed, self.keypad = self.keypad, ""
        flow = self.walkin
        if flow is None:
            return
        self.touch()
        flow.enter_phone(typed)
        rejected: tuple[RejectedLine, ...] = ()
        if flow.state is W.CONFIRM and flow.phone is not None:
            rejected = self._rejections(None, flow.phone)
        if rejected:
            self._notify(Notice(None, rejected), Screen.WALKIN)
        else:
            self.announce()

    # --- actions from the screens ---------------------------------------------------

    def act(self, action: Callable[[], object]) -> None:
        """Run a screen's action; a busy database becomes a notice, never a hang."""
        self.touch()
        try:
            action()
        except sqlite3.OperationalError:
            self._notify(Notice("db_busy"), self.screen)
            return
        if self.walkin is not None and self.screen is Screen.WALKIN:
            if self.walkin.state is W.CLOSED:
                self.home()
                return
            if self.walkin.state is W.DONE and self.walkin.done is not None:
                self.refresh_today()
        if self.leader is not None and self.leader.state.value == "closed":
            self.home()
            return
        self.announce()
