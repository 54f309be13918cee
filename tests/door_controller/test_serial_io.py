"""Relay board and serial-line reader drivers over real ptys (real bytes)."""

from __future__ import annotations

import os
import select
import time
import tty
from collections.abc import Iterator

import pytest

from door_controller.outputs.relay import command
from door_controller.outputs.relay_board import OutputError, RelayBoard
from door_controller.readers.events import CardPresented, ReaderEvent, ReaderOnline
from door_controller.readers.serial_bus import SerialLineBus
from door_controller.readers.serial_line import CardFrame, Framing, encode
from door_controller.testing import FakeRelayBoard


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    """A raw pty pair: (our end fd, the device path a driver opens)."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    path = os.ttyname(slave)
    try:
        yield master, path
    finally:
        os.close(master)
        os.close(slave)


def _read_all(fd: int, want: int, timeout: float = 10.0) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while len(data) < want and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            data += os.read(fd, 1024)
    return data


def test_relay_board_writes_real_frames(pty: tuple[int, str]) -> None:
    fd, path = pty
    board = RelayBoard(path, channels=4)
    fake = FakeRelayBoard(channels=4)
    try:
        board.set(2, True)
        board.set(1, False)
        data = _read_all(fd, 8)
        fake.receive(data)
    finally:
        board.close()
    assert data == command(2, True) + command(1, False)  # each command once
    assert fake.state == {2: True, 1: False} and fake.garbage == []


def test_relay_board_restores_wanted_state_on_reopen(pty: tuple[int, str]) -> None:
    fd, path = pty
    board = RelayBoard(path, channels=4)
    try:
        board.set(3, True)
        _read_all(fd, 4)
        board.close()  # as after a write error
        board.set(1, True)
        data = _read_all(fd, 8)
    finally:
        board.close()
    # what was wanted before the reopen, then the new command itself
    assert data == command(3, True) + command(1, True)


def test_relay_board_errors_are_translated() -> None:
    board = RelayBoard("/nonexistent/ttyUSB9")
    with pytest.raises(OutputError, match="relay board /nonexistent/ttyUSB9"):
        board.set(1, True)
    with pytest.raises(OutputError, match="no channel 9"):
        board.set(9, True)


def _poll_until(bus: SerialLineBus, n: int, timeout: float = 5.0) -> list[ReaderEvent]:
    got: list[ReaderEvent] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += bus.poll(0.1)
    return got


@pytest.mark.parametrize("framing", list(Framing))
def test_serial_line_bus_reports_cards_and_skips_garbage(
    pty: tuple[int, str], framing: Framing
) -> None:
    fd, path = pty
    frame = CardFrame(bytes.fromhex("0A00BC1234"), 40)
    bus = SerialLineBus("r1", path, framing)
    bus.start()
    try:
        os.write(fd, b"\xff\xfe\r\n" + encode(framing, frame))
        events = _poll_until(bus, 2)
    finally:
        bus.stop()
    assert events[0] == ReaderOnline("r1")
    assert CardPresented("r1", frame.data, 40) in events
    assert bus.frame_errors >= 1
