"""OSDP readers: the pure parts by table and Hypothesis, then libosdp end to end.

The end-to-end tests run libosdp's own peripheral device (``osdp_sim``) on one
end of a raw pty and ``OsdpBus`` on the other, secure channel enforced: no
mocks. Waits poll with generous deadlines (two cores, other tests running).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import osdp
import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

from door_controller.readers.events import (
    DENIED,
    GRANTED,
    AbandonReason,
    BuzzerSignal,
    CardPresented,
    InputChanged,
    KeyPressed,
    LedColor,
    LedSignal,
    Pending,
    PinAbandoned,
    PinEntry,
    PinSubmitted,
    ReaderError,
    ReaderEvent,
    ReaderOffline,
    ReaderOnline,
    ReaderTamper,
)
from door_controller.readers.osdp import (
    LINK_LOST,
    MAX_QUEUED,
    NO_RESPONSE,
    SC_FAILED,
    EventDecoder,
    LinkNote,
    OsdpBus,
    OsdpReader,
    Phase,
    Reconnect,
    SerialChannel,
    command_for,
    feedback_from_command,
    keypad_bytes,
    keypad_key,
)
from door_controller.readers.osdp_sim import (
    PtyPair,
    SimClient,
    SimProcess,
    SimReaderSpec,
    SimulatedBus,
    SimulatorError,
    parse_card,
    pty_pair,
)

KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
OTHER_KEY = bytes.fromhex("F0E1D2C3B4A5968778695A4B3C2D1E0F")
CARD = bytes.fromhex("0ABCDE40")
ONLINE_S = 15.0  # generous: the handshake takes ~0.3 s on an idle machine

# --- PIN entry ------------------------------------------------------------------------

PIN_TABLE: list[tuple[str, list[tuple[str, float]], list[object]]] = [
    ("digits then #", [("1", 0), ("2", 1), ("3", 2), ("4", 3), ("#", 4)],
     [Pending(1), Pending(2), Pending(3), Pending(4), PinSubmitted("1234")]),
    ("* clears", [("1", 0), ("*", 1), ("7", 2), ("#", 3)],
     [Pending(1), PinAbandoned(AbandonReason.CLEARED), Pending(1), PinSubmitted("7")]),
    ("* on empty", [("*", 0)], [Pending(0)]),
    ("# on empty is ignored", [("#", 0), ("5", 1), ("#", 2)],
     [Pending(0), Pending(1), PinSubmitted("5")]),
    ("timeout between keys", [("1", 0), ("2", 10.0), ("#", 11)],
     [Pending(1), PinAbandoned(AbandonReason.TIMEOUT), PinSubmitted("2")]),
    ("just inside the timeout", [("1", 0), ("2", 9.99), ("#", 19.9)],
     [Pending(1), Pending(2), PinSubmitted("12")]),
    ("13 digits", [(str(i % 10), i) for i in range(13)],
     [Pending(i) for i in range(1, 13)] + [PinAbandoned(AbandonReason.TOO_LONG)]),
    ("12 digits submit", [*((str(i % 10), i) for i in range(12)), ("#", 12)],
     [*(Pending(i) for i in range(1, 13)), PinSubmitted("012345678901")]),
    ("other keys ignored", [("1", 0), ("A", 1), ("", 2), ("#", 3)],
     [Pending(1), Pending(1), Pending(1), PinSubmitted("1")]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "keys", "expected"), PIN_TABLE, ids=[t[0] for t in PIN_TABLE])
def test_pin_entry_table(name: str, keys: list[tuple[str, float]], expected: list[object]) -> None:
    entry = PinEntry(timeout_s=10.0)
    assert [entry.feed(k, t) for k, t in keys] == expected


def test_pin_entry_open_and_expire() -> None:
    entry = PinEntry(timeout_s=5.0)
    assert entry.expire(100.0) is None and not entry.active
    entry.open(100.0)  # a card asked for its PIN
    assert entry.expire(104.9) is None
    assert entry.expire(105.0) == PinAbandoned(AbandonReason.TIMEOUT)
    assert not entry.active and entry.expire(200.0) is None
    entry.open(0.0)
    assert entry.feed("*", 4.0) == Pending(0)  # still open, timer restarted
    assert entry.expire(8.0) is None and entry.active
    assert "4711" not in repr(PinSubmitted("4711"))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list("0123456789*#")) | st.text(max_size=3),
            st.floats(min_value=0, max_value=30, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_pin_entry_never_raises_and_pins_are_digits(keys: list[tuple[str, float]]) -> None:
    entry, now = PinEntry(), 0.0
    for key, gap in keys:
        now += gap
        result = entry.feed(key, now)
        assert isinstance(result, Pending | PinAbandoned | PinSubmitted)
        if isinstance(result, PinSubmitted):
            assert result.pin.isascii() and result.pin.isdigit() and 1 <= len(result.pin) <= 12
        assert 0 <= entry.digits <= 12
        entry.expire(now + gap)


# --- events, feedback and wire codes ------------------------------------------------------


def test_events_check_their_fields() -> None:
    assert CardPresented("r", CARD, 26).bits == 26
    for data, bits in ((CARD, 33), (CARD, 24), (b"", 0)):
        with pytest.raises(ValueError):
            CardPresented("r", data, bits)
    for key in ("A", "12", "", "+"):
        with pytest.raises(ValueError):
            KeyPressed("r", key)
    for bad in (
        lambda: LedSignal(LedColor.GREEN, on_ms=150),
        lambda: LedSignal(LedColor.GREEN, on_ms=0),
        lambda: LedSignal(LedColor.RED, duration_ms=0),
        lambda: LedSignal(LedColor.RED, off_ms=25600),
        lambda: BuzzerSignal(count=0),
        lambda: BuzzerSignal(on_ms=0),
        lambda: OsdpReader("r", 1, b"short"),
        lambda: OsdpReader("r", 127, KEY),
    ):
        with pytest.raises(ValueError):
            bad()


LED_GREEN = LedSignal(LedColor.GREEN, on_ms=500, off_ms=0, duration_ms=3000)
COMMAND_TABLE: list[tuple[LedSignal | BuzzerSignal, dict[str, int | bool]]] = [
    (LED_GREEN, {"command": osdp.Command.LED, "reader": 0, "led_number": 0, "temporary": True,
                 "control_code": 2, "on_color": 2, "off_color": 0, "on_count": 5,
                 "off_count": 0, "timer_count": 30}),
    (LedSignal(LedColor.RED, 200, 200, 2000),
     {"command": osdp.Command.LED, "reader": 0, "led_number": 0, "temporary": True,
      "control_code": 2, "on_color": 1, "off_color": 0, "on_count": 2, "off_count": 2,
      "timer_count": 20}),
    (BuzzerSignal(100, 100, 3), {"command": osdp.Command.Buzzer, "reader": 0, "control_code": 2,
                                 "on_count": 1, "off_count": 1, "rep_count": 3}),
]  # fmt: skip


@pytest.mark.parametrize(("feedback", "command"), COMMAND_TABLE)
def test_commands_both_ways(feedback: LedSignal | BuzzerSignal, command: dict[str, Any]) -> None:
    assert command_for(feedback) == command
    assert feedback_from_command(command) == feedback


def test_commands_the_pd_does_not_show_decode_to_none() -> None:
    permanent = {**command_for(LED_GREEN), "temporary": False}
    assert feedback_from_command(permanent) is None
    assert feedback_from_command({"command": osdp.Command.Output, "output_no": 0}) is None
    assert feedback_from_command({"command": osdp.Command.LED, "temporary": True}) is None


@given(
    st.sampled_from(list(LedColor)),
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(1, 0xFFFF),
    st.integers(1, 255),
)
def test_every_feedback_survives_the_trip(
    color: LedColor, on: int, off: int, duration: int, count: int
) -> None:
    for fb in (
        LedSignal(color, on * 100, off * 100, duration * 100),
        BuzzerSignal(on * 100, off * 100, count),
    ):
        assert feedback_from_command(command_for(fb)) == fb


def test_keypad_bytes_both_ways() -> None:
    assert keypad_bytes("0123456789*#") == b"0123456789\x7f\x0d"
    assert [keypad_key(b) for b in b"09\x7f\x0d"] == ["0", "9", "*", "#"]
    assert keypad_key(ord("A")) is None and keypad_key(ord("*")) is None
    with pytest.raises(ValueError):
        keypad_bytes("12A")
    assert parse_card("0ABCDE40/26") == (CARD, 26)
    assert parse_card("11223344") == (bytes.fromhex("11223344"), 32)
    with pytest.raises(ValueError):
        parse_card("0ABCDE40/40")


# --- the decoder and the reconnect policy (pure) ---------------------------------------------


def _notif(kind: int, arg0: int, arg1: int = 0) -> dict[str, int]:
    return {"event": osdp.Event.Notification, "type": kind, "arg0": arg0, "arg1": arg1}


SC = osdp.EventNotification.SecureChannelStatus
PD = osdp.EventNotification.PeripheralDeviceStatus
CARD_EV = {"event": osdp.Event.CardRead, "reader_no": 0, "format": 1, "direction": 0,
           "length": 26, "data": CARD}  # fmt: skip
KEYS_EV = {"event": osdp.Event.KeyPress, "reader_no": 0, "data": b"1\x7f\x0dA"}


def _status(kind: int, report: bytes) -> dict[str, Any]:
    return {"event": osdp.Event.Status, "type": kind, "report": report}


DECODER_TABLE: list[tuple[dict[str, Any], list[ReaderEvent], LinkNote | None]] = [
    (CARD_EV, [], None),  # not online yet: dropped
    (_notif(SC, 1, 1), [], None),  # SCBK-D is never online
    (_notif(SC, 1), [ReaderOnline("a")], LinkNote(0, online=True)),
    (_notif(PD, 1), [], None),
    (CARD_EV, [CardPresented("a", CARD, 26)], None),
    ({"event": osdp.Event.CardRead, "reader_no": 0, "format": osdp.CardFormat.ASCII,
      "direction": 0, "data": b"AB"}, [CardPresented("a", b"AB", 16)], None),
    (KEYS_EV, [KeyPressed("a", "1"), KeyPressed("a", "*"), KeyPressed("a", "#")], None),
    (_status(osdp.StatusReportType.Local, b"\x01\x00"), [ReaderTamper("a", True)], None),
    (_status(osdp.StatusReportType.Local, b"\x01\x00"), [], None),
    (_status(osdp.StatusReportType.Local, b"\x00\x00"), [ReaderTamper("a", False)], None),
    (_status(osdp.StatusReportType.Input, b"\x00\x01"),
     [InputChanged("a", 0, False), InputChanged("a", 1, True)], None),
    (_status(osdp.StatusReportType.Input, b"\x01\x01"), [InputChanged("a", 0, True)], None),
    (_notif(SC, 0), [ReaderOffline("a", LINK_LOST)], None),
    (_notif(PD, 0), [], LinkNote(0, online=False, reported=True)),
    (KEYS_EV, [], None),
    (_notif(SC, 0), [], None),  # a failed handshake: the supervisor reports why
    (_notif(PD, 0), [], LinkNote(0, online=False, reported=False)),
]  # fmt: skip


def test_decoder_table() -> None:
    decoder = EventDecoder(["a", "b"])
    for ev, events, note in DECODER_TABLE:
        assert decoder.decode(0, ev) == (events, note), ev
    assert decoder.ignored == 2
    assert decoder.decode(1, _notif(SC, 1)) == ([ReaderOnline("b")], LinkNote(1, online=True))
    for bad in ({}, {"event": osdp.Event.CardRead}, {**CARD_EV, "length": 40}):
        with pytest.raises((KeyError, ValueError)):
            decoder.decode(1, bad)


def test_reconnect_backs_off_and_ignores_its_own_disable() -> None:
    link = Reconnect(base_s=5.0)
    assert link.went_offline(0.0, reported=False)  # first failure: report it
    assert (link.phase, link.until) == (Phase.WAIT, 5.0) and not link.due(4.9) and link.due(5.0)
    link.phase = Phase.DISABLING
    assert not link.went_offline(5.1, reported=False) and link.phase is Phase.DISABLING
    link.phase = Phase.ATTEMPT
    assert not link.went_offline(6.0, reported=False)  # reported once per offline period
    assert link.until == 16.0
    for _ in range(10):
        link.went_offline(100.0, reported=False)
    assert link.until == 400.0  # capped at libosdp's 300 s
    link.went_online()
    assert link.went_offline(500.0, reported=False) is True and link.until == 505.0
    assert not Reconnect(base_s=None).due(1e9)


def test_serial_channel_never_raises() -> None:
    port = serial.serial_for_url("loop://", timeout=0)
    channel = SerialChannel(port)
    assert channel.write(b"\x53\x01") == 2
    assert channel.read(1) == b"\x53" and channel.read(10) == b"\x01" and channel.read(10) == b""
    port.close()
    assert channel.read(10) == b"" and channel.write(b"x") == 0
    channel.flush()
    assert channel.errors == 3 and channel.failing_since is not None
    assert channel.reopen() and channel.failing_since is None
    assert channel.write(b"ok") == 2 and channel.read(10) == b"ok"
    port.close()


def test_a_missing_port_is_a_reader_error(tmp_path: Path) -> None:
    bus = OsdpBus(str(tmp_path / "no-such-tty"), [OsdpReader("a", 1, KEY)])
    with pytest.raises(ReaderError) as info:
        bus.start()
    assert isinstance(info.value.__cause__, serial.SerialException)
    bus.stop()
    for readers in (
        [],
        [OsdpReader("a", 1, KEY)] * 2,
        [OsdpReader("a", 1, KEY), OsdpReader("b", 1, KEY)],
    ):
        with pytest.raises(ValueError):
            OsdpBus("loop://", readers)


# --- end to end over a pty with libosdp's own PD ------------------------------------------------


def collect(
    bus: OsdpBus, done: Callable[[list[ReaderEvent]], bool], timeout: float = ONLINE_S
) -> list[ReaderEvent]:
    """Poll ``bus`` until ``done(events so far)`` or ``timeout``; return the events."""
    events: list[ReaderEvent] = []
    deadline = time.monotonic() + timeout
    while not done(events) and time.monotonic() < deadline:
        events += bus.poll(0.05)
    return events


def online(reader: str) -> Callable[[list[ReaderEvent]], bool]:
    return lambda evs: ReaderOnline(reader) in evs


@pytest.fixture
def pair() -> Iterator[PtyPair]:
    with pty_pair() as p:
        yield p


@pytest.fixture
def door(pair: PtyPair) -> Iterator[tuple[SimulatedBus, OsdpBus]]:
    """Reader "door-a" at address 1 with two inputs, online over the secure channel."""
    with (
        SimulatedBus(pair.device_fd, [SimReaderSpec(1, KEY, inputs=2)]) as sim,
        OsdpBus(pair.controller_path, [OsdpReader("door-a", 1, KEY)]) as bus,
    ):
        # online, then the reader reports its inputs (at rest: both circuits open)
        assert collect(bus, lambda e: len(e) >= 3) == [
            ReaderOnline("door-a"),
            InputChanged("door-a", 0, False),
            InputChanged("door-a", 1, False),
        ]
        assert bus.is_online("door-a") and sim.reader(1).is_sc_active()
        yield sim, bus


def test_card_keys_feedback_and_status_end_to_end(door: tuple[SimulatedBus, OsdpBus]) -> None:
    sim, bus = door
    reader = sim.reader(1)
    reader.tap_card(CARD, 26)
    assert collect(bus, lambda e: bool(e)) == [CardPresented("door-a", CARD, 26)]

    reader.press_keys("47*4711#")
    keys = collect(bus, lambda e: KeyPressed("door-a", "#") in e)
    entry, results = PinEntry(), []
    for i, ev in enumerate(keys):
        assert isinstance(ev, KeyPressed)
        results.append(entry.feed(ev.key, float(i)))
    assert results[-1] == PinSubmitted("4711")

    for fb in GRANTED:
        assert bus.signal("door-a", fb)
    assert reader.wait_received(2, ONLINE_S) == list(GRANTED)
    assert bus.signal("door-a", LedSignal(LedColor.RED, 200, 200, 2000))
    assert reader.wait_received(3, ONLINE_S)[-1] == LedSignal(LedColor.RED, 200, 200, 2000)

    reader.set_tamper(True)
    reader.set_inputs([True, True])
    events = collect(bus, lambda e: len(e) >= 3)
    assert events == [
        ReaderTamper("door-a", True),
        InputChanged("door-a", 0, True),
        InputChanged("door-a", 1, True),
    ]
    assert reader.other_commands() == []  # nothing the PD had to NAK or ignore
    assert bus.is_online("door-a") and bus.stats().callback_errors == 0


def test_card_to_event_latency(door: tuple[SimulatedBus, OsdpBus], capsys: Any) -> None:
    sim, bus = door
    latencies = []
    for i in range(20):
        data = bytes([0x0A, 0xBC, i, 0x40])
        start = time.perf_counter()
        sim.reader(1).tap_card(data, 26)
        events = collect(bus, lambda e: bool(e))
        latencies.append(time.perf_counter() - start)
        assert events == [CardPresented("door-a", data, 26)]
    ms = sorted(x * 1000 for x in latencies)
    with capsys.disabled():
        print(
            f"\nOSDP card-to-event latency over {len(ms)} taps: min {ms[0]:.0f} ms, "
            f"median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms"
        )


def test_a_full_command_queue_returns_false_without_blocking(
    door: tuple[SimulatedBus, OsdpBus],
) -> None:
    sim, bus = door
    start = time.monotonic()
    results = [bus.signal("door-a", BuzzerSignal(count=i + 1)) for i in range(20)]
    assert time.monotonic() - start < 1.0
    assert results == [True] * MAX_QUEUED + [False] * (20 - MAX_QUEUED)
    sent = [BuzzerSignal(count=i + 1) for i in range(MAX_QUEUED)]
    assert sim.reader(1).wait_received(MAX_QUEUED, ONLINE_S) == sent
    deadline = time.monotonic() + ONLINE_S  # completions free the queue again
    while not bus.signal("door-a", LED_GREEN) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.reader(1).wait_received(MAX_QUEUED + 1, ONLINE_S)[-1] == LED_GREEN
    with pytest.raises(KeyError):
        bus.signal("no-such-reader", BuzzerSignal())


def test_a_wrong_key_is_never_online(pair: PtyPair) -> None:
    with (
        pty_pair() as bad_pair,
        SimulatedBus(pair.device_fd, [SimReaderSpec(1, KEY)]) as good_sim,
        SimulatedBus(bad_pair.device_fd, [SimReaderSpec(1, OTHER_KEY)]) as bad_sim,
        OsdpBus(pair.controller_path, [OsdpReader("good", 1, KEY)]) as good,
        OsdpBus(
            bad_pair.controller_path, [OsdpReader("bad", 1, KEY)], reconnect_after_s=0.2
        ) as bad,
    ):
        assert ReaderOnline("good") in collect(good, online("good"))
        failed = ReaderOffline("bad", SC_FAILED)
        bad_events = collect(bad, lambda e: failed in e)
        assert bad_events == [failed]
        bad_sim.reader().tap_card(CARD, 26)
        good_sim.reader().tap_card(CARD, 26)
        assert collect(good, lambda e: bool(e)) == [CardPresented("good", CARD, 26)]
        bad_events = collect(bad, lambda e: False, timeout=2.0)  # retried every 0.2-0.8 s
        assert bad_events == [] and not bad.is_online("bad") and not bad_sim.reader().is_sc_active()
        assert not bad.signal("bad", BuzzerSignal())  # libosdp refuses: not online
        assert bad_sim.reader().received() == []


@pytest.mark.slow
def test_a_silent_reader_is_reported_as_not_answering(pair: PtyPair) -> None:
    with OsdpBus(pair.controller_path, [OsdpReader("gone", 1, KEY)]) as bus:
        # libosdp probes 8 times, 1 s apart, before it gives up
        events = collect(bus, lambda e: bool(e), timeout=30.0)
        assert events == [ReaderOffline("gone", NO_RESPONSE)]


def test_several_readers_share_one_line(pair: PtyPair) -> None:
    specs = [SimReaderSpec(1, KEY), SimReaderSpec(5, OTHER_KEY)]
    readers = [OsdpReader("in", 1, KEY), OsdpReader("out", 5, OTHER_KEY)]
    with (
        SimulatedBus(pair.device_fd, specs) as sim,
        OsdpBus(pair.controller_path, readers) as bus,
    ):
        events = collect(bus, lambda e: online("in")(e) and online("out")(e))
        assert {ReaderOnline("in"), ReaderOnline("out")} <= set(events)
        sim.reader(5).tap_card(b"\x11\x22\x33\x44", 32)
        sim.reader(1).press_keys("9")
        events = collect(bus, lambda e: len(e) >= 2)
        assert set(events) == {CardPresented("out", b"\x11\x22\x33\x44", 32), KeyPressed("in", "9")}
        assert bus.signal("out", DENIED[0]) and bus.signal("in", GRANTED[0])
        assert sim.reader(5).wait_received(1, ONLINE_S) == [DENIED[0]]
        assert sim.reader(1).wait_received(1, ONLINE_S) == [GRANTED[0]]


def test_a_restarted_reader_comes_back_quickly_and_reports_its_inputs_again(
    pair: PtyPair,
) -> None:
    with OsdpBus(pair.controller_path, [OsdpReader("a", 1, KEY)], reconnect_after_s=0.5) as bus:
        with SimulatedBus(pair.device_fd, [SimReaderSpec(1, KEY, 2, (True, False))]):
            assert collect(bus, lambda e: len(e) >= 3) == [
                ReaderOnline("a"),
                InputChanged("a", 0, True),
                InputChanged("a", 1, False),
            ]
        # power-cycled (libosdp would wait 300 s), and an input changed meanwhile
        with SimulatedBus(pair.device_fd, [SimReaderSpec(1, KEY, 2, (True, True))]) as sim:
            events = collect(bus, lambda e: len(e) >= 4, timeout=30.0)
            assert events == [
                ReaderOffline("a", LINK_LOST),
                ReaderOnline("a"),
                InputChanged("a", 0, True),  # the decoder forgot: every input again
                InputChanged("a", 1, True),
            ]
            sim.reader().tap_card(CARD, 26)
            assert collect(bus, lambda e: bool(e)) == [CardPresented("a", CARD, 26)]


def test_libosdp_pd_cannot_answer_an_input_status_poll(pair: PtyPair) -> None:
    """Why the controller never polls inputs (``osdp_ISTAT``) and readers report
    them on their own when the secure channel comes up: libosdp 3.2.9's PD fails
    to build its ``osdp_ISTATR`` and NAKs, and the control panel then takes it
    offline for 300 s. If a libosdp update fixes this, this test fails: then a
    status poll at start becomes a choice again (docs/door.md)."""
    with (
        SimulatedBus(pair.device_fd, [SimReaderSpec(1, KEY, 2, (True, False))]),
        OsdpBus(pair.controller_path, [OsdpReader("a", 1, KEY)], reconnect_after_s=None) as bus,
    ):
        assert len(collect(bus, lambda e: len(e) >= 3)) == 3  # online, inputs reported
        poll = {"command": osdp.Command.Status, "type": osdp.StatusReportType.Input}
        assert bus._cp.submit_command(1, poll)
        events = collect(bus, lambda e: bool(e), timeout=5.0)
        assert events == [ReaderOffline("a", LINK_LOST)]
        assert not bus.is_online("a")


def test_a_replugged_line_is_reopened(tmp_path: Path) -> None:
    """The tty behind the bus's path goes away and comes back (a USB adapter replugged)."""
    link, spec = tmp_path / "ttyOSDP", [SimReaderSpec(1, KEY)]
    with pty_pair() as first, pty_pair() as second:
        link.symlink_to(first.controller_path)
        with OsdpBus(str(link), [OsdpReader("a", 1, KEY)], reconnect_after_s=0.5) as bus:
            with SimulatedBus(first.device_fd, spec):
                assert ReaderOnline("a") in collect(bus, online("a"))
            first.close()  # unplugged: reads on the old tty fail with EIO
            link.unlink()
            link.symlink_to(second.controller_path)
            with SimulatedBus(second.device_fd, spec) as sim:
                events = collect(bus, online("a"), timeout=40.0)
                assert events[0] == ReaderOffline("a", LINK_LOST) and events[-1] == ReaderOnline(
                    "a"
                )
                sim.reader().tap_card(CARD, 26)
                assert collect(bus, lambda e: bool(e)) == [CardPresented("a", CARD, 26)]
            assert bus.stats().channel_errors > 0


def test_stop_never_raises_when_the_line_fails_to_close(
    pair: PtyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A USB adapter pulled out can make closing its tty fail: stopping the bus
    (a daemon shutting down, or a bus being restarted) must still finish."""
    bus = OsdpBus(pair.controller_path, [OsdpReader("a", 1, KEY)])
    bus.start()
    port = bus._port
    assert port is not None

    def unplugged() -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(port, "close", unplugged)
    bus.stop()  # does not raise
    assert bus._supervisor is None and bus._cp is None
    monkeypatch.undo()
    port.close()


def test_the_callback_never_raises(door: tuple[SimulatedBus, OsdpBus]) -> None:
    _, bus = door
    assert bus._on_event(0, {"no": "event"}) == 0
    assert bus._on_event(7, {"event": 1}) == 0
    assert bus.stats().callback_errors == 2


def test_simulator_process_over_its_control_socket(tmp_path: Path) -> None:
    control, link = tmp_path / "sim.sock", tmp_path / "ttyREADER"
    with SimProcess([SimReaderSpec(3, KEY, 2, (True, False))], control, link=link) as proc:
        assert proc.controller_path == str(link) and link.is_symlink()
        with OsdpBus(proc.controller_path, [OsdpReader("hall", 3, KEY)]) as bus:
            assert collect(bus, lambda e: len(e) >= 3) == [  # the levels at rest came along
                ReaderOnline("hall"),
                InputChanged("hall", 0, True),
                InputChanged("hall", 1, False),
            ]
            client = SimClient(control)
            assert client.status()["readers"] == [{"address": 3, "sc_active": True}]
            client.tap("0ABCDE40/26")
            client.keys("4711#")
            events = collect(bus, lambda e: KeyPressed("hall", "#") in e)
            assert events[0] == CardPresented("hall", CARD, 26)
            assert "".join(e.key for e in events[1:] if isinstance(e, KeyPressed)) == "4711#"
            assert bus.signal("hall", LedSignal(LedColor.GREEN, 500, 0, 3000))
            deadline = time.monotonic() + ONLINE_S
            while not client.received() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert client.received() == [
                {"kind": "led", "color": "GREEN", "on_ms": 500, "off_ms": 0, "duration_ms": 3000}
            ]
            with pytest.raises(SimulatorError, match="not a keypad key"):
                client.keys("12A")
            with pytest.raises(SimulatorError, match="unknown op"):
                client.request("fly")
        assert proc.close() == 0
    assert not control.exists() and not link.exists()


def test_the_simulator_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A door controller killed with SIGKILL leaves no simulated reader behind."""
    import json as _json
    import os
    import signal
    import subprocess
    import sys

    control = tmp_path / "sim.sock"
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import json, sys, time\n"
         "from door_controller.readers.osdp_sim import SimProcess, SimReaderSpec\n"
         f"p = SimProcess([SimReaderSpec(1, bytes.fromhex('{KEY.hex()}'))], {str(control)!r})\n"
         "print(json.dumps({'pid': p.pid}), flush=True)\n"
         "time.sleep(120)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        child = _json.loads(parent.stdout.readline())["pid"]
        os.kill(child, 0)  # running
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break  # gone (reaped by init once it exited)
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the simulator outlived its parent by 10 s")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
