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
  once per kiosk run (``from_central.Rejections``; in the caretaker view
  until it is over); so is one booked with the phone number a visitor types
  for a new walk-in.
- Speech is on from the start when the kiosk's ``speech`` setting is (the
  kiosk profile's default); the header's speech button turns it off for this
  visitor. The current screen is spoken once on every change (the free times
  too), and so is every confirmation and error: an utterance equal to the
  last one is not said again unless asked ("read aloud"). A door code, and
  the digits typed on the keypad, are spoken only to a headset, and the
  code only on request (``speak_code``); without a headset the code is
  spoken on request through the speaker.
- The idle warning counts down every second on screen, and speech announces
  it when it starts and at 10, 5, 3, 2 and 1 seconds; any touch or key
  extends it, without limit.
- ``message`` commands from central (PROTOCOL.md §6) are taken on the next
  poll (``from_central.Messages``): a public one is shown on every screen and
  spoken once, a caretaker's in the caretaker view.
- A stored record that does not decode (``ReplicaCorrupt``) never ends the
  kiosk: it is reported (``Services.corrupt``, watched by the link, which
  asks central for a snapshot). A poll that meets one keeps the screen it
  had and reads again at the next change of data or minute; an action that
  meets one shows the "try again" notice; at start, Today shows no bookings
  (``unreadable_today``) until a poll reads them.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from enum import Enum

from firmware_config.runtime import Notifier
from sync.replica import ReplicaCorrupt, beat, kiosk_taps_after, last_kiosk_tap_id

from . import texts
from .caretaker import CaretakerModel, Notice, RejectedLine
from .from_central import Messages, Rejections
from .i18n import Translator, available, translator
from .identity import IdentifyFailed, identify
from .leader import LeaderFlow
from .prefs import TEXT_SCALES, VOLUMES, Prefs
from .services import Services
from .timing import Phase, TimeLimit
from .today import TodayView, build_today, unreadable_today
from .walkin import W, WalkinFlow

BEAT_S = 5.0

COUNTDOWN_SPOKEN = (10, 5, 3, 2, 1)  # seconds left that the idle warning says aloud


class Screen(Enum):
    TODAY = "today"
    WALKIN = "walkin"
    LEADER = "leader"
    CARETAKER = "caretaker"
    NOTICE = "notice"


class KioskModel:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        s = svc.settings
        offered = [lang for lang in s.languages if lang in available()]
        self.languages = tuple(offered) or ("en",)
        self.default_prefs = Prefs.default(s, self.languages)
        self.prefs = self.default_prefs
        self.screen = Screen.TODAY
        self.walkin: WalkinFlow | None = None
        self.leader: LeaderFlow | None = None
        self.caretaker: CaretakerModel | None = None
        self.notice: Notice | None = None
        self._then: Screen = Screen.TODAY
        self.limit = TimeLimit(float(s.idle_timeout_s), svc.clock.monotonic())
        self.warning = False
        self.rejections = Rejections(svc)
        self.last_tap = last_kiosk_tap_id(svc.rep)
        self._mark: tuple[object, ...] | None = self._data_mark()
        try:
            self.today: TodayView = self._build_today()
        except ReplicaCorrupt as exc:
            self.corrupt(exc)
            self._mark = None  # read again at the first poll
            self.today = unreadable_today(
                svc.rep, svc.clock.now(), clock_trusted=svc.clock.trusted()
            )
        self.spoken: list[str] = []  # what was said, newest last (tests, the speech log)
        self._last_said = ""
        self._countdown = -1  # the idle warning's seconds last shown
        self.keypad = ""  # digits typed on the on-screen keypad (a phone number)
        self.started = svc.clock.now()
        self._next_beat = 0.0
        self.notifier = Notifier()
        self.messages = Messages(svc)
        try:
            self.messages.load()
        except ReplicaCorrupt as exc:
            self.corrupt(exc)
        self.svc.speaker.set_volume(VOLUMES[self.prefs.volume])

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
        self.say(
            self.tr._("High contrast on")
            if self.prefs.high_contrast
            else self.tr._("High contrast off")
        )

    def toggle_speech(self) -> None:
        """The header's labelled speech button: off for this visitor, or on again."""
        on = not self.prefs.speech
        self.prefs = replace(self.prefs, speech=on)
        self.touch()
        if on:
            self.say(self.tr._("Speech on."), forced=True)
            self.announce()
        else:
            self.say(self.tr._("Speech off."), forced=True)

    def cycle_volume(self) -> None:
        self.prefs = replace(self.prefs, volume=(self.prefs.volume + 1) % len(VOLUMES))
        self.svc.speaker.set_volume(VOLUMES[self.prefs.volume])
        self.touch()
        self.say(self.volume_label(), forced=True)

    def volume_label(self) -> str:
        return self.tr._("Volume {n} of {total}").format(
            n=self.prefs.volume + 1, total=len(VOLUMES)
        )

    def say(self, text: str, *, forced: bool = False, private: bool = False) -> None:
        """Speak ``text`` once: when speech is on (or ``forced``, a visitor's
        request), and not when it equals the last thing said (unless forced).
        ``private`` goes to the headset only."""
        if not text or not (forced or self.prefs.speech):
            return
        if text == self._last_said and not forced:
            return
        self._last_said = text
        self.spoken.append(text)
        del self.spoken[:-50]
        if self.svc.speaker.available:
            self.svc.speaker.say(text, self.prefs.lang, private=private)

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
        speech = texts.today_speech(tr, self.today)
        message = self.messages.public
        if message:
            speech = tr._("Message: {text}").format(text=message) + " " + speech
        return speech

    def announce(self, *, forced: bool = False) -> None:
        """Speak the current screen (the "read aloud" button forces it)."""
        self.say(self.screen_speech(), forced=forced)

    def speak_code(self) -> None:
        """Read the door code aloud: only when the visitor asks; to the headset
        when there is one (nobody else hears it), else through the speaker."""
        if self.walkin is not None and self.walkin.done is not None:
            words = texts.code_speech(self.tr, self.walkin.done.code)
            private = self.svc.speaker.has_headset
            self.say(words, forced=True, private=private)
            if private:
                self.say(self.tr._("The code is read in the headset."), forced=True)

    # --- messages from central ---------------------------------------------------------

    def take_messages(self) -> bool:
        """Take central's pending messages (answers ``command.done``), speak a
        public one; True if any, or when a new day took yesterday's away."""
        took = self.messages.new_day()
        for msg in self.messages.take():
            took = True
            if msg.audience == "public" and msg.text:
                self.say(self.tr._("Message: {text}").format(text=msg.text))
            if self.caretaker is not None:
                self.caretaker.message = self.messages.caretaker
        return took

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
        self._countdown = -1

    def extend(self) -> None:
        """The "more time" button of the warning."""
        self.limit.extend(self.svc.clock.monotonic())
        self.warning = False
        self._countdown = -1
        self.say(self.tr._("More time."), forced=True)

    def countdown(self) -> int:
        """Whole seconds left before the kiosk returns to the start (rounded up)."""
        return math.ceil(self.remaining())

    @property
    def idle_limited(self) -> bool:
        return self.screen is not Screen.TODAY or self.prefs != self.default_prefs

    def remaining(self) -> float:
        return self.limit.remaining(self.svc.clock.monotonic())

    def _data_mark(self) -> tuple[object, ...]:
        st = self.svc.rep.state()
        return (st.applied_rev, st.last_seq, st.acked_through, st.head_seen_at)

    def _build_today(self) -> TodayView:
        svc = self.svc
        return build_today(svc.rep, svc.node_id, svc.clock.now(), clock_trusted=svc.clock.trusted())

    def refresh_today(self) -> None:
        self.today = self._build_today()

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
            if phase is Phase.WARNING:
                left = self.countdown()
                if not self.warning:
                    self.warning = True
                    self.say(
                        self.tr._(
                            "Do you need more time? The kiosk returns to the start in "
                            "{n} seconds. Touch the screen or press any key to continue."
                        ).format(n=left),
                        forced=self.screen is not Screen.TODAY,
                    )
                elif left != self._countdown and left in COUNTDOWN_SPOKEN:
                    self.say(self.tr.n_("{n} second", "{n} seconds", left).format(n=left))
                if left != self._countdown:
                    self._countdown = left
                    changed = True  # the warning's number is redrawn every second
        try:
            return self._poll_data() or changed
        except ReplicaCorrupt as exc:
            self.corrupt(exc)
            return changed

    def _poll_data(self) -> bool:
        """New data, the minute turning, messages and taps (``tick``)."""
        changed = False
        mark = self._data_mark()
        now = self.svc.clock.now()
        minute = now.astimezone(self.today.now.tzinfo).replace(second=0, microsecond=0)
        if mark != self._mark or minute != self.today.now.replace(second=0, microsecond=0):
            self._mark = mark
            self.refresh_today()
            if self.walkin is not None:
                self.walkin.refresh()
            changed = True
        if self.take_messages():
            changed = True
        for tap in kiosk_taps_after(self.svc.rep, self.svc.settings.id, self.last_tap):
            self.last_tap = tap.id
            self.on_tap(tap.digest)
            changed = True
        return changed

    def corrupt(self, exc: ReplicaCorrupt) -> None:
        """A stored record that does not decode: reported (module rules)."""
        if self.svc.corrupt is not None:
            self.svc.corrupt.met(exc, self.svc.clock.now())

    # --- taps and identification ------------------------------------------------------

    def on_tap(self, digest: str) -> None:
        """A card on this kiosk's reader."""
        self.touch()
        if self.screen is Screen.WALKIN and self.walkin is not None:
            if self.walkin.state is W.IDENTIFY:
                self.walkin.tap(digest)
                rejected = self.rejections.unseen(self.walkin.identity, None)
                if rejected:
                    self._notify(Notice(None, rejected), Screen.WALKIN)
                else:
                    self.announce()
            return  # a card elsewhere in the walk-in flow means nothing
        try:
            who = identify(self.svc.rep, digest, self.svc.clock.now())
        except IdentifyFailed as exc:
            self._notify(Notice(f"card_{exc.reason}"), Screen.TODAY)  # spoken once, there
            return
        self.walkin = self.leader = self.caretaker = None
        if who.caretaker:
            self.caretaker = CaretakerModel(self.svc, who, self.messages.caretaker)
            target = Screen.CARETAKER
        else:
            self.leader = LeaderFlow(self.svc, who)
            target = Screen.LEADER
        rejected = self.rejections.unseen(who, None)
        if rejected:
            self._notify(Notice(None, rejected), target)
        else:
            self._show(target)

    # --- the on-screen keypad (a private person's phone number) ---------------------

    def key(self, digit: str) -> None:
        """A key of the phone keypad (screen or keyboard). The digit itself is
        spoken only to a headset; the speaker says how many there are."""
        if len(digit) == 1 and digit in "0123456789+" and len(self.keypad) < 16:
            self.keypad += digit
            self._say_keypad(digit)
        self.touch()

    def key_back(self) -> None:
        self.keypad = self.keypad[:-1]
        self.touch()
        self._say_keypad(None)

    def _say_keypad(self, typed: str | None) -> None:
        n = sum(c.isdigit() for c in self.keypad)
        count = self.tr.n_("{n} digit", "{n} digits", n).format(n=n)
        if self.svc.speaker.has_headset and self.prefs.speech:
            word = self.tr._("erased") if typed is None else typed
            self.say(f"{word}. {count}", forced=True, private=True)
        else:
            self.say((self.tr._("Erased.") + " " if typed is None else "") + count, forced=False)

    # --- the leader's number pad --------------------------------------------------

    def count_field(self, field: str) -> None:
        if self.leader is not None:
            self.leader.select(field)
            self.touch()
            self.announce()

    def count_digit(self, d: str) -> None:
        if self.leader is not None:
            self.leader.digit(d)
            self.touch()
            v = self.leader.view()
            err = texts.error_text(self.tr, v.error)
            self.say(err or texts.counts_text(self.tr, v.participants, v.leaders))

    def count_erase(self) -> None:
        if self.leader is not None:
            self.leader.erase()
            self.touch()
            v = self.leader.view()
            self.say(texts.counts_text(self.tr, v.participants, v.leaders))

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
            rejected = self.rejections.unseen(None, flow.phone)
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
        except ReplicaCorrupt as exc:
            self.corrupt(exc)
            self._notify(Notice("db_busy"), self.screen)
            return
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
