"""libosdp control panel events in, reader events out (pure).

Rules this module guarantees:
- A reader is online (``ReaderOnline``) only after libosdp reports its secure
  channel up with the reader's own SCBK, never with the default key SCBK-D.
  Card reads, key presses and status reports of a reader that is not online
  are dropped and counted (``ignored``): nothing it sends is delivered.
- A reader that was online and loses its secure channel or its link is
  reported once as ``ReaderOffline(reason=LINK_LOST)``; an offline the decoder
  did not report (a failed handshake) is left to the supervisor, which learns
  of it through a ``LinkNote`` and reports why (``SC_FAILED``, ``NO_RESPONSE``…).
- Tamper (``osdp_LSTATR``) and inputs (``osdp_ISTATR``) come only as the reader
  reports them on its own; each change becomes ``ReaderTamper``/``InputChanged``
  (the first report of an input after going online reports every input).
- Events come out in libosdp's order. A malformed event dict raises
  ``KeyError`` or ``ValueError``; the caller counts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import osdp

from ..events import (
    CardPresented,
    InputChanged,
    KeyPressed,
    ReaderEvent,
    ReaderOffline,
    ReaderOnline,
    ReaderTamper,
)
from .codec import keypad_key

# The reasons a ReaderOffline from an OSDP bus carries.
LINK_LOST = "link lost"
NO_RESPONSE = "no response"
SC_FAILED = "secure channel failed"
SC_UNSUPPORTED = "secure channel not supported by the reader"


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
