"""The node configuration file (node.toml): its schema and how it is read.

Rules this module guarantees:
- ``NODE`` below is the whole schema: every key, its type, range, default and
  meaning. docs/configuration.md's reference is generated from it
  (``python -m firmware_config.docgen``), so the two cannot drift.
- A config is checked in three passes, and every problem of every pass that
  runs is reported at once, as ``FILE: key.path: problem`` lines:
  1. schema: types, ranges, enums, patterns, required and unknown keys, and
     rules within one table (``kind = "osdp"`` needs ``address`` and ``key``);
  2. cross-field (firmware_config.checks): references, ports, addresses, relay
     channels, inputs. It runs on every item that passed pass 1, so a broken
     reader does not hide a clash between two good ones;
  3. files (firmware_config.filecheck): key, certificate and password files
     exist, load, and are not open to group or others. ``load_config(...,
     files=False)`` skips it: ``config show`` and ``provision`` run before the
     secrets exist. Daemons and ``config check`` run all three.
- A TOML syntax error is a ``ConfigError`` naming the file, line and column.
- Relative paths in the file are taken from the file's own directory.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from door_controller.readers.serial_line import Framing
from sync.replica.timeutil import DEFAULT_TZ

from .checks import Parts, cross_check
from .filecheck import check_files
from .model import (
    Broker,
    Door,
    DoorInput,
    Kiosk,
    Lock,
    NodeConfig,
    Output,
    PolicyOverrides,
    Reader,
)
from .schema import (
    Check,
    ConfigError,
    Context,
    ExactlyOne,
    Invalid,
    KeyPath,
    ListOf,
    MapOf,
    Optional,
    Problem,
    Required,
    Table,
    When,
    quote,
)
from .validators import Bool, FilePath, Int, IntChoice, OneOf, Text
from .values import (
    LOCAL_ID,
    NODE_ID_PATTERN,
    parse_broker_url,
    parse_central_key,
    parse_input_source,
    parse_port,
    parse_screen,
    parse_timezone,
)

DEFAULT_CONFIG = Path("/etc/hallvakt/node.toml")
EX_CONFIG = 78  # sysexits.h: systemd units use RestartPreventExitStatus=78
# Languages the kiosk ships catalogues for (kiosk/locale/). Next in line, as
# most asked for at Swedish municipal front desks: fi, ar, so, fa, uk; each is
# added here together with its catalogue.
LANGUAGES = ("sv", "en")
BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400)  # OSDP v2.2 §5.7 rates
FRAMINGS = tuple(f.value for f in Framing)  # serial-line readers' framings

# A broker table's TLS files go with mqtts:// and only with it (node and central).
BROKER_TLS_RULES = [
    When("url", lambda u: u.scheme == "mqtts", "url is mqtts://", require=("ca", "cert", "key")),
    When("url", lambda u: u.scheme != "mqtts", "url is not mqtts://", forbid=("ca", "cert", "key")),
]

# `central` and `central-...` are reserved for central's gateways
# (values.GATEWAY_ID_PATTERN): a node with such an id would hold a gateway's
# broker identity, and with it central's rights in the ACL.
NODE_ID = Text(
    NODE_ID_PATTERN,
    "a node id (1-64 of a-z 0-9 - ., PROTOCOL.md §2; not `central` or `central-*`)",
)
CENTRAL_ID = Text(
    r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}",
    "an id as central writes it (1-128 of A-Z a-z 0-9 . _ : @ -)",
)
LOCAL = Text(LOCAL_ID, "a local id (1-32 of A-Z a-z 0-9 _ -)")
KID = Text(r"[A-Za-z0-9._:-]{1,64}", "a key id (1-64 of A-Z a-z 0-9 . _ : -)")
PORT = Text().then(parse_port, "serial port: device path or pyserial URL")
SOURCE = Text().then(parse_input_source, "`reader:<reader id>:<input>`")


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


# The broker's `url` key, the same in node.toml and central.toml.
BROKER_URL = {
    Required("url", "where the broker is", "mqtts://mqtt.bokning.malmo.example:8883"): Text().then(
        parse_broker_url,
        "`mqtts://host[:port]` (8883), `mqtt://host[:port]` (1883, loopback only), `unix:///path`",
    ),
}

BROKER = Table(
    Broker,
    {
        **BROKER_URL,
        Optional(
            "ca", None, "CA certificate (PEM) that signed the broker's", "tls/ca.pem"
        ): FilePath(),
        Optional(
            "cert", None, "the node's client certificate (PEM), CN = node id", "tls/node.crt"
        ): FilePath(),
        Optional("key", None, "its private key (secret)", "secrets/tls.key"): FilePath(),
        Optional(
            "password_file", None, "the node's broker password (secret)", "secrets/broker.pw"
        ): FilePath(),
        Optional("keepalive_s", 60, "MQTT keep-alive in seconds", 30): Int(5, 3600),
    },
    BROKER_TLS_RULES,
    doc="The MQTT broker (PROTOCOL.md §2). The MQTT user name is always the node id: "
    "the client certificate's CN, or the user of `password_file`.",
)

POLICY = Table(
    PolicyOverrides,
    {
        Optional(
            "max_offline_hours",
            None,
            "hours without a fresh head before doors admit only staff grants (PROTOCOL.md §7)",
            48,
        ): Int(1, 24 * 60),
        Optional("pin_required", None, "a card needs a PIN too", False): Bool(),
        Optional("pin_max_attempts", None, "wrong PINs before a lockout", 3): Int(1, 20),
        Optional("pin_lockout_seconds", None, "length of a PIN lockout", 300): Int(1, 86_400),
        Optional(
            "codes_after_leader", None, "visitor codes open only after a leader has", True
        ): Bool(),
        Optional(
            "no_show_grace_minutes", None, "minutes before an unused booking is a no-show", 20
        ): (Int(0, 240)),
    },
    doc="Local overrides of central's `policy` record (the fields and ranges of "
    "sync/replica/records.py `Policy`). An absent key keeps central's value.",
)

OUTPUT = Table(
    Output,
    {
        Required("id", "local id, used by door locks", "locks"): LOCAL,
        Optional("kind", "serial-relay", "device kind"): OneOf("serial-relay"),
        Optional("protocol", "lcus", "LCUS (CH340) USB relay board frames, 9600 8N1"): OneOf(
            "lcus"
        ),
        Required(
            "port", "the board's serial port", "/dev/serial/by-id/usb-1a86_USB2.0-Serial-if00-port0"
        ): PORT,
        Required("channels", "number of relays on the board (LCUS-1, -2, -4, -8)", 4): IntChoice(
            1, 2, 4, 8
        ),
    },
    doc="Serial relay boards that drive the locks (door_controller/outputs/relay.py). "
    "They have no inputs and answer nothing.",
)


LOCK = Table(
    Lock,
    {
        Required("output", "id of the relay board", "locks"): LOCAL,
        Required("channel", "relay on the board, from 1; one door per relay", 1): Int(1, 8),
        Required(
            "mode",
            "`fail-secure`: locked without power; `fail-safe`: open without power",
            "fail-secure",
        ): OneOf("fail-secure", "fail-safe"),
    },
    doc="The door's lock: which relay on which board, and what it does without power.",
)

DOOR_INPUT = Table(
    DoorInput,
    {
        Required("source", "where it is wired", "reader:main-in:0"): SOURCE,
        Required("normally", "the contact's state at rest", "closed"): OneOf("open", "closed"),
    },
    doc="A door input: door contact, request-to-exit, fire release or tamper, wired to an "
    "input of an OSDP reader (counted from 0; serial-line readers have none). Doors may "
    "share a fire release; any other input feeds one door input.",
)

DOOR = Table(
    Door,
    {
        Required("id", "the door's id in central's `door` records", "huvudentre"): CENTRAL_ID,
        Required("lock", "the lock relay"): LOCK,
        Optional("contact", None, "door position contact"): DOOR_INPUT,
        Optional("request_to_exit", None, "exit button or motion sensor"): DOOR_INPUT,
        Optional("fire_release", None, "fire alarm release"): DOOR_INPUT,
        Optional("tamper", None, "tamper switch or tamper loop"): DOOR_INPUT,
    },
    doc="Doors this node controls.",
)

READER = Table(
    Reader,
    {
        Required("id", "local id, used by input sources", "main-in"): LOCAL,
        Required(
            "kind", "`osdp`: OSDP v2 with secure channel; `serial-line`: one line per read", "osdp"
        ): OneOf("osdp", "serial-line"),
        Required("port", "serial port; an RS-485 bus for OSDP", "/dev/ttyUSB0"): PORT,
        Optional("baud", 9600, "baud rate, the same for every reader on a port"): IntChoice(
            *BAUD_RATES
        ),
        Optional("framing", None, "serial-line framing: `em4100` or `hex-line`", "em4100"): OneOf(
            *FRAMINGS
        ),
        Optional("address", None, "OSDP address, unique on its port", 1): Int(0, 126),
        Optional(
            "key", None, "OSDP secure channel key, SCBK (secret)", "secrets/reader-main-in.key"
        ): FilePath(),
        Optional("door", None, "id of the door it serves", "huvudentre"): CENTRAL_ID,
        Optional("direction", None, "way through the door", "in"): OneOf("in", "out"),
        Optional("kiosk", None, "id of the kiosk whose own reader it is", "foyer"): LOCAL,
    },
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
    doc="Card and PIN readers: at a door (`door` + `direction`) or a kiosk's own (`kiosk`).",
)

KIOSK = Table(
    Kiosk,
    {
        Required("id", "local id, used by a reader's `kiosk`", "foyer"): LOCAL,
        Optional("languages", ["sv", "en"], "languages offered, in this order", ["sv", "en"]): (
            ListOf(OneOf(*LANGUAGES), min_len=1, unique=True)
        ),
        Optional(
            "default_language", "sv", "language of the idle screen, one of `languages`"
        ): OneOf(*LANGUAGES),
        Optional("screen", "1080x1920", "screen size in pixels", "1920x1080"): Text().then(
            parse_screen, "`WIDTHxHEIGHT`, each 240..7680"
        ),
        Optional("idle_timeout_s", 60, "seconds without a touch before the start screen", 45): Int(
            10, 3600
        ),
        Optional("speech", False, "read screens aloud", True): Bool(),
    },
    [Check(_default_language, "`default_language` is one of `languages`")],
    doc="Touch kiosks.",
)

NODE = Table(
    NodeConfig,
    {
        Required(
            "node_id",
            "the node id (PROTOCOL.md §2); also its MQTT user and certificate CN",
            "malmo.baltiskahallen.n1",
        ): NODE_ID,
        Required(
            "facility_id", "central's id of the facility this node serves", "baltiskahallen"
        ): (CENTRAL_ID),
        Optional(
            "timezone", DEFAULT_TZ, "facility time zone: today, weekly windows, display"
        ): Text().then(parse_timezone, "IANA time zone name"),
        Optional("database", "/var/lib/hallvakt/node.db", "the node database (SQLite)"): FilePath(),
        Optional(
            "node_key", "secrets/node.key", "the node's Ed25519 signing key (secret)"
        ): FilePath(),
        Optional(
            "credential_key",
            "secrets/credential.key",
            'the municipality\'s credential key K (secret; PROTOCOL.md "Credential digests")',
        ): FilePath(),
        Required("broker", "the MQTT broker"): BROKER,
        Required(
            "central_keys",
            "central's public keys, pinned by kid (PROTOCOL.md §4)",
            {"central-2026a": "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"},
        ): MapOf(
            KID,
            Text(max_len=4096).then(
                parse_central_key, "Ed25519 public key (base64url raw, or PEM)"
            ),
            min_len=1,
        ),
        Optional("policy", {}, "local policy overrides"): POLICY,
        Optional("outputs", [], "relay boards"): ListOf(OUTPUT),
        Optional("doors", [], "doors"): ListOf(DOOR),
        Optional("readers", [], "readers"): ListOf(READER),
        Optional("kiosks", [], "kiosks"): ListOf(KIOSK),
    },
    doc="The top level of node.toml.",
)


def parse_config(
    data: object, *, file: str = "node.toml", base_dir: Path = Path(".")
) -> NodeConfig:
    """Passes 1 and 2 over a parsed TOML document; return the config or raise
    ``ConfigError`` with every problem found. Never raises anything else."""
    ctx = Context(file, base_dir)
    root: KeyPath = ()
    try:
        values, _ = NODE.fields(data, ctx, root, partial=True)
    except Invalid as exc:
        ctx.report(root, exc.message)
        raise ConfigError(ctx.problems) from None
    assert isinstance(data, dict)
    cross_check(Parts.of(values, data), ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return NODE.build(values)


def loads_config(text: str, *, file: str = "node.toml", base_dir: Path = Path(".")) -> NodeConfig:
    """Parse TOML text, then ``parse_config``. A syntax error is a ``ConfigError``
    whose key path is ``line L, column C``."""
    return parse_config(parse_toml(text, file), file=file, base_dir=base_dir)


def read_config_text(path: str | Path) -> str:
    """The UTF-8 text of a config file (a BOM from Notepad is fine); raises
    ``ConfigError`` naming the file as ``path`` was given."""
    file = str(path)
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, "", f"is not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot be read: {exc.strerror or exc}")]) from None


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """The TOML document ``text`` as a dict; a syntax error is a ``ConfigError``
    whose key path is ``line L, column C``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, str(exc))]) from None
    except RecursionError:
        raise ConfigError([Problem(file, "", "invalid TOML: nested too deeply")]) from None


def _syntax_problem(file: str, message: str) -> Problem:
    head, sep, where = message.rpartition(" (at ")
    if sep and where.endswith(")"):
        return Problem(file, where[:-1], f"invalid TOML: {head}")
    return Problem(file, "", f"invalid TOML: {message}")


def load_config(path: str | Path, *, files: bool = True) -> NodeConfig:
    """Read and check the config at ``path`` (all three passes unless ``files``
    is false). Problems name the file as ``path`` was given. Raises
    ``ConfigError``."""
    file = str(path)
    cfg = loads_config(read_config_text(path), file=file, base_dir=Path(path).parent.absolute())
    if files:
        problems = check_files(cfg, file)
        if problems:
            raise ConfigError(problems)
    return cfg


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Give a daemon's parser ``--config FILE`` (default /etc/hallvakt/node.toml)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"node configuration (default: {DEFAULT_CONFIG})",
    )


def load_or_exit(path: str | Path) -> NodeConfig:
    """For daemons: the checked config, or every problem on stderr and exit 78."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
