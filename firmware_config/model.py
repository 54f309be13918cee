"""The typed node configuration: what a valid node.toml becomes.

Rules this module guarantees:
- Every class is a frozen dataclass; an instance is only built from a config
  that passed the schema and the cross-field checks (firmware_config.config).
- A config never holds a secret: keys, the broker password and TLS keys are
  file paths; central's pinned keys are public keys.
- Paths are absolute: a relative path in the file is taken from the config
  file's directory when the file is read.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sync.replica.records import Policy


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5), as JWS uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fingerprint(raw_public_key: bytes) -> str:
    """``sha256:`` + unpadded base64url of SHA-256 over a raw public key."""
    return "sha256:" + b64url(hashlib.sha256(raw_public_key).digest())


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """``mqtts://host:port``, ``mqtt://host:port`` or ``unix:///path``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Broker:
    url: BrokerURL
    ca: Path | None
    cert: Path | None
    key: Path | None
    password_file: Path | None
    keepalive_s: int


@dataclass(frozen=True, slots=True)
class CentralKey:
    """A pinned central public key (PROTOCOL.md §4): raw 32-byte Ed25519."""

    raw: bytes

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)


@dataclass(frozen=True, slots=True)
class InputSource:
    """Where a door input is wired: ``reader:<id>:<n>``, input n (from 0) of an
    OSDP reader (door_controller.readers.events.InputChanged numbers them so)."""

    reader: str
    number: int

    def __str__(self) -> str:
        return f"reader:{self.reader}:{self.number}"


@dataclass(frozen=True, slots=True)
class DoorInput:
    source: InputSource
    normally: str  # "open" or "closed": the contact's state at rest

    @property
    def active_when_closed(self) -> bool:
        """Whether the input reads active at rest (a normally closed contact)."""
        return self.normally == "closed"


@dataclass(frozen=True, slots=True)
class Lock:
    output: str
    channel: int
    mode: str  # "fail-secure" or "fail-safe"

    @property
    def fail_mode(self) -> str:
        """``secure`` or ``safe``, as central's door records and
        door_controller.outputs.relay spell it."""
        return self.mode.removeprefix("fail-")


@dataclass(frozen=True, slots=True)
class Door:
    id: str
    lock: Lock
    contact: DoorInput | None
    request_to_exit: DoorInput | None
    fire_release: DoorInput | None
    tamper: DoorInput | None = None


@dataclass(frozen=True, slots=True)
class Reader:
    id: str
    kind: str  # "osdp" or "serial-line"
    port: str
    baud: int
    framing: str | None  # serial-line only: door_controller.readers.serial_line.Framing
    address: int | None
    key: Path | None
    door: str | None
    direction: str | None
    kiosk: str | None


@dataclass(frozen=True, slots=True)
class Output:
    id: str
    kind: str
    protocol: str
    port: str
    channels: int


@dataclass(frozen=True, slots=True)
class ScreenSize:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True, slots=True)
class Kiosk:
    id: str
    languages: tuple[str, ...]
    default_language: str
    screen: ScreenSize
    idle_timeout_s: int
    speech: bool


@dataclass(frozen=True, slots=True)
class PolicyOverrides:
    """Local overrides of central's ``policy`` record; ``None`` = central's value."""

    max_offline_hours: int | None
    pin_required: bool | None
    pin_max_attempts: int | None
    pin_lockout_seconds: int | None
    codes_after_leader: bool | None
    no_show_grace_minutes: int | None

    def apply(self, policy: Policy) -> Policy:
        """``policy`` with every overridden field replaced."""
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }
        return dataclasses.replace(policy, **changes)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: str
    facility_id: str
    database: Path
    timezone: str
    node_key: Path
    credential_key: Path
    broker: Broker
    central_keys: Mapping[str, CentralKey]
    policy: PolicyOverrides
    outputs: tuple[Output, ...]
    doors: tuple[Door, ...]
    readers: tuple[Reader, ...]
    kiosks: tuple[Kiosk, ...]

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def door(self, ident: str) -> Door:
        """The door with id ``ident``; raises ``KeyError``."""
        for d in self.doors:
            if d.id == ident:
                return d
        raise KeyError(ident)

    def output(self, ident: str) -> Output:
        """The output device with id ``ident``; raises ``KeyError``."""
        for o in self.outputs:
            if o.id == ident:
                return o
        raise KeyError(ident)

    def readers_of(self, door: str) -> tuple[Reader, ...]:
        """The readers serving ``door``."""
        return tuple(r for r in self.readers if r.door == door)
