"""``OsdpBus``: a libosdp control panel for the OSDP readers on one serial line.

Rules this module guarantees:
- Every reader on a bus has its own 16-byte SCBK and the control panel runs
  with ``EnforceSecure`` (never install mode, never the default key SCBK-D),
  so a reader is online only after the secure channel handshake proved it
  holds that key (``decoder``). A reader with a wrong key is never online; its
  first failure is reported as ``ReaderOffline(reason="secure channel failed")``.
- libosdp's callbacks run under its lock, so ours only convert and enqueue:
  they never call into libosdp and never raise (failures are counted in
  ``stats()``). Events beyond ``max_events`` not yet polled are dropped and
  counted, never waited for.
- ``signal`` sends only the LED and buzzer commands of ``codec.command_for``.
  It returns False instead of blocking when ``MAX_QUEUED`` commands for that
  reader are still outstanding (libosdp 3.2.9 as built here queues without
  limit, each command waits for a poll cycle, so feedback would go stale) or
  the reader is offline; commands still queued when a reader drops are flushed.
  Status polls (``osdp_ISTAT``, ``osdp_LSTAT``…) are never sent: libosdp
  3.2.9's PD loses its reply to them.
- libosdp keeps a failed reader offline for 300 s; the supervisor instead
  retries after ``reconnect_after_s`` doubling per failure (at most 300 s,
  ``reconnect``), by disabling and enabling the reader. A line whose reads fail
  for ``reopen_after_s`` is closed and reopened (backoff up to 30 s).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import osdp
import serial

from ...serialport import close_quietly
from ..eventqueue import drain
from ..events import Feedback, ReaderError, ReaderEvent, ReaderOffline
from .channel import SerialChannel
from .codec import MAX_ADDRESS, SCBK_BYTES, command_for
from .decoder import NO_RESPONSE, SC_FAILED, SC_UNSUPPORTED, EventDecoder, LinkNote
from .reconnect import Phase, Reconnect

log = logging.getLogger(__package__)  # the package's logger, named as before the split

MAX_QUEUED = 4  # outstanding commands per reader


@dataclass(frozen=True, slots=True)
class OsdpReader:
    """One reader on a bus: our id, its OSDP address and its secure channel base key."""

    reader_id: str
    address: int
    scbk: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.address <= MAX_ADDRESS:
            raise ValueError(f"reader {self.reader_id}: address must be 0..{MAX_ADDRESS}")
        if len(self.scbk) != SCBK_BYTES:
            raise ValueError(f"reader {self.reader_id}: the SCBK must be {SCBK_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class OsdpStats:
    callback_errors: int
    dropped_events: int  # the event queue was full
    ignored_events: int  # from readers that were not online
    channel_errors: int


class OsdpBus:
    """``ReaderPort`` for the OSDP readers on one serial line (a pyserial URL)."""

    def __init__(
        self,
        url: str,
        readers: Sequence[OsdpReader],
        *,
        baudrate: int = 9600,
        reconnect_after_s: float | None = 5.0,
        reopen_after_s: float = 1.0,
        log_level: int = osdp.LogLevel.Error,
        max_events: int = 1024,
    ) -> None:
        if not readers:
            raise ValueError("an OSDP bus needs at least one reader")
        if len({r.reader_id for r in readers}) != len(readers):
            raise ValueError("reader ids on a bus must be unique")
        if len({r.address for r in readers}) != len(readers):
            raise ValueError("reader addresses on a bus must be unique")
        self.url, self.readers, self.baudrate = url, tuple(readers), baudrate
        self._index = {r.reader_id: i for i, r in enumerate(self.readers)}
        self._log_level = log_level
        self._events: queue.Queue[ReaderEvent] = queue.Queue(max_events)
        self._notes: queue.SimpleQueue[LinkNote] = queue.SimpleQueue()
        self._decoder = EventDecoder([r.reader_id for r in self.readers])
        self._links = [Reconnect(reconnect_after_s) for _ in self.readers]
        self._reopen_after_s, self._reopen_delay, self._next_reopen = reopen_after_s, 1.0, 0.0
        self._stop = threading.Event()
        self._port: serial.SerialBase | None = None
        self._channel: SerialChannel | None = None
        self._cp: Any = None
        self._supervisor: threading.Thread | None = None
        self._callback_errors = self._dropped = 0
        self._by_address = {r.address: i for i, r in enumerate(self.readers)}
        self._queued = [0] * len(self.readers)  # submitted, not yet completed
        self._queued_lock = threading.Lock()

    def __enter__(self) -> OsdpBus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Open the line and start libosdp and the supervisor; raises ``ReaderError``."""
        if self._port is not None or self._stop.is_set():
            raise ReaderError(f"OSDP bus {self.url} was already started")
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=0, write_timeout=0
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise ReaderError(f"cannot open OSDP bus {self.url}: {exc}") from exc
        self._channel = SerialChannel(self._port)
        flags = [osdp.LibFlag.EnforceSecure, osdp.LibFlag.EnableNotification]
        infos = [
            osdp.PDInfo(r.address, self._channel, scbk=r.scbk, name=r.reader_id, flags=flags)
            for r in self.readers
        ]
        try:
            self._cp = osdp.ControlPanel(infos, log_level=self._log_level)
            # Replace the binding's handler: it also keeps every event in an
            # unbounded per-PD queue that nobody reads.
            self._cp.ctx.set_event_callback(self._on_event)
            self._cp.set_command_completion_handler(self._on_completion)
            self._cp.start()
        except Exception as exc:
            self._cp = None
            close_quietly(self._port, self.url)  # the setup's error is what matters
            raise ReaderError(f"cannot set up libosdp on {self.url}: {exc}") from exc
        self._supervisor = threading.Thread(
            target=self._supervise, name=f"osdp-supervisor {self.url}", daemon=True
        )
        self._supervisor.start()

    def stop(self) -> None:
        """Stop the supervisor and libosdp and close the line; idempotent."""
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        if self._cp is not None:
            self._cp.teardown()  # joins libosdp's refresh thread, frees its context
            self._cp = None
        if self._port is not None:
            close_quietly(self._port, self.url)  # an adapter pulled out must not stop a stop

    def poll(self, timeout: float) -> list[ReaderEvent]:
        """Events in arrival order; waits up to ``timeout`` s for the first."""
        return drain(self._events, timeout)

    def signal(self, reader: str, feedback: Feedback) -> bool:
        """Queue ``feedback`` on ``reader`` (``KeyError`` if unknown); False if not queued."""
        index = self._index[reader]
        cp = self._cp
        if cp is None:
            return False
        with self._queued_lock:
            if self._queued[index] >= MAX_QUEUED:
                return False
            self._queued[index] += 1
        try:
            queued = bool(cp.submit_command(self.readers[index].address, command_for(feedback)))
        except Exception as exc:
            log.error("OSDP command to %s failed: %s", reader, exc)
            queued = False
        if not queued:
            self._done(index)
        return queued

    def is_online(self, reader: str) -> bool:
        return self._decoder.online(self._index[reader])

    def stats(self) -> OsdpStats:
        channel = self._channel.errors if self._channel else 0
        return OsdpStats(self._callback_errors, self._dropped, self._decoder.ignored, channel)

    # -- libosdp's thread ---------------------------------------------------------

    def _on_event(self, index: int, ev: dict[str, Any]) -> int:
        """libosdp's event callback: under its lock, so convert and enqueue only."""
        try:
            events, note = self._decoder.decode(index, ev)
            for event in events:
                self._put(event)
            if note is not None:
                self._notes.put(note)
        except Exception:
            self._callback_errors += 1
        return 0

    def _on_completion(self, address: int, command: object, status: int) -> None:
        """libosdp's command completion callback (sent, failed, flushed or aborted)."""
        index = self._by_address.get(address)
        if index is not None:
            self._done(index)

    def _done(self, index: int) -> None:
        with self._queued_lock:
            self._queued[index] = max(0, self._queued[index] - 1)

    def _put(self, event: ReaderEvent) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            with self._queued_lock:
                self._dropped += 1

    # -- the supervisor thread ------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                note: LinkNote | None = self._notes.get(timeout=0.1)
            except queue.Empty:
                note = None
            now = time.monotonic()
            try:
                if note is not None:
                    self._on_note(note, now)
                self._reopen(now)
                for index, link in enumerate(self._links):
                    self._retry(index, link, now)
            except Exception:
                log.exception("OSDP supervisor on %s", self.url)

    def _on_note(self, note: LinkNote, now: float) -> None:
        link, reader = self._links[note.index], self.readers[note.index]
        if note.online:
            link.went_online()
            return
        self._cp.flush_commands(reader.address)  # no stale feedback when it returns
        if link.went_offline(now, note.reported):
            self._put(ReaderOffline(reader.reader_id, self._failure_reason(reader.address)))

    def _reopen(self, now: float) -> None:
        """Reopen a line that has failed for ``reopen_after_s`` (backoff 1 s .. 30 s)."""
        channel = self._channel
        since = channel.failing_since if channel else None
        if channel is None or since is None or now - since < self._reopen_after_s:
            return
        if now < self._next_reopen:
            return
        if channel.reopen():
            self._reopen_delay = 1.0
            for link in self._links:  # the line is back: retry the readers now
                link.retry_now(now)
        else:
            self._reopen_delay = min(self._reopen_delay * 2, 30.0)
        self._next_reopen = now + self._reopen_delay

    def _retry(self, index: int, link: Reconnect, now: float) -> None:
        address = self.readers[index].address
        if link.due(now):
            if self._cp.is_pd_enabled(address):
                self._cp.disable_pd(address)
                link.phase = Phase.DISABLING
            else:
                self._cp.enable_pd(address)
                link.phase = Phase.ATTEMPT
        elif link.phase is Phase.DISABLING and not self._cp.is_pd_enabled(address):
            self._cp.enable_pd(address)
            link.phase = Phase.ATTEMPT

    def _failure_reason(self, address: int) -> str:
        """Why a reader that was not online failed: it answered (caps known) or not."""

        def cap(code: int) -> int:
            return int(self._cp.check_capability(address, code)[0])

        if cap(osdp.Capability.CommunicationSecurity):
            return SC_FAILED
        if cap(osdp.Capability.CheckCharacter) or cap(osdp.Capability.ReceiveBufferSize):
            return SC_UNSUPPORTED
        return NO_RESPONSE
