"""Simulated OSDP readers: libosdp's own peripheral device, one per reader, on a shared line.

Rules this module guarantees:
- Each simulated reader is a libosdp ``PeripheralDevice`` with its address and
  SCBK, ``EnforceSecure`` set, and declares every capability the control panel
  uses (LED control, audible output, card data, communication security, and
  contact inputs when it has any): a correct controller never makes it NAK.
- Several readers share one line the way RS-485 does (``line.SharedLine``):
  each hears every byte from the controller and answers only to its own address.
- Its command callback never raises (that would NAK) and never calls into
  libosdp; what it receives is recorded, decoded to ``LedSignal`` /
  ``BuzzerSignal`` (``osdp.codec``), in a thread-safe list.
- What a reader reports (cards, keys, tamper, inputs) goes to libosdp's event
  queue; a full queue raises ``SimulatorError``, a report the reader cannot
  carry raises ``ValueError``, and neither reaches the line.
- A reader reports the state of its inputs (``osdp_ISTATR``, all of them) and
  an active tamper switch (``osdp_LSTATR``) on its own each time its secure
  channel comes up, as a reader that reports on connect does: the control
  panel never has to poll for them (libosdp 3.2.9's PD answers a status poll
  with a NAK, and the panel then takes it offline for 300 s). Its inputs start
  at their wiring's rest levels (``SimReaderSpec.rest``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import osdp

from ..events import Feedback
from ..osdp.codec import SCBK_BYTES, feedback_from_command, keypad_bytes
from .line import LineChannel, SharedLine

_KEYS_PER_EVENT = 64  # OSDP_EVENT_KEYPRESS_MAX_DATALEN: the binding does not check it
_CARD_MAX_BYTES = 64  # OSDP_EVENT_CARDREAD_MAX_DATALEN
SESSION_POLL_S = 0.02  # how often the watcher looks at each reader's secure channel


def check_card(data: bytes, bits: int) -> None:
    """Raise ``ValueError`` unless ``bits`` bits fill ``data`` (1 to 64 bytes, the last in part)."""
    if not data or (bits + 7) // 8 != len(data) or len(data) > _CARD_MAX_BYTES:
        raise ValueError(f"{bits} bits do not fit {len(data)} bytes")


class SimulatorError(Exception):
    """The simulator refused a request or could not be reached."""


@dataclass(frozen=True, slots=True)
class SimReaderSpec:
    address: int
    scbk: bytes = field(repr=False)
    inputs: int = 0  # contact inputs it reports (osdp_ISTATR)
    rest: tuple[bool, ...] = ()  # their raw levels at start (1 = circuit closed); default open

    def __post_init__(self) -> None:
        if self.rest and len(self.rest) != self.inputs:
            raise ValueError(
                f"reader {self.address}: {self.inputs} inputs, {len(self.rest)} levels"
            )


class SimReader:
    """One simulated OSDP reader (a libosdp PD). Create it through ``SimulatedBus``."""

    def __init__(self, line: SharedLine, spec: SimReaderSpec, log_level: int) -> None:
        if len(spec.scbk) != SCBK_BYTES:
            raise ValueError("the SCBK must be 16 bytes")
        self.spec = spec
        caps = [
            (osdp.Capability.LEDControl, 4, 1),  # timed, three colours; one LED
            (osdp.Capability.AudibleControl, 2, 1),  # timed buzzer
            (osdp.Capability.CardDataFormat, 1, 0),  # binary card data
            (osdp.Capability.Readers, 0, 1),
            (osdp.Capability.CommunicationSecurity, 1, 0),  # AES-128
        ]
        if spec.inputs:
            caps.append((osdp.Capability.ContactStatusMonitoring, 1, spec.inputs))
        info = osdp.PDInfo(
            spec.address,
            LineChannel(line),
            scbk=spec.scbk,
            flags=[osdp.LibFlag.EnforceSecure],
            name=f"sim-{spec.address}",
        )
        self._pd: Any = osdp.PeripheralDevice(info, osdp.PDCapabilities(caps), log_level=log_level)
        # Replace the binding's handler: it keeps every command in an unbounded
        # queue, and its ``return 0, None`` (one constant tuple) makes the C side
        # drop a reference to None per command until the interpreter aborts.
        self._pd.ctx.set_command_callback(self._on_command)
        self._received: list[Feedback] = []
        self._other: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._ack = 0
        self._levels = list(spec.rest or (False,) * spec.inputs)
        self._tamper = False
        self._session = False  # the secure channel was up at the last look

    def _on_command(self, cmd: dict[str, Any]) -> tuple[int, None]:
        """libosdp's command callback, under its lock: record only, never raise."""
        try:
            feedback = feedback_from_command(cmd)
            with self._changed:
                if feedback is None:
                    self._other.append(dict(cmd))
                else:
                    self._received.append(feedback)
                self._changed.notify_all()
        except Exception:
            pass
        return (self._ack, None)  # built per call: see __init__

    def is_sc_active(self) -> bool:
        return bool(self._pd.is_sc_active())

    def received(self) -> list[Feedback]:
        """LED and buzzer commands received so far, in order."""
        with self._changed:
            return list(self._received)

    def other_commands(self) -> list[dict[str, Any]]:
        """Commands that were not temporary LED states or default-tone beeps."""
        with self._changed:
            return list(self._other)

    def wait_received(self, count: int, timeout: float) -> list[Feedback]:
        """Wait until at least ``count`` commands were received; return them all."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._received) >= count, timeout)
            return list(self._received)

    def _submit(self, event: dict[str, Any]) -> None:
        if not self._pd.submit_event(event):
            raise SimulatorError(f"reader {self.spec.address}: libosdp's event queue is full")

    def tap_card(self, data: bytes, bits: int) -> None:
        """Report a raw (Wiegand) card read of ``bits`` bits, left-aligned in ``data``."""
        check_card(data, bits)
        self._submit(
            {
                "event": osdp.Event.CardRead,
                "reader_no": 0,
                "format": osdp.CardFormat.Wiegand,
                "direction": 0,
                "length": bits,
                "data": bytes(data),
            }
        )

    def press_keys(self, keys: str) -> None:
        """Report key presses, e.g. ``"1234#"`` (digits, ``*``, ``#``)."""
        data = keypad_bytes(keys)
        for i in range(0, len(data), _KEYS_PER_EVENT):
            chunk = data[i : i + _KEYS_PER_EVENT]
            self._submit({"event": osdp.Event.KeyPress, "reader_no": 0, "data": chunk})

    def set_tamper(self, active: bool) -> None:
        """Report the reader's tamper switch (``osdp_LSTATR``: tamper, power)."""
        self._tamper = active
        report = bytes([int(active), 0])
        self._submit(
            {"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "report": report}
        )

    def set_inputs(self, states: Sequence[bool]) -> None:
        """Set and report all contact inputs (``osdp_ISTATR``), input 0 first:
        the raw levels, 1 for a closed circuit."""
        if len(states) != self.spec.inputs:
            raise ValueError(f"reader {self.spec.address} has {self.spec.inputs} inputs")
        self._levels = [bool(s) for s in states]
        self._report_inputs()

    def _report_inputs(self) -> None:
        report = bytes(int(s) for s in self._levels)
        self._submit(
            {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "report": report}
        )

    def inputs(self) -> list[bool]:
        """The raw levels of the inputs as the reader holds them now."""
        return list(self._levels)

    def watch_session(self) -> bool:
        """Report inputs (and an active tamper) if the secure channel has just come
        up; True when it did. Called by ``SimulatedBus``'s watcher, never from
        a libosdp callback."""
        up = self.is_sc_active()
        if not up or self._session:
            self._session = up
            return False
        if self.spec.inputs:
            self._report_inputs()  # raises when libosdp's queue is full: tried again
        if self._tamper:
            self.set_tamper(True)
        self._session = True
        return True


class SimulatedBus:
    """Simulated readers on the device end of a line (the caller owns ``device_fd``)."""

    def __init__(
        self,
        device_fd: int,
        readers: Sequence[SimReaderSpec],
        *,
        log_level: int = osdp.LogLevel.Error,
    ) -> None:
        if len({r.address for r in readers}) != len(readers) or not readers:
            raise ValueError("simulated readers need distinct addresses")
        line = SharedLine(device_fd)
        self.readers = [SimReader(line, spec, log_level) for spec in readers]
        self._started = False
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def reader(self, address: int | None = None) -> SimReader:
        """The reader at ``address`` (``KeyError``); with one reader, None picks it."""
        if address is None and len(self.readers) == 1:
            return self.readers[0]
        for r in self.readers:
            if r.spec.address == address:
                return r
        raise KeyError(f"no simulated reader at address {address}")

    def start(self) -> None:
        for r in self.readers:
            r._pd.start()
        self._started = True
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="sim-sessions", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        """Each reader reports its state when its secure channel comes up."""
        while not self._stop.wait(SESSION_POLL_S):
            for r in self.readers:
                with contextlib.suppress(SimulatorError):  # libosdp's queue full: next time
                    r.watch_session()

    def stop(self) -> None:
        """Stop the watcher and every reader's libosdp thread; idempotent."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        if self._started:
            self._started = False
            for r in self.readers:
                r._pd.teardown()

    def __enter__(self) -> SimulatedBus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
