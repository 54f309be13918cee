"""The simulator's control protocol: JSON lines on a unix socket.

Rules this module guarantees:
- One request per line, one reply per line: ``{"ok": true, ...}`` or
  ``{"ok": false, "error": "..."}``. Ops: ``status``, ``tap`` (``data`` hex,
  ``bits``), ``keys``, ``tamper``, ``inputs``, ``received``, ``stop``;
  ``address`` picks the reader when there are several.
- A request that cannot be carried out (not JSON, an unknown op or reader, a
  missing or bad field, libosdp's event queue full) gets an error reply and
  the server carries on; it answers until ``stop`` is set or a client sends
  op ``stop``, and removes its socket file when it ends.
- ``SimClient`` opens one connection per request and raises
  ``SimulatorError`` for a refused request or a simulator it cannot reach.
- Cards are written ``HEX/BITS`` (``parse_card``), as ``hallvakt tap`` takes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..events import Feedback, LedSignal
from .device import SimulatedBus, SimulatorError, check_card


def parse_card(text: str) -> tuple[bytes, int]:
    """``"0ABCDE40/26"`` as ``(bytes, bits)``; without ``/bits``, 8 per byte. ``ValueError``."""
    hexpart, _, bits = text.partition("/")
    data = bytes.fromhex(hexpart)
    count = int(bits) if bits else 8 * len(data)
    try:
        check_card(data, count)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return data, count


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
