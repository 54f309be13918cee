"""Serial-line readers on one port: a reader thread feeding the sans-I/O parser.

Rules this module guarantees:
- One thread owns the port; it only reads, parses and queues events. A frame
  error is logged and counted, never raised; a lost port is reported as
  ``ReaderOffline`` and reopened with a bounded backoff, then ``ReaderOnline``.
- ``signal`` returns False: these readers have no LED or buzzer we can drive.
"""

from __future__ import annotations

import logging
import queue
import threading

import serial

from ..serialport import close_quietly
from .eventqueue import drain
from .events import CardPresented, Feedback, ReaderError, ReaderEvent, ReaderOffline, ReaderOnline
from .serial_line import CardFrame, Framing, SerialLineParser

log = logging.getLogger(__name__)


class SerialLineBus:
    """One serial-line reader (these buses carry a single reader)."""

    def __init__(self, reader: str, port: str, framing: Framing | str, *, baud: int = 9600) -> None:
        self.reader, self.port, self.baud = reader, port, baud
        self.framing = Framing(framing)
        self.frame_errors = 0
        self._events: queue.Queue[ReaderEvent] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._link: serial.SerialBase | None = None

    def _connect(self) -> serial.SerialBase:
        try:
            return serial.serial_for_url(self.port, baudrate=self.baud, timeout=0.05)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ReaderError(f"reader {self.reader} on {self.port}: {exc}") from exc

    def start(self) -> None:
        self._link = self._connect()
        self._events.put(ReaderOnline(self.reader))
        self._thread = threading.Thread(target=self._run, name=f"serial-{self.reader}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        parser = SerialLineParser(self.framing)
        backoff = 0.5
        while not self._stop.is_set():
            link = self._link
            try:
                if link is None:
                    link = self._link = self._connect()
                    parser = SerialLineParser(self.framing)
                    self._events.put(ReaderOnline(self.reader))
                    backoff = 0.5
                data = link.read(256)
            except (serial.SerialException, OSError, ReaderError) as exc:
                if link is not None:
                    self._events.put(ReaderOffline(self.reader, f"link lost: {exc}"))
                    self._close_link()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for ev in parser.feed(data):
                if isinstance(ev, CardFrame):
                    self._events.put(CardPresented(self.reader, ev.data, ev.bits))
                else:
                    self.frame_errors += 1
                    log.warning(
                        "reader %s: bad frame (%s): %r", self.reader, ev.reason, ev.raw[:64]
                    )

    def _close_link(self) -> None:
        close_quietly(self._link, self.port)
        self._link = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._close_link()

    def poll(self, timeout: float) -> list[ReaderEvent]:
        return drain(self._events, timeout)

    def signal(self, reader: str, feedback: Feedback) -> bool:
        return False
