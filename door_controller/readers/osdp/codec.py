"""OSDP on the wire as both ends use it: keypad bytes, feedback commands, key and address sizes.

Shared by the control panel (``bus``) and the simulator (``osdp_sim``). Rules
this module guarantees:
- Pure: no I/O and no calls into libosdp (only its constants).
- ``command_for`` builds only what a reader must declare in its capabilities
  (SIA OSDP 2.2 §6.10 ``osdp_LED``, LED control; §6.11 ``osdp_BUZ``, audible
  output): one LED command holding only a temporary state (control code 2,
  timer in 100 ms units), or a buzzer command with a finite count.
  ``feedback_from_command`` reads such a command back as a PD receives it
  (None for any other command), so ``feedback_from_command(command_for(fb)) ==
  fb`` for every feedback whose times are whole 100 ms units.
- Keypad (§7.11 ``osdp_KEYPAD``): digits as ASCII, ``*`` as 0x7F, ``#`` as 0x0D;
  ``keypad_bytes`` and ``keypad_key`` are each other's inverse.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import osdp

from ..events import BuzzerSignal, Feedback, LedColor, LedSignal

SCBK_BYTES = 16
MAX_ADDRESS = 126  # 0x7F is the broadcast address


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
