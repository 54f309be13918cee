"""Simulated OSDP readers: libosdp's own peripheral device on one end of a pty.

For tests, the demo and ``hallvakt tap``. Rules this module guarantees:
- Each simulated reader is a libosdp ``PeripheralDevice`` with its address and
  SCBK, ``EnforceSecure`` set, and declares every capability the control panel
  uses (LED control, audible output, card data, communication security, and
  contact inputs when it has any): a correct controller never makes it NAK.
- Several readers share one line the way RS-485 does: each hears every byte
  from the controller and answers only to its own address.
- Its command callback never raises (that would NAK) and never calls into
  libosdp; what it receives is recorded, decoded to ``LedSignal`` /
  ``BuzzerSignal``, in a thread-safe list.
- Run as ``python -m door_controller.readers.osdp_sim`` it serves a JSON-lines
  control protocol on a unix socket (one request per line, one reply per line:
  ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``); ops: ``status``,
  ``tap`` (``data`` hex, ``bits``), ``keys``, ``tamper``, ``inputs``,
  ``received``, ``stop``; ``address`` picks the reader when there are several.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import tty
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import osdp

from ..events import Feedback, LedSignal
from ..osdp import SCBK_BYTES, feedback_from_command, keypad_bytes

_INBOX_MAX = 64 * 1024
_KEYS_PER_EVENT = 64  # OSDP_EVENT_KEYPRESS_MAX_DATALEN: the binding does not check it


class SimulatorError(Exception):
    """The simulator refused a request or could not be reached."""


@dataclass(slots=True)
class PtyPair:
    """A raw pty pair: the controller opens ``controller_path``, the simulator ``device_fd``."""

    controller_path: str
    device_fd: int
    _controller_fd: int  # held open so the device end never reads EIO

    def close(self) -> None:
        """Close both ends; idempotent (a second close must not hit a reused fd)."""
        for fd in (self.device_fd, self._controller_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.device_fd = self._controller_fd = -1

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pty_pair() -> PtyPair:
    """A new raw pty pair (``os.openpty`` + ``tty.setraw`` on both ends)."""
    device, controller = os.openpty()
    pair = PtyPair("", device, controller)
    try:
        tty.setraw(device)
        tty.setraw(controller)
        os.set_blocking(device, False)
        pair.controller_path = os.ttyname(controller)
    except BaseException:
        pair.close()
        raise
    return pair


def parse_card(text: str) -> tuple[bytes, int]:
    """``"0ABCDE40/26"`` as ``(bytes, bits)``; without ``/bits``, 8 per byte. ``ValueError``."""
    hexpart, _, bits = text.partition("/")
    data = bytes.fromhex(hexpart)
    count = int(bits) if bits else 8 * len(data)
    if not data or (count + 7) // 8 != len(data) or len(data) > 64:
        raise ValueError(f"{text!r}: {count} bits do not fit {len(data)} bytes")
    return data, count


class _Line:
    """One fd shared by several PDs: every PD's inbox gets every byte read."""

    def __init__(self, fd: int) -> None:
        self._fd, self._lock = fd, threading.Lock()
        self._inboxes: list[bytearray] = []

    def attach(self) -> int:
        self._inboxes.append(bytearray())
        return len(self._inboxes) - 1

    def read(self, who: int, max_bytes: int) -> bytes:
        with self._lock:
            try:
                data = os.read(self._fd, 4096)
            except OSError:  # BlockingIOError, or EIO while no controller is attached
                data = b""
            for box in self._inboxes:
                box += data
                del box[:-_INBOX_MAX]
            box = self._inboxes[who]
            out = bytes(box[:max_bytes])
            del box[:max_bytes]
            return out

    def write(self, buf: bytes) -> int:
        with self._lock:
            try:
                return os.write(self._fd, buf)
            except OSError:
                return 0

    def drop_input(self, who: int) -> None:
        with self._lock:
            self._inboxes[who].clear()


class _LineChannel(osdp.Channel):  # type: ignore[misc]  # osdp ships no type hints
    def __init__(self, line: _Line) -> None:
        super().__init__()
        self._line, self._who = line, line.attach()

    def read(self, max_bytes: int) -> bytes:
        return self._line.read(self._who, max_bytes)

    def write(self, buf: bytes) -> int:
        return self._line.write(buf)

    def flush(self) -> None:
        self._line.drop_input(self._who)


@dataclass(frozen=True, slots=True)
class SimReaderSpec:
    address: int
    scbk: bytes = field(repr=False)
    inputs: int = 0  # contact inputs it reports (osdp_ISTATR)


class SimReader:
    """One simulated OSDP reader (a libosdp PD). Create it through ``SimulatedBus``."""

    def __init__(self, line: _Line, spec: SimReaderSpec, log_level: int) -> None:
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
            _LineChannel(line),
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
        if not data or (bits + 7) // 8 != len(data) or len(data) > 64:
            raise ValueError(f"{bits} bits do not fit {len(data)} bytes")
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
        report = bytes([int(active), 0])
        self._submit(
            {"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "report": report}
        )

    def set_inputs(self, states: Sequence[bool]) -> None:
        """Report all contact inputs (``osdp_ISTATR``), input 0 first."""
        if len(states) != self.spec.inputs:
            raise ValueError(f"reader {self.spec.address} has {self.spec.inputs} inputs")
        report = bytes(int(s) for s in states)
        self._submit(
            {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "report": report}
        )


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
        line = _Line(device_fd)
        self.readers = [SimReader(line, spec, log_level) for spec in readers]
        self._started = False

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

    def stop(self) -> None:
        """Stop every reader's libosdp thread; idempotent."""
        if self._started:
            self._started = False
            for r in self.readers:
                r._pd.teardown()

    def __enter__(self) -> SimulatedBus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the control protocol -----------------------------------------------------------


def _feedback_json(fb: Feedback) -> dict[str, Any]:
    kind = "led" if isinstance(fb, LedSignal) else "buzzer"
    out: dict[str, Any] = {"kind": kind, **asdict(fb)}
    if isinstance(fb, LedSignal):
        out["color"] = fb.color.name
    return out


def handle_request(bus: SimulatedBus, request: dict[str, Any]) -> dict[str, Any]:
    """Carry out one control request; errors come back as ``{"ok": false}``."""
    try:
        op = request["op"]
        if op == "status":
            readers = [
                {"address": r.spec.address, "sc_active": r.is_sc_active()} for r in bus.readers
            ]
            return {"ok": True, "readers": readers}
        reader = bus.reader(request.get("address"))
        if op == "tap":
            reader.tap_card(bytes.fromhex(request["data"]), int(request["bits"]))
        elif op == "keys":
            reader.press_keys(str(request["keys"]))
        elif op == "tamper":
            reader.set_tamper(bool(request["active"]))
        elif op == "inputs":
            reader.set_inputs([bool(s) for s in request["states"]])
        elif op == "received":
            return {"ok": True, "received": [_feedback_json(f) for f in reader.received()]}
        else:
            return {"ok": False, "error": f"unknown op {op!r}"}
        return {"ok": True}
    except (KeyError, TypeError, ValueError, SimulatorError) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def serve(
    bus: SimulatedBus,
    path: str,
    stop: threading.Event,
    info: dict[str, Any],
    on_ready: Callable[[], None] = lambda: None,
) -> None:
    """Answer JSON-lines requests on the unix socket ``path`` until ``stop`` or op ``stop``.

    ``info`` is added to ``status`` replies; ``on_ready`` runs once the socket listens.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        server.bind(path)
        try:
            server.listen()
            server.settimeout(0.2)
            on_ready()
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn, contextlib.suppress(OSError):
                    conn.settimeout(10.0)
                    _answer(bus, conn, stop, info)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _answer(
    bus: SimulatedBus, conn: socket.socket, stop: threading.Event, info: dict[str, Any]
) -> None:
    with conn.makefile("rwb") as stream:
        for line in stream:
            try:
                request = json.loads(line)
                if request.get("op") == "stop":
                    stop.set()
                    reply: dict[str, Any] = {"ok": True}
                else:
                    reply = handle_request(bus, request)
                    if request.get("op") == "status":
                        reply.update(info)
            except (ValueError, AttributeError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            stream.write(json.dumps(reply).encode() + b"\n")
            stream.flush()
            if stop.is_set():
                return


class SimClient:
    """Talks to a simulator process over its control socket (one connection per request)."""

    def __init__(self, path: str | Path, timeout: float = 5.0) -> None:
        self.path, self.timeout = str(path), timeout

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request; return the reply, or raise ``SimulatorError``."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self.path)
                sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
                with sock.makefile("rb") as stream:
                    line = stream.readline()
        except OSError as exc:
            raise SimulatorError(f"simulator at {self.path}: {exc}") from exc
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError as exc:
            raise SimulatorError(f"simulator at {self.path}: no reply") from exc
        if not reply.get("ok"):
            raise SimulatorError(str(reply.get("error")))
        return reply

    def tap(self, card: str, address: int | None = None) -> None:
        """Tap ``card`` written as ``HEX/BITS`` (e.g. ``0ABCDE40/26``)."""
        data, bits = parse_card(card)
        self.request("tap", data=data.hex(), bits=bits, address=address)

    def keys(self, keys: str, address: int | None = None) -> None:
        self.request("keys", keys=keys, address=address)

    def status(self) -> dict[str, Any]:
        return self.request("status")

    def received(self, address: int | None = None) -> list[dict[str, Any]]:
        return list(self.request("received", address=address)["received"])

    def stop(self) -> None:
        self.request("stop")


def _reader_arg(text: str) -> SimReaderSpec:
    """``ADDRESS=KEYHEX`` or ``ADDRESS=@KEYFILE`` (32 hex digits), optional ``:INPUTS``."""
    address, _, rest = text.partition("=")
    key, _, inputs = rest.partition(":")
    if key.startswith("@"):
        key = Path(key[1:]).read_text().strip()
    return SimReaderSpec(int(address), bytes.fromhex(key), int(inputs or 0))


def main(argv: Sequence[str] | None = None) -> int:
    """Run simulated readers until SIGTERM/SIGINT or the ``stop`` op (a process of its own).

    Stdout carries one JSON line once the control socket listens:
    ``{"controller_path": ..., "pid": ...}``; everything else printed (libosdp
    logs on stdout) goes to stderr, so a parent reading stdout never blocks it.
    """
    ap = argparse.ArgumentParser(prog="osdp_sim", description=__doc__.splitlines()[0])
    ap.add_argument("--reader", action="append", type=_reader_arg, required=True)
    ap.add_argument("--control", required=True, help="unix socket for the control protocol")
    ap.add_argument("--device", help="tty path of the device end (default: a new pty pair)")
    ap.add_argument("--link", help="make this path a symlink to the controller end of the pty")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with contextlib.ExitStack() as stack:
        stack.callback(ready.close)
        if args.device:
            fd = os.open(args.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            stack.callback(os.close, fd)
            tty.setraw(fd)
            controller_path = None
        else:
            pair = stack.enter_context(pty_pair())
            fd, controller_path = pair.device_fd, pair.controller_path
            if args.link:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(args.link)
                os.symlink(controller_path, args.link)
                stack.callback(os.unlink, args.link)
        bus = stack.enter_context(SimulatedBus(fd, args.reader))
        info = {"controller_path": args.link or controller_path, "pid": os.getpid()}

        def announce() -> None:
            ready.write(json.dumps(info) + "\n")
            ready.close()

        serve(bus, args.control, stop, info, announce)
    return 0


class SimProcess:
    """A simulator child process (``python -m door_controller.readers.osdp_sim``) on a new pty.

    ``controller_path`` is the tty the controller opens (``link`` if given). The
    keys travel on the child's command line: for tests and the demo only.
    """

    def __init__(
        self,
        readers: Sequence[SimReaderSpec],
        control: str | Path,
        *,
        link: str | Path | None = None,
        timeout: float = 15.0,
    ):
        cmd = [sys.executable, "-m", "door_controller.readers.osdp_sim", "--control", str(control)]
        for r in readers:
            cmd += ["--reader", f"{r.address}={r.scbk.hex()}:{r.inputs}"]
        if link is not None:
            cmd += ["--link", str(link)]
        self.client = SimClient(control)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
        try:
            ready = self._read_ready(timeout)
        except BaseException:
            self.close()
            raise
        self.controller_path: str = ready["controller_path"]
        self.pid: int = ready["pid"]

    def _read_ready(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise SimulatorError("the simulator did not start in time")
        line = self._proc.stdout.readline()
        if not line:
            raise SimulatorError(f"the simulator exited with {self._proc.wait()}")
        return dict(json.loads(line))

    def close(self, timeout: float = 10.0) -> int:
        """Stop the child (op ``stop``, then SIGTERM, then SIGKILL); return its exit code."""
        if self._proc.poll() is None:
            with contextlib.suppress(SimulatorError):
                self.client.stop()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        return self._proc.returncode

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
