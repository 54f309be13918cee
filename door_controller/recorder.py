"""``Recorder``: the door's write side of the node database, off the decision path.

The loop thread decides, drives the relay, then hands the step's records to
``submit``; the recorder's own thread (``start``) writes them on its own
connection. The loop never waits for a write.

Rules this module guarantees:
- Records are written in the order they were submitted, each batch in one
  transaction. A batch the database refuses (``database is locked`` after
  ``busy_timeout_s``, ``database or disk is full``, an I/O error) goes to the
  journal (``sync.replica.door_journal``), fsync'd, and so does every batch
  after it until the journal has been merged: the order holds.
- The journal is merged into the database (``merge_into``, nothing lost or
  repeated) at start and every ``merge_every_s`` while it holds records.
- When the journal cannot take a batch either (it could not be created, or is
  full), the records wait in memory, in order, and are written when the
  database or the journal takes them; only a process death loses those.
- Kiosk taps are not journalled: a tap that cannot be handed over at once is
  dropped (the kiosk would act on it minutes late otherwise).
- Every fault is on the ``FaultBoard`` (logged once, cleared when it ends),
  and the health file is rewritten when the board changes and every
  ``BEAT_S``; so is the heartbeat, when the database takes it.
- No database or file error escapes ``drain``: the recorder never dies of one.
  A database that could not be opened is opened again every ``REOPEN_S``.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sync.replica.attendance import sweep_no_shows
from sync.replica.door_fallback import StaffMemory, save_staff
from sync.replica.door_health import FaultKind, HealthFile
from sync.replica.door_journal import Journal, JournalError
from sync.replica.door_records import DURABLE, DoorRecord, write_records
from sync.replica.heartbeat import beat
from sync.replica.release import sweep_releases
from sync.replica.store import Replica, ReplicaError

from .faults import FaultBoard

log = logging.getLogger(__name__)
DB_ERRORS = (ReplicaError, sqlite3.Error)
BEAT_S = 5.0
MERGE_EVERY_S = 1.0
REOPEN_S = 5.0
MEMORY_MAX = 100_000  # records held in memory when neither database nor journal takes them


class Recorder:
    """Writes the door's records: to the database, else the journal, else memory."""

    def __init__(
        self,
        source: Replica | Callable[[], Replica],
        faults: FaultBoard,
        *,
        journal: Journal | None,
        health: HealthFile | None = None,
        staff_file: str | None = None,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        started: datetime | None = None,
    ) -> None:
        self.faults, self.journal, self.health = faults, journal, health
        self.rep: Replica | None = source if isinstance(source, Replica) else None
        self._open = None if isinstance(source, Replica) else source
        self._next_open = 0.0
        self.staff_file = staff_file
        self._now, self._mono = now, monotonic
        self._started = started or now()
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._held: deque[DoorRecord] = deque()  # neither database nor journal took them
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_merge = 0.0
        self._next_beat = 0.0
        self.detail: dict[str, Any] = {}  # the heartbeat's detail, set by the daemon
        self.written = 0  # records written straight to the database
        self.journalled = 0  # records that went to the journal
        if journal is None:
            self.faults.set(FaultKind.JOURNAL, "the journal could not be opened", now())

    # --- the loop thread's side ------------------------------------------------------

    def submit(self, records: Sequence[DoorRecord]) -> None:
        """Queue ``records`` for writing; never blocks, never raises."""
        if records:
            self._queue.put(("records", list(records)))

    def save_staff(self, mem: StaffMemory) -> None:
        """Queue a new staff memory for its file."""
        self._queue.put(("staff", mem))

    def sweep(self, now: datetime) -> None:
        """Queue the no-show sweep (``booking.no_show``) as of ``now``."""
        self._queue.put(("sweep", now))

    def unwritten(self) -> list[DoorRecord]:
        """Records not in the database yet (journal, then memory), oldest first.
        Only while the recorder's thread is not running."""
        journal = list(self.journal.pending().records) if self.journal is not None else []
        return journal + list(self._held)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="door-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (as far as the database or journal take it), then stop."""
        self._stop.set()
        self._queue.put(("wake", None))
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        else:
            self.drain()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                first = None
            self.drain(first)
        self.drain()

    # --- the recorder's side ------------------------------------------------------------

    def drain(self, first: tuple[str, Any] | None = None) -> None:
        """Write ``first`` and everything queued after it, merge the journal
        when due, beat. Never raises."""
        try:
            item = first
            while True:
                if item is None:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                kind, payload = item
                if kind == "records":
                    self._records(payload)
                elif kind == "staff":
                    self._staff(payload)
                elif kind == "sweep":
                    self._sweep(payload)
                item = None
            if self._mono() >= self._next_merge:
                self._next_merge = self._mono() + MERGE_EVERY_S
                self._merge()
            self._beat()
        except Exception:  # a bug must not stop the recording of what follows
            log.exception("door recorder")

    def _backlog(self) -> bool:
        return bool(self._held) or (self.journal is not None and len(self.journal) > 0)

    def _conn(self) -> Replica:
        """The connection, opened now if it could not be before (every ``REOPEN_S``);
        raises ``ReplicaError`` while it cannot be opened."""
        if self.rep is None:
            if self._open is None or self._mono() < self._next_open:
                raise ReplicaError("the node database could not be opened")
            self._next_open = self._mono() + REOPEN_S
            self.rep = self._open()
        return self.rep

    def _records(self, records: list[DoorRecord]) -> None:
        if not self._backlog():
            try:
                write_records(self._conn(), records)
                self.written += len(records)
                self.faults.clear(FaultKind.WRITE)
                return
            except DB_ERRORS as exc:
                self.faults.set(FaultKind.WRITE, f"cannot write the database: {exc}", self._now())
                self._next_merge = self._mono() + MERGE_EVERY_S
        durable: list[DoorRecord] = [r for r in records if isinstance(r, DURABLE)]
        if len(durable) < len(records):
            log.warning("kiosk tap dropped: the database does not take writes")
        self._hold(durable)

    def _hold(self, records: list[DoorRecord]) -> None:
        """Journal ``records`` behind what waits already; else keep them in memory."""
        if not records:
            return
        if self.journal is not None and not self._held:
            try:
                self.journal.append(records)
                self.journalled += len(records)
                self.faults.clear(FaultKind.JOURNAL)
                self._counts()
                return
            except JournalError as exc:
                self.faults.set(FaultKind.JOURNAL, str(exc), self._now())
        if len(self._held) + len(records) > MEMORY_MAX:
            log.error("%d door records lost: nothing takes them", len(records))
        else:
            self._held.extend(records)
        self._counts()

    def _merge(self) -> None:
        """Journal, then memory, into the database, in order."""
        if self.journal is not None and len(self.journal):
            try:
                n = self.journal.merge_into(self._conn())
            except DB_ERRORS as exc:
                self.faults.set(FaultKind.WRITE, f"cannot write the database: {exc}", self._now())
                return
            except JournalError as exc:
                self.faults.set(FaultKind.JOURNAL, str(exc), self._now())
                return
            log.info("merged %d journalled door records into the outbox", n)
        if self._held:
            batch = list(self._held)
            try:
                write_records(self._conn(), batch)
            except DB_ERRORS as exc:
                self.faults.set(FaultKind.WRITE, f"cannot write the database: {exc}", self._now())
                if self.journal is not None:  # perhaps the journal has room again
                    held, self._held = self._held, deque()
                    self._hold(list(held))
                return
            self._held.clear()
            log.info("wrote %d door records held in memory", len(batch))
        self.faults.clear(FaultKind.WRITE)
        if self.journal is not None:
            self.faults.clear(FaultKind.JOURNAL)
        self._counts()

    def _counts(self) -> None:
        self.faults.counts(len(self.journal) if self.journal is not None else 0, len(self._held))

    def _sweep(self, now: datetime) -> None:
        try:  # a release first: a released booking is judged, never a no-show too
            sweep_releases(self._conn(), now)
            sweep_no_shows(self._conn(), now)
        except DB_ERRORS as exc:  # the next sweep covers the same span
            self.faults.set(FaultKind.WRITE, f"cannot write the database: {exc}", self._now())
            return
        if not self._backlog():
            self.faults.clear(FaultKind.WRITE)

    def _staff(self, mem: StaffMemory) -> None:
        if self.staff_file is None:
            return
        try:
            save_staff(self.staff_file, mem)
        except OSError as exc:
            log.warning("staff file not saved (the one before stays): %s", exc)

    def _beat(self) -> None:
        mono = self._mono()
        if not self.faults.changed and mono < self._next_beat:
            return
        beat_due = mono >= self._next_beat
        if beat_due:
            self._next_beat = mono + BEAT_S
        now = self._now()
        if self.health is not None:
            try:
                self.health.write(self.faults.health(now))
            except OSError as exc:
                log.debug("health file not written: %s", exc)
        if beat_due:
            detail = {**self.detail, "faults": [f.kind.value for f in self.faults.faults()]}
            try:
                beat(self._conn(), "door", self._started, now, detail)
            except DB_ERRORS as exc:  # a long writer elsewhere, a full disk: next time
                log.debug("heartbeat not written: %s", exc)
