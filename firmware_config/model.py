"""The typed node configuration and its schema: what a valid node.toml becomes.

Rules this module guarantees:
- Every table is a frozen dataclass whose fields carry their schema: the value
  spec (type, range, choices, pattern) and the key (required, or optional with
  its default, meaning and example). ``NodeConfig`` is the whole of node.toml;
  docs/configuration.md's reference is generated from it
  (``python -m firmware_config.docgen``), so the two cannot drift.
- An instance is only built from a config that passed the schema and the
  cross-field checks (firmware_config.config).
- A config never holds a secret: keys, the broker password and TLS keys are
  file paths; central's pinned keys are public keys.
- Paths are absolute: a relative path in the file is taken from the config
  file's directory when the file is read.
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from .ids import ENTITY_ID, ENTITY_ID_RULE
from .keypath import KeyPath
from .rules import Check, ExactlyOne, When
from .schema import Optional, Required, quote, table
from .validators import Array, Bool, FilePath, Int, IntChoice, MapOf, Number, OneOf, Text
from .values import (
    LOCAL_ID,
    NODE_ID_PATTERN,
    BrokerURL,
    CentralKey,
    InputSource,
    ScreenSize,
    b64url,
    fingerprint,
    parse_broker_url,
    parse_central_key,
    parse_input_source,
    parse_port,
    parse_screen,
    parse_timezone,
)
from .vocabulary import DEFAULT_TZ, Framing

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    P = TypeVar("P", bound=DataclassInstance)

__all__ = [  # the value types live in firmware_config.values, next to their parsers
    "BrokerURL",
    "CentralKey",
    "InputSource",
    "ScreenSize",
    "b64url",
    "fingerprint",
]

# Languages the kiosk ships catalogues for (kiosk/locale/). Next in line, as
# most asked for at Swedish municipal front desks: fi, ar, so, fa, uk; each is
# added here together with its catalogue.
LANGUAGES = ("sv", "en")
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400)  # OSDP v2.2 §5.7 rates
FRAMINGS = tuple(f.value for f in Framing)  # serial-line readers' framings

# `central` and `central-...` are reserved for central's gateways
# (values.GATEWAY_ID_PATTERN): a node with such an id would hold a gateway's
# broker identity, and with it central's rights in the ACL.
NODE_ID = Text(
    NODE_ID_PATTERN,
    "a node id (1-64 of a-z 0-9 - ., PROTOCOL.md §2; not `central` or `central-*`)",
)
CENTRAL_ID = Text(ENTITY_ID, f"an id as central writes it ({ENTITY_ID_RULE})")
LOCAL = Text(LOCAL_ID, "a local id (1-32 of A-Z a-z 0-9 _ -)")
KID = Text(r"[A-Za-z0-9._:-]{1,64}", "a key id (1-64 of A-Z a-z 0-9 . _ : -)")
PORT = Text().then(parse_port, "serial port: device path or pyserial URL")
SOURCE = Text().then(parse_input_source, "`reader:<reader id>:<input>`")
# The broker's `url`, the same in node.toml and central.toml.
BROKER_URL = Text().then(
    parse_broker_url,
    "`mqtts://host[:port]` (8883), `mqtt://host[:port]` (1883, loopback only), `unix:///path`",
)
BROKER_URL_KEY = Required("where the broker is", "mqtts://mqtt.bokning.malmo.example:8883")

# A broker table's TLS files go with mqtts:// and only with it (node and central).
BROKER_TLS_RULES = [
    When("url", lambda u: u.scheme == "mqtts", "url is mqtts://", require=("ca", "cert", "key")),
    When("url", lambda u: u.scheme != "mqtts", "url is not mqtts://", forbid=("ca", "cert", "key")),
]


@table(
    "The MQTT broker (PROTOCOL.md §2). The MQTT user name is always the node id: "
    "the client certificate's CN, or the user of `password_file`.",
    BROKER_TLS_RULES,
)
@dataclass(frozen=True, slots=True)
class Broker:
    url: Annotated[BrokerURL, BROKER_URL, BROKER_URL_KEY]
    ca: Annotated[
        Path | None,
        FilePath(),
        Optional(None, "CA certificate (PEM) that signed the broker's", "tls/ca.pem"),
    ]
    cert: Annotated[
        Path | None,
        FilePath(),
        Optional(None, "the node's client certificate (PEM), CN = node id", "tls/node.crt"),
    ]
    key: Annotated[
        Path | None, FilePath(), Optional(None, "its private key (secret)", "secrets/tls.key")
    ]
    password_file: Annotated[
        Path | None,
        FilePath(),
        Optional(None, "the node's broker password (secret)", "secrets/broker.pw"),
    ]
    keepalive_s: Annotated[int, Int(5, 3600), Optional(60, "MQTT keep-alive in seconds", 30)]


@table(
    "Local overrides of central's `policy` record (the fields and ranges of "
    "sync/protocol/records.py `Policy`). An absent key keeps central's value."
)
@dataclass(frozen=True, slots=True)
class PolicyOverrides:
    """Local overrides of central's ``policy`` record; ``None`` = central's value."""

    max_offline_hours: Annotated[
        int | None,
        Int(1, 24 * 60),
        Optional(
            None,
            "hours without a fresh head before doors admit only staff grants (PROTOCOL.md §7)",
            48,
        ),
    ]
    pin_required: Annotated[bool | None, Bool(), Optional(None, "a card needs a PIN too", False)]
    pin_max_attempts: Annotated[
        int | None, Int(1, 20), Optional(None, "wrong PINs before a lockout", 3)
    ]
    pin_lockout_seconds: Annotated[
        int | None, Int(1, 86_400), Optional(None, "length of a PIN lockout", 300)
    ]
    codes_after_leader: Annotated[
        bool | None,
        Bool(),
        Optional(None, "visitor codes open only after a leader has", True),
    ]
    no_show_grace_minutes: Annotated[
        int | None,
        Int(0, 240),
        Optional(None, "minutes before an unused booking is a no-show", 20),
    ]

    def apply(self, policy: P) -> P:
        """``policy`` with every overridden field replaced."""
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }
        return dataclasses.replace(policy, **changes)


@table(
    "Serial relay boards that drive the locks (door_controller/outputs/relay.py). "
    "They have no inputs and answer nothing."
)
@dataclass(frozen=True, slots=True)
class Output:
    id: Annotated[str, LOCAL, Required("local id, used by door locks", "locks")]
    kind: Annotated[str, OneOf("serial-relay"), Optional("serial-relay", "device kind")]
    protocol: Annotated[
        str, OneOf("lcus"), Optional("lcus", "LCUS (CH340) USB relay board frames, 9600 8N1")
    ]
    port: Annotated[
        str,
        PORT,
        Required("the board's serial port", "/dev/serial/by-id/usb-1a86_USB2.0-Serial-if00-port0"),
    ]
    channels: Annotated[
        int,
        IntChoice(1, 2, 4, 8),
        Required("number of relays on the board (LCUS-1, -2, -4, -8)", 4),
    ]


@table("The door's lock: which relay on which board, and what it does without power.")
@dataclass(frozen=True, slots=True)
class Lock:
    output: Annotated[str, LOCAL, Required("id of the relay board", "locks")]
    channel: Annotated[
        int, Int(1, 8), Required("relay on the board, from 1; one door per relay", 1)
    ]
    mode: Annotated[
        str,
        OneOf("fail-secure", "fail-safe"),
        Required(
            "`fail-secure`: locked without power; `fail-safe`: open without power",
            "fail-secure",
        ),
    ]  # "fail-secure" or "fail-safe"

    @property
    def fail_mode(self) -> str:
        """``secure`` or ``safe``, as central's door records and
        door_controller.outputs.relay spell it."""
        return self.mode.removeprefix("fail-")


@table(
    "A door input: door contact, request-to-exit, fire release or tamper, wired to an "
    "input of an OSDP reader (counted from 0; serial-line readers have none). Doors may "
    "share a fire release; any other input feeds one door input."
)
@dataclass(frozen=True, slots=True)
class DoorInput:
    source: Annotated[InputSource, SOURCE, Required("where it is wired", "reader:main-in:0")]
    normally: Annotated[
        str, OneOf("open", "closed"), Required("the contact's state at rest", "closed")
    ]  # "open" or "closed": the contact's state at rest

    @property
    def active_when_closed(self) -> bool:
        """Whether the input reads active at rest (a normally closed contact)."""
        return self.normally == "closed"


@table("Doors this node controls.")
@dataclass(frozen=True, slots=True)
class Door:
    id: Annotated[
        str, CENTRAL_ID, Required("the door's id in central's `door` records", "huvudentre")
    ]
    lock: Annotated[Lock, Required("the lock relay")]
    contact: Annotated[DoorInput | None, Optional(None, "door position contact")]
    request_to_exit: Annotated[DoorInput | None, Optional(None, "exit button or motion sensor")]
    fire_release: Annotated[DoorInput | None, Optional(None, "fire alarm release")]
    tamper: Annotated[DoorInput | None, Optional(None, "tamper switch or tamper loop")]


@table(
    "Card and PIN readers: at a door (`door` + `direction`) or a kiosk's own (`kiosk`).",
    [
        When(
            "kind",
            lambda k: k == "osdp",
            'kind = "osdp"',
            require=("address", "key"),
            forbid=("framing",),
        ),
        When(
            "kind",
            lambda k: k == "serial-line",
            'kind = "serial-line"',
            require=("framing",),
            forbid=("address", "key"),
        ),
        ExactlyOne("door", "kiosk"),
        When("door", lambda _: True, "door is set", require=("direction",)),
        When("kiosk", lambda _: True, "kiosk is set", forbid=("direction",)),
    ],
)
@dataclass(frozen=True, slots=True)
class Reader:
    id: Annotated[str, LOCAL, Required("local id, used by input sources", "main-in")]
    kind: Annotated[
        str,
        OneOf("osdp", "serial-line"),
        Required("`osdp`: OSDP v2 with secure channel; `serial-line`: one line per read", "osdp"),
    ]
    port: Annotated[str, PORT, Required("serial port; an RS-485 bus for OSDP", "/dev/ttyUSB0")]
    baud: Annotated[
        int,
        IntChoice(*BAUD_RATES),
        Optional(9600, "baud rate, the same for every reader on a port"),
    ]
    framing: Annotated[
        str | None,
        OneOf(*FRAMINGS),
        Optional(None, "serial-line framing: `em4100` or `hex-line`", "em4100"),
    ]  # serial-line only: a firmware_config.vocabulary.Framing
    address: Annotated[
        int | None, Int(0, 126), Optional(None, "OSDP address, unique on its port", 1)
    ]
    key: Annotated[
        Path | None,
        FilePath(),
        Optional(None, "OSDP secure channel key, SCBK (secret)", "secrets/reader-main-in.key"),
    ]
    door: Annotated[
        str | None, CENTRAL_ID, Optional(None, "id of the door it serves", "huvudentre")
    ]
    direction: Annotated[
        str | None, OneOf("in", "out"), Optional(None, "way through the door", "in")
    ]
    kiosk: Annotated[
        str | None, LOCAL, Optional(None, "id of the kiosk whose own reader it is", "foyer")
    ]


def _default_language(
    raw: Mapping[str, object], values: Mapping[str, Any]
) -> Iterator[tuple[KeyPath, str]]:
    langs, default = values.get("languages"), values.get("default_language")
    if langs is None or default is None or default in langs:
        return
    listed = ", ".join(langs)
    if "default_language" in raw:
        yield ("default_language",), f"{quote(default)} is not in languages ({listed})"
    else:
        yield (
            ("default_language",),
            f"is required: the default {quote(default)} is not in languages ({listed})",
        )


def _one_size(
    raw: Mapping[str, object], values: Mapping[str, Any]
) -> Iterator[tuple[KeyPath, str]]:
    if values.get("screen_diagonal_in") is not None and values.get("screen_dpi") is not None:
        yield ("screen_dpi",), "give screen_diagonal_in or screen_dpi, not both"


ALSA_DEVICE = r"[A-Za-z0-9_:,=.'/-]{1,120}"
QR_FIELDS = frozenset({"facility", "booking", "code", "start", "end", "resource"})


def parse_qr_template(template: str) -> str:
    """An ``https://`` link whose ``{fields}`` are among ``QR_FIELDS`` (the
    kiosk fills them in: kiosk/qrtext.py); raises ``ValueError``."""
    if not template.startswith("https://"):
        raise ValueError(f"{quote(template)} is not an https:// link")
    try:
        names = {n for _, n, _, _ in string.Formatter().parse(template) if n is not None}
    except ValueError as exc:
        raise ValueError(f"{quote(template)} is not a template: {exc}") from None
    unknown = sorted(names - QR_FIELDS)
    if unknown:
        raise ValueError(
            f"{quote(template)} has unknown fields {', '.join(unknown)}"
            f" (known: {', '.join(sorted(QR_FIELDS))})"
        )
    return template


@table(
    "Touch kiosks.",
    [
        Check(
            _default_language,
            "`default_language` is one of `languages`",
            keys=("languages", "default_language"),
        ),
        Check(
            _one_size,
            "at most one of `screen_diagonal_in` and `screen_dpi`",
            keys=("screen_diagonal_in", "screen_dpi"),
        ),
    ],
)
@dataclass(frozen=True, slots=True)
class Kiosk:
    id: Annotated[str, LOCAL, Required("local id, used by a reader's `kiosk`", "foyer")]
    languages: Annotated[
        tuple[str, ...],
        Array(OneOf(*LANGUAGES), min_len=1, unique=True),
        Optional(["sv", "en"], "languages offered, in this order", ["sv", "en"]),
    ]
    default_language: Annotated[
        str,
        OneOf(*LANGUAGES),
        Optional("sv", "language of the idle screen, one of `languages`"),
    ]
    screen: Annotated[
        ScreenSize,
        Text().then(parse_screen, "`WIDTHxHEIGHT`, each 240..7680"),
        Optional("1080x1920", "screen size in pixels", "1920x1080"),
    ]
    idle_timeout_s: Annotated[
        int,
        Int(10, 3600),
        Optional(60, "seconds without a touch before the start screen", 45),
    ]
    speech: Annotated[
        bool,
        Bool(),
        Optional(True, "read screens aloud from the start (visitors can turn it off)", False),
    ]
    orientation: Annotated[
        str,
        OneOf("portrait", "landscape"),
        Optional("portrait", "how the panel is mounted (`screen` is its resolution)", "landscape"),
    ]
    screen_diagonal_in: Annotated[
        float | None,
        Number(5, 100),
        Optional(None, "the panel's diagonal in inches (21.5 if neither this nor dpi)", 21.5),
    ]
    screen_dpi: Annotated[
        int | None,
        Int(40, 600),
        Optional(None, "the panel's pixels per inch, instead of its diagonal", 102),
    ]
    speaker_device: Annotated[
        str | None,
        Text(ALSA_DEVICE, "an ALSA device name", 120),
        Optional(None, "ALSA device for speech (default: the system's)", "plughw:CARD=PCH"),
    ]
    headset_device: Annotated[
        str | None,
        Text(ALSA_DEVICE, "an ALSA device name", 120),
        Optional(None, "ALSA device of the private headset (door codes only there)", "plughw:1"),
    ]
    volume: Annotated[int, Int(10, 100), Optional(70, "speech volume in percent at the start", 85)]
    qr_url_template: Annotated[
        str | None,
        Text(max_len=300).then(parse_qr_template, "an https:// link with {code}-style fields"),
        Optional(
            None,
            "the e-service link in the QR code (default: a calendar entry)",
            "https://boka.example.se/kod?b={booking}",
        ),
    ]
    phone_walkins: Annotated[
        bool, Bool(), Optional(True, "private persons may book with a phone number", False)
    ]


@table("The top level of node.toml.")
@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: Annotated[
        str,
        NODE_ID,
        Required(
            "the node id (PROTOCOL.md §2); also its MQTT user and certificate CN",
            "malmo.baltiskahallen.n1",
        ),
    ]
    facility_id: Annotated[
        str,
        CENTRAL_ID,
        Required("central's id of the facility this node serves", "baltiskahallen"),
    ]
    timezone: Annotated[
        str,
        Text().then(parse_timezone, "IANA time zone name"),
        Optional(DEFAULT_TZ, "facility time zone: today, weekly windows, display"),
    ]
    database: Annotated[
        Path, FilePath(), Optional("/var/lib/hallvakt/node.db", "the node database (SQLite)")
    ]
    node_key: Annotated[
        Path,
        FilePath(),
        Optional("secrets/node.key", "the node's Ed25519 signing key (secret)"),
    ]
    credential_key: Annotated[
        Path,
        FilePath(),
        Optional(
            "secrets/credential.key",
            'the municipality\'s credential key K (secret; PROTOCOL.md "Credential digests")',
        ),
    ]
    broker: Annotated[Broker, Required("the MQTT broker")]
    central_keys: Annotated[
        Mapping[str, CentralKey],
        MapOf(
            KID,
            Text(max_len=4096).then(
                parse_central_key, "Ed25519 public key (base64url raw, or PEM)"
            ),
            min_len=1,
        ),
        Required(
            "central's public keys, pinned by kid (PROTOCOL.md §4)",
            {"central-2026a": "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"},
        ),
    ]
    policy: Annotated[PolicyOverrides, Optional({}, "local policy overrides")]
    outputs: Annotated[tuple[Output, ...], Optional([], "relay boards")]
    doors: Annotated[tuple[Door, ...], Optional([], "doors")]
    readers: Annotated[tuple[Reader, ...], Optional([], "readers")]
    kiosks: Annotated[tuple[Kiosk, ...], Optional([], "kiosks")]

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
