"""OSDP readers: a libosdp control panel on one serial line, secure channel enforced.

Rules this module guarantees:
- Every reader on a bus has its own 16-byte SCBK and the control panel runs
  with ``EnforceSecure`` (never install mode, never the default key SCBK-D): a
  reader is reported ``ReaderOnline`` only after the secure channel handshake
  proved it holds that key, and nothing it sends is delivered while it is not
  online. A reader with a wrong key is never online; its first failure is
  reported as ``ReaderOffline(reason="secure channel failed")``.
- libosdp's callback runs under its lock, so ours only converts and enqueues:
  it never calls into libosdp and never raises (failures are counted in
  ``stats()``). The serial channel never raises into libosdp either; it never
  blocks (pyserial ``timeout=0``, non-blocking writes) and counts errors.
- ``signal`` sends only what the simulator and a real reader must declare in
  their capabilities (SIA OSDP 2.2 §6.10 ``osdp_LED``, LED control; §6.11
  ``osdp_BUZ``, audible output): one LED command holding only a temporary state
  (control code 2, timer in 100 ms units), or a buzzer command with a finite
  count. It returns False instead of blocking when ``MAX_QUEUED`` commands for
  that reader are still outstanding (libosdp 3.2.9 as built here queues without
  limit, each command waits for a poll cycle, so feedback would go stale) or
  the reader is offline; commands still queued when a reader drops are flushed.
  Status polls (``osdp_ISTAT``, ``osdp_LSTAT``…) are never sent: libosdp
  3.2.9's PD loses its reply to them.
- Tamper (``osdp_LSTATR``) and inputs (``osdp_ISTATR``) come only as the reader
  reports them on its own; each change becomes ``ReaderTamper``/``InputChanged``.
- libosdp keeps a failed reader offline for 300 s; the supervisor instead
  retries after ``reconnect_after_s`` doubling per failure (at most 300 s), by
  disabling and enabling the reader. A line whose reads fail for
  ``reopen_after_s`` is closed and reopened (backoff up to 30 s).
"""

from __future__ import annotations

import enum
import logging
import os
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import osdp
import serial

from ..events import (
    BuzzerSignal,
    CardPresented,
    Feedback,
    InputChanged,
    KeyPressed,
    LedColor,
    LedSignal,
    ReaderError,
    ReaderEvent,
    ReaderOffline,
    ReaderOnline,
    ReaderTamper,
)

log = logging.getLogger(__name__)

SCBK_BYTES = 16
MAX_ADDRESS = 126  # 0x7F is the broadcast address
MAX_QUEUED = 4  # outstanding commands per reader
LIBOSDP_OFFLINE_S = 300.0  # OSDP_ONLINE_RETRY_WAIT_MAX_MS in libosdp 3.2.9
LINK_LOST = "link lost"
NO_RESPONSE = "no response"
SC_FAILED = "secure channel failed"
SC_UNSUPPORTED = "secure channel not supported by the reader"


class Keypad(enum.IntEnum):
    """``osdp_KEYPAD`` bytes other than the ASCII digits (SIA OSDP 2.2 §7.11)."""

    STAR = 0x7F
    HASH = 0x0D


_KEY_OF_BYTE = {**{0x30 + d: str(d) for d in range(10)}, Keypad.STAR: "*", Keypad.HASH: "#"}
_BYTE_OF_KEY = {k: b for b, k in _KEY_OF_BYTE.items()}


def keypad_key(byte: int) -> str | None:
    """The key an ``osdp_KEYPAD`` byte stands for, or None for keys we do not use."""
    return _KEY_OF_BYTE.get(byte)


def keypad_bytes(keys: str) -> bytes:
    """``"12*#"`` as ``osdp_KEYPAD`` bytes; raises ``ValueError`` on other characters."""
    try:
        return bytes(_BYTE_OF_KEY[k] for k in keys)
    except KeyError as exc:
        raise ValueError(f"not a keypad key: {exc.args[0]!r}") from None


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


# --- commands (pure) ---------------------------------------------------------------


def command_for(feedback: Feedback) -> dict[str, int | bool]:
    """The libosdp command dict that shows ``feedback`` on LED 0 / buzzer of reader 0."""
    if isinstance(feedback, LedSignal):
        return {
            "command": osdp.Command.LED,
            "reader": 0,
            "led_number": 0,
            "temporary": True,
            "control_code": 2,  # set the temporary state and start its timer
            "on_color": int(feedback.color),
            "off_color": int(LedColor.OFF),
            "on_count": feedback.on_ms // 100,
            "off_count": feedback.off_ms // 100,
            "timer_count": feedback.duration_ms // 100,
        }
    return {
        "command": osdp.Command.Buzzer,
        "reader": 0,
        "control_code": 2,  # default tone
        "on_count": feedback.on_ms // 100,
        "off_count": feedback.off_ms // 100,
        "rep_count": feedback.count,
    }


def feedback_from_command(cmd: Mapping[str, Any]) -> Feedback | None:
    """The feedback a libosdp command dict (as a PD receives it) shows, or None."""
    try:
        if cmd.get("command") == osdp.Command.LED and cmd.get("temporary"):
            return LedSignal(
                LedColor(cmd["on_color"]),
                on_ms=cmd["on_count"] * 100,
                off_ms=cmd["off_count"] * 100,
                duration_ms=cmd["timer_count"] * 100,
            )
        if cmd.get("command") == osdp.Command.Buzzer and cmd.get("control_code") == 2:
            return BuzzerSignal(cmd["on_count"] * 100, cmd["off_count"] * 100, cmd["rep_count"])
    except (KeyError, TypeError, ValueError):
        pass
    return None


# --- events (pure) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkNote:
    """For the supervisor: reader ``index`` went online, or libosdp set it offline."""

    index: int
    online: bool
    reported: bool = False  # an offline the decoder already reported (LINK_LOST)


@dataclass(slots=True)
class _View:
    online: bool = False
    lost: bool = False  # ReaderOffline(LINK_LOST) sent since libosdp's last offline
    tamper: bool | None = None
    inputs: bytes | None = None


class EventDecoder:
    """libosdp control panel event dicts in, reader events out, in libosdp's order.

    Owned by the one thread that runs libosdp callbacks. Card reads, key presses
    and status reports of a reader whose secure channel is not active are
    dropped (``ignored``); libosdp with ``EnforceSecure`` never polls such a
    reader, so this is a second line.
    """

    def __init__(self, reader_ids: Sequence[str]) -> None:
        self.reader_ids = list(reader_ids)
        self._views = [_View() for _ in self.reader_ids]
        self.ignored = 0

    def online(self, index: int) -> bool:
        return self._views[index].online

    def decode(
        self, index: int, ev: Mapping[str, Any]
    ) -> tuple[list[ReaderEvent], LinkNote | None]:
        """Events for one callback; raises ``KeyError``/``ValueError`` on a malformed dict."""
        rid, view, kind = self.reader_ids[index], self._views[index], ev["event"]
        if kind == osdp.Event.Notification:
            return self._notification(index, rid, view, ev)
        if not view.online:
            self.ignored += 1
            return [], None
        if kind == osdp.Event.CardRead:
            data = bytes(ev["data"])
            ascii_ = ev["format"] == osdp.CardFormat.ASCII  # no bit count: whole bytes
            bits = 8 * len(data) if ascii_ else ev["length"]
            return [CardPresented(rid, data, bits)], None
        if kind == osdp.Event.KeyPress:
            keys = [keypad_key(b) for b in bytes(ev["data"])]
            return [KeyPressed(rid, k) for k in keys if k is not None], None
        if kind == osdp.Event.Status:
            return self._status(rid, view, ev["type"], bytes(ev["report"])), None
        self.ignored += 1
        return [], None

    def _notification(
        self, index: int, rid: str, view: _View, ev: Mapping[str, Any]
    ) -> tuple[list[ReaderEvent], LinkNote | None]:
        kind, up = ev["type"], ev["arg0"] == 1
        if kind == osdp.EventNotification.SecureChannelStatus:
            if up and ev["arg1"] == 0 and not view.online:  # arg1 == 1 would be SCBK-D
                view.online, view.lost = True, False
                return [ReaderOnline(rid)], LinkNote(index, online=True)
            if not up and view.online:
                view.online, view.lost, view.tamper, view.inputs = False, True, None, None
                return [ReaderOffline(rid, LINK_LOST)], None
        elif kind == osdp.EventNotification.PeripheralDeviceStatus and not up:
            note = LinkNote(index, online=False, reported=view.lost)
            out: list[ReaderEvent] = []
            if view.online:  # offline without a secure channel notice first
                out.append(ReaderOffline(rid, LINK_LOST))
                note = LinkNote(index, online=False, reported=True)
            view.online, view.lost, view.tamper, view.inputs = False, False, None, None
            return out, note
        return [], None

    @staticmethod
    def _status(rid: str, view: _View, kind: int, report: bytes) -> list[ReaderEvent]:
        if kind == osdp.StatusReportType.Local and report:  # [tamper, power]
            tamper = bool(report[0])
            if tamper == view.tamper:
                return []
            view.tamper = tamper
            return [ReaderTamper(rid, tamper)]
        if kind == osdp.StatusReportType.Input:
            old = view.inputs
            view.inputs = report
            return [
                InputChanged(rid, i, bool(v))
                for i, v in enumerate(report)
                if old is None or i >= len(old) or bool(old[i]) != bool(v)
            ]
        return []


# --- reconnection (pure) ------------------------------------------------------------


class Phase(enum.Enum):
    ATTEMPT = "attempt"  # libosdp is trying to bring the reader online
    ONLINE = "online"
    WAIT = "wait"  # offline; retry at ``until``
    DISABLING = "disabling"  # we asked libosdp to disable it, to enable it again


@dataclass(slots=True)
class Reconnect:
    """When to retry a reader that libosdp set offline (it would wait 300 s)."""

    base_s: float | None  # None: leave it to libosdp
    phase: Phase = Phase.ATTEMPT
    failures: int = 0
    until: float = 0.0
    reported: bool = False  # this offline period has been reported

    def went_online(self) -> None:
        self.phase, self.failures, self.reported = Phase.ONLINE, 0, False

    def went_offline(self, now: float, reported: bool) -> bool:
        """libosdp set the reader offline; True if the caller must report why."""
        if self.phase is Phase.DISABLING:
            return False  # our own disable
        report = not (self.reported or reported)
        self.reported = True
        delay = LIBOSDP_OFFLINE_S if self.base_s is None else self.base_s * 2**self.failures
        self.phase, self.until = Phase.WAIT, now + min(delay, LIBOSDP_OFFLINE_S)
        self.failures = min(self.failures + 1, 16)
        return report

    def retry_now(self, now: float) -> None:
        """Forget the backoff (the line came back): a waiting reader is due at once."""
        self.failures = 0
        if self.phase is Phase.WAIT:
            self.until = now

    def due(self, now: float) -> bool:
        """Time to disable (or enable) the reader to force a new attempt."""
        return self.base_s is not None and self.phase is Phase.WAIT and now >= self.until


# --- I/O ---------------------------------------------------------------------------


class SerialChannel(osdp.Channel):  # type: ignore[misc]  # osdp ships no type hints
    """libosdp's byte pipe over a pyserial port. Never blocks, never raises into libosdp.

    Errors are counted and logged once per streak (``failing_since``); ``reopen``
    closes and opens the port again, e.g. after a USB adapter came back.
    """

    def __init__(self, port: serial.SerialBase) -> None:
        super().__init__()
        self._port, self._lock = port, threading.Lock()
        self._fd = self._raw_fd()
        self.errors = 0
        self.failing_since: float | None = None

    def _raw_fd(self) -> int | None:
        # pyserial's posix write spins while the tty buffer is full even with
        # write_timeout=0; write to its (O_NONBLOCK) fd directly instead.
        return self._port.fileno() if type(self._port) is serial.Serial else None

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning("OSDP line %s: %s failed: %s", self._port.port, what, exc)

    def read(self, max_bytes: int) -> bytes:
        with self._lock:
            try:
                data = bytes(self._port.read(max_bytes))
            except Exception as exc:  # SerialException, OSError, PortNotOpenError…
                self._failed("read", exc)
                return b""
            if self.failing_since is not None:
                log.info("OSDP line %s: reads work again", self._port.port)
                self.failing_since = None
            return data

    def write(self, buf: bytes) -> int:
        with self._lock:
            try:
                if self._fd is not None:
                    return os.write(self._fd, buf)
                return int(self._port.write(buf) or 0)
            except BlockingIOError:
                return 0
            except Exception as exc:
                self._failed("write", exc)
                return 0

    def flush(self) -> None:
        # libosdp calls this before each send to drop stale received bytes.
        with self._lock:
            try:
                self._port.reset_input_buffer()
            except Exception as exc:
                self._failed("flush", exc)

    def reopen(self) -> bool:
        """Close and open the port again; True if it opened."""
        with self._lock:
            try:
                self._port.close()
                self._port.open()
                self._fd = self._raw_fd()
            except Exception as exc:
                log.debug("OSDP line %s: reopen failed: %s", self._port.port, exc)
                return False
            log.info("OSDP line %s: reopened", self._port.port)
            self.failing_since = None
            return True


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
            self._port.close()
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
            self._port.close()

    def poll(self, timeout: float) -> list[ReaderEvent]:
        """Events in arrival order; waits up to ``timeout`` s for the first."""
        out: list[ReaderEvent] = []
        try:
            out.append(
                self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
            )
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            return out

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
