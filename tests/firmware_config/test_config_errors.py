"""Broken configs and the exact problems they must produce.

Each case patches the valid ``BASE`` document (config_support.py) and lists
every line the ``ConfigError`` must hold, in order. The config is read as
``node.toml`` from /etc/hallvakt, so relative paths resolve there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_config.config import load_config, loads_config, parse_config
from firmware_config.schema import ConfigError
from tests.support.config import BASE, DELETE, EXAMPLES, KEY1, patch

ETC = Path("/etc/hallvakt")
R1 = BASE["readers"][0]

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "typo in a top-level key",
        {"readrs": [R1]},
        ["node.toml: readrs: unknown key; did you mean readers?"],
    ),
    (
        "unknown key without a near match lists the known keys",
        {"broker.colour": "blue"},
        [
            "node.toml: broker.colour: unknown key (known keys: url, ca, cert, key, "
            "password_file, keepalive_s)"
        ],
    ),
    (
        "node id outside PROTOCOL.md §2",
        {"node_id": "Malmo_1"},
        [
            'node.toml: node_id: "Malmo_1" is not a node id'
            " (1-64 of a-z 0-9 - ., PROTOCOL.md §2; not `central` or `central-*`)"
        ],
    ),
    (
        "a node id that is a gateway's broker identity",
        {"node_id": "central-2"},
        [
            'node.toml: node_id: "central-2" is not a node id'
            " (1-64 of a-z 0-9 - ., PROTOCOL.md §2; not `central` or `central-*`)"
        ],
    ),
    ("missing facility", {"facility_id": DELETE}, ["node.toml: facility_id: is required"]),
    (
        "unknown time zone",
        {"timezone": "Europe/Stokholm"},
        [
            'node.toml: timezone: "Europe/Stokholm" is not a known time zone; '
            "did you mean Europe/Stockholm?"
        ],
    ),
    (
        "broker URL of another scheme",
        {"broker.url": "https://broker.example"},
        [
            'node.toml: broker.url: "https://broker.example" is not a broker URL '
            "(mqtts://host:port, mqtt://host:port or unix:///path)"
        ],
    ),
    (
        "plain MQTT off loopback",
        {"broker.url": "mqtt://broker.example:1883"},
        [
            'node.toml: broker.url: "mqtt://broker.example:1883": plain mqtt:// is only '
            "allowed to loopback (PROTOCOL.md §2); use mqtts://"
        ],
    ),
    (
        "password in the broker URL",
        {"broker.url": "mqtts://node:hunter2@broker.example"},
        [
            'node.toml: broker.url: "mqtts://node:hunter2@broker.example": a broker URL holds '
            "no user name or password (the user is the node id; the password goes in "
            "broker.password_file)"
        ],
    ),
    (
        "mqtts without a CA",
        {"broker.ca": DELETE},
        ["node.toml: broker.ca: is required when url is mqtts://"],
    ),
    (
        "TLS files with a unix socket broker",
        {"broker.url": "unix:///run/mosquitto/broker.sock"},
        [
            "node.toml: broker.ca: is not allowed when url is not mqtts://",
            "node.toml: broker.cert: is not allowed when url is not mqtts://",
            "node.toml: broker.key: is not allowed when url is not mqtts://",
        ],
    ),
    (
        "central key that is not base64url of 32 bytes",
        {"central_keys.central-1": "abc"},
        [
            'node.toml: central_keys.central-1: "abc" is not an Ed25519 public key '
            "(43 characters of unpadded base64url, or a PEM block)"
        ],
    ),
    (
        "no central key pinned",
        {"central_keys": {}},
        ["node.toml: central_keys: must have at least 1 entry"],
    ),
    (
        "kid with a space",
        {"central_keys": {"central 1": KEY1}},
        [
            'node.toml: central_keys."central 1": "central 1" is not a key id '
            "(1-64 of A-Z a-z 0-9 . _ : -)"
        ],
    ),
    (
        "OSDP address used twice on one bus",
        {"readers[2].address": 5},
        ["node.toml: readers[2].address: 5 is already used by readers[0] on /dev/ttyUSB0"],
    ),
    (
        "OSDP address out of range (127 is broadcast)",
        {"readers[0].address": 127},
        ["node.toml: readers[0].address: 127 is not in 0..126"],
    ),
    (
        "OSDP reader without a key",
        {"readers[0].key": DELETE},
        ['node.toml: readers[0].key: is required when kind = "osdp"'],
    ),
    (
        "serial-line reader with an OSDP address",
        {"readers[3].address": 3},
        ['node.toml: readers[3].address: is not allowed when kind = "serial-line"'],
    ),
    (
        "reader kind typo",
        {"readers[1].kind": "osdq"},
        ['node.toml: readers[1].kind: "osdq" is not one of osdp, serial-line; did you mean osdp?'],
    ),
    (
        "reader at a door that does not exist",
        {"readers[0].door": "mian"},
        ['node.toml: readers[0].door: "mian" is not a door; did you mean main?'],
    ),
    (
        "reader of a kiosk that does not exist",
        {"readers[3].kiosk": "foyer"},
        ['node.toml: readers[3].kiosk: "foyer" is not a kiosk (kiosks: entrance)'],
    ),
    (
        "reader at a door and a kiosk",
        {"readers[0].kiosk": "entrance"},
        [
            "node.toml: readers[0].kiosk: cannot be combined with door",
            "node.toml: readers[0].direction: is not allowed when kiosk is set",
        ],
    ),
    (
        "reader at neither a door nor a kiosk",
        {"readers[3].kiosk": DELETE},
        ["node.toml: readers[3]: needs one of door, kiosk"],
    ),
    (
        "door reader without a direction",
        {"readers[0].direction": DELETE},
        ["node.toml: readers[0].direction: is required when door is set"],
    ),
    (
        "two protocols on one port",
        {"readers[3].port": "/dev/ttyUSB0"},
        [
            "node.toml: readers[3].kind: serial-line on /dev/ttyUSB0, but readers[0] there "
            "is osdp (one protocol per port)"
        ],
    ),
    (
        "two serial-line readers on one port",
        {"readers": [*BASE["readers"], {**BASE["readers"][3], "id": "k2"}]},
        [
            "node.toml: readers[4].port: /dev/ttyACM0 is already used by readers[3] "
            "(a serial-line port carries one reader)"
        ],
    ),
    (
        "two baud rates on one bus",
        {"readers[1].baud": 19200},
        [
            "node.toml: readers[1].baud: 19200 on /dev/ttyUSB0, but readers[0] there uses "
            "9600 (one baud rate per bus)"
        ],
    ),
    (
        "baud rate that is not a standard one",
        {"readers[0].baud": 9601},
        [
            "node.toml: readers[0].baud: 9601 is not one of 9600, 19200, 38400, 57600, "
            "115200, 230400"
        ],
    ),
    (
        "port that is neither a device nor a pyserial URL",
        {"readers[3].port": "ttyACM0"},
        [
            'node.toml: readers[3].port: "ttyACM0" is not a serial port: write a device path '
            "(/dev/ttyUSB0) or a pyserial URL (loop://, socket://host:port, rfc2217://host:port)"
        ],
    ),
    (
        "pyserial URL scheme typo",
        {"readers[3].port": "sockt://10.0.0.5:4001"},
        [
            'node.toml: readers[3].port: "sockt://10.0.0.5:4001": sockt:// is not a pyserial '
            "URL scheme (loop, socket, rfc2217, spy, alt, hwgrep, cp2110); did you mean socket?"
        ],
    ),
    (
        "a reader's port used by the relay board",
        {"outputs[0].port": "/dev/ttyUSB0"},
        ["node.toml: outputs[0].port: /dev/ttyUSB0 is already used by readers[0]"],
    ),
    (
        "relay channel locking two doors",
        {"doors[1].lock.channel": 1},
        ["node.toml: doors[1].lock.channel: relays1 channel 1 is already the lock of doors[0]"],
    ),
    (
        "relay channel beyond the board",
        {"doors[0].lock.channel": 5},
        ["node.toml: doors[0].lock.channel: 5 is not a channel of relays1 (it has 4)"],
    ),
    (
        "lock on a board that does not exist",
        {"doors[0].lock.output": "relays2"},
        ['node.toml: doors[0].lock.output: "relays2" is not an output; did you mean relays1?'],
    ),
    (
        "lock mode typo",
        {"doors[0].lock.mode": "fail-secur"},
        [
            'node.toml: doors[0].lock.mode: "fail-secur" is not one of fail-secure, fail-safe; '
            "did you mean fail-secure?"
        ],
    ),
    (
        "lock without a mode",
        {"doors[0].lock.mode": DELETE},
        ["node.toml: doors[0].lock.mode: is required"],
    ),
    (
        "door id used twice (and the reader of the lost door)",
        {"doors[1].id": "main"},
        [
            'node.toml: doors[1].id: "main" is already used by doors[0]',
            'node.toml: readers[2].door: "gym-door" is not a door (doors: main)',
        ],
    ),
    (
        "input source that does not parse",
        {"doors[0].contact.source": "reader:r1"},
        [
            'node.toml: doors[0].contact.source: "reader:r1" is not an input source '
            "(reader:<reader id>:<input>)"
        ],
    ),
    (
        "input on a serial-line reader",
        {"doors[0].contact.source": "reader:k1:0"},
        [
            'node.toml: doors[0].contact.source: "reader:k1:0": k1 is a serial-line reader, '
            "which has no inputs"
        ],
    ),
    (
        "reader input beyond OSDP's input numbers",
        {"doors[1].fire_release.source": "reader:r3:16"},
        ['node.toml: doors[1].fire_release.source: "reader:r3:16": a reader\'s inputs are 0..15'],
    ),
    (
        "input on the relay board, which has none",
        {"doors[1].fire_release.source": "output:relays1:1"},
        [
            'node.toml: doors[1].fire_release.source: "output:relays1:1" is not an input source '
            "(reader:<reader id>:<input>); relay boards have no inputs"
        ],
    ),
    (
        "serial-line reader without a framing",
        {"readers[3].framing": DELETE},
        ['node.toml: readers[3].framing: is required when kind = "serial-line"'],
    ),
    (
        "OSDP reader with a serial-line framing",
        {"readers[0].framing": "em4100"},
        ['node.toml: readers[0].framing: is not allowed when kind = "osdp"'],
    ),
    (
        "relay board size that LCUS boards do not come in",
        {"outputs[0].channels": 3},
        ["node.toml: outputs[0].channels: 3 is not one of 1, 2, 4, 8"],
    ),
    (
        "one input wired to two door inputs",
        {"doors[1].contact": {"source": "reader:r1:0", "normally": "closed"}},
        ['node.toml: doors[1].contact.source: "reader:r1:0" is already used by doors[0].contact'],
    ),
    (
        "input state not said",
        {"doors[0].contact.normally": DELETE},
        ["node.toml: doors[0].contact.normally: is required"],
    ),
    (
        "kiosk languages without the default language",
        {"kiosks[0].languages": ["en"]},
        [
            'node.toml: kiosks[0].default_language: is required: the default "sv" is not '
            "in languages (en)"
        ],
    ),
    (
        "kiosk language not supported",
        {"kiosks[0].languages": ["sv", "de"]},
        ['node.toml: kiosks[0].languages[1]: "de" is not one of sv, en'],
    ),
    (
        "kiosk language listed twice",
        {"kiosks[0].languages": ["sv", "en", "sv"]},
        ['node.toml: kiosks[0].languages[2]: "sv" is listed twice'],
    ),
    (
        "kiosk screen mounted sideways",
        {"kiosks[0].orientation": "sideways"},
        ['node.toml: kiosks[0].orientation: "sideways" is not one of portrait, landscape'],
    ),
    (
        "kiosk screen diagonal out of range",
        {"kiosks[0].screen_diagonal_in": 2.5},
        ["node.toml: kiosks[0].screen_diagonal_in: 2.5 is not in 5..100"],
    ),
    (
        "kiosk screen diagonal as a string",
        {"kiosks[0].screen_diagonal_in": "21.5"},
        ["node.toml: kiosks[0].screen_diagonal_in: must be a number, not a string"],
    ),
    (
        "kiosk screen given by diagonal and dpi",
        {"kiosks[0].screen_diagonal_in": 21.5, "kiosks[0].screen_dpi": 102},
        ["node.toml: kiosks[0].screen_dpi: give screen_diagonal_in or screen_dpi, not both"],
    ),
    (
        "kiosk headset device with a space",
        {"kiosks[0].headset_device": "hw 1"},
        ['node.toml: kiosks[0].headset_device: "hw 1" is not an ALSA device name'],
    ),
    (
        "kiosk volume too loud",
        {"kiosks[0].volume": 150},
        ["node.toml: kiosks[0].volume: 150 is not in 10..100"],
    ),
    (
        "kiosk QR template over plain http",
        {"kiosks[0].qr_url_template": "http://boka.example.se/{code}"},
        [
            'node.toml: kiosks[0].qr_url_template: "http://boka.example.se/{code}" is not an'
            " https:// link"
        ],
    ),
    (
        "kiosk QR template with a field the kiosk does not fill",
        {"kiosks[0].qr_url_template": "https://boka.example.se/{pin}"},
        [
            'node.toml: kiosks[0].qr_url_template: "https://boka.example.se/{pin}" has unknown'
            " fields pin (known: booking, code, end, facility, resource, start)"
        ],
    ),
    (
        "screen size written with a star",
        {"kiosks[0].screen": "1080*1920"},
        [
            'node.toml: kiosks[0].screen: "1080*1920" is not a screen size '
            "(WIDTHxHEIGHT, each 240..7680)"
        ],
    ),
    (
        "number written as a string",
        {"kiosks[0].idle_timeout_s": "60"},
        ["node.toml: kiosks[0].idle_timeout_s: must be an integer, not a string"],
    ),
    (
        "boolean written as a word",
        {"kiosks[0].speech": "yes"},
        ["node.toml: kiosks[0].speech: must be true or false, not a string"],
    ),
    (
        "policy override out of central's range",
        {"policy": {"max_offline_hours": 0}},
        ["node.toml: policy.max_offline_hours: 0 is not in 1..1440"],
    ),
    (
        "policy key typo",
        {"policy": {"pin_requird": False}},
        ["node.toml: policy.pin_requird: unknown key; did you mean pin_required?"],
    ),
    (
        "two readers sharing one key file",
        {"readers[1].key": "secrets/r1.key"},
        [
            "node.toml: readers[1].key: /etc/hallvakt/secrets/r1.key is already the file "
            "of readers[0].key"
        ],
    ),
    (
        "home-relative path",
        {"node_key": "~/node.key"},
        ['node.toml: node_key: "~/node.key": ~ is not expanded; write the full path'],
    ),
    (
        "readers written as a table",
        {"readers": {"id": "r1"}},
        ["node.toml: readers: must be an array, not a table"],
    ),
]


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25


def test_the_base_config_is_valid() -> None:
    cfg = parse_config(BASE, file="node.toml", base_dir=ETC)
    assert cfg.node_id == "test.hall.n1"
    assert [r.id for r in cfg.readers_of("main")] == ["r1", "r2"]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_config(changes: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(patch(BASE, changes), file="node.toml", base_dir=ETC)
    assert str(info.value).splitlines() == expected
    assert [str(p) for p in info.value.problems] == expected


def test_all_problems_are_reported_at_once() -> None:
    """A schema error, a range error and a cross-field clash: three lines."""
    doc = patch(BASE, {"node_id": "Bad Id", "readers[1].address": 200, "doors[1].lock.channel": 1})
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="node.toml", base_dir=ETC)
    assert [p.path for p in info.value.problems] == [
        "node_id",
        "readers[1].address",
        "doors[1].lock.channel",
    ]


def test_a_broken_item_does_not_hide_a_clash_between_good_ones() -> None:
    doc = patch(BASE, {"readers[1].kind": "nfc", "readers[2].address": 5})
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="node.toml", base_dir=ETC)
    assert [p.path for p in info.value.problems] == ["readers[1].kind", "readers[2].address"]


def test_a_reference_to_a_broken_item_is_not_reported_twice() -> None:
    doc = patch(BASE, {"doors[0].lock.mode": "open"})
    with pytest.raises(ConfigError) as info:
        parse_config(doc, file="node.toml", base_dir=ETC)
    assert [p.path for p in info.value.problems] == ["doors[0].lock.mode"]


def test_doors_may_share_a_fire_release() -> None:
    fire = {"source": "reader:r2:2", "normally": "closed"}
    cfg = parse_config(
        patch(BASE, {"doors[0].fire_release": fire, "doors[1].fire_release": fire}),
        base_dir=ETC,
    )
    assert cfg.doors[0].fire_release == cfg.doors[1].fire_release


def test_a_fire_release_input_is_not_also_a_contact() -> None:
    doc = patch(BASE, {"doors[0].contact.source": "reader:r3:1"})
    with pytest.raises(ConfigError) as info:
        parse_config(doc, base_dir=ETC)
    assert str(info.value) == (
        'node.toml: doors[1].fire_release.source: "reader:r3:1" is already used by doors[0].contact'
    )


def test_not_a_table_at_the_top() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(["not", "a", "table"], file="x.toml")
    assert str(info.value) == "x.toml: must be a table, not an array"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("node_id = \n", "node.toml: line 1, column 11: invalid TOML: Invalid value"),
        (
            'node_id = "a"\nnode_id = "b"\n',
            "node.toml: line 2, column 14: invalid TOML: Cannot overwrite a value",
        ),
        (
            '\n\n[broker\nurl = "x"\n',
            "node.toml: line 3, column 8: invalid TOML: Expected ']' at the end of a table "
            "declaration",
        ),
    ],
)
def test_toml_syntax_errors_name_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        loads_config(text)
    assert str(info.value) == expected


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(info.value) == f"{missing}: cannot be read: No such file or directory"
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'node_id = "h\xe4ll"\n')
    with pytest.raises(ConfigError) as info:
        load_config(latin1)
    assert str(info.value) == f"{latin1}: is not UTF-8 text (byte 12)"


def test_problems_name_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "node.toml").write_text('node_id = "x"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("node.toml")
    assert {p.file for p in info.value.problems} == {"node.toml"}


def test_a_byte_order_mark_from_a_windows_editor_is_fine(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    text = (EXAMPLES / "small-hall.toml").read_text(encoding="utf-8")
    config.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_config(config, files=False).node_id == "lund.vallkarrahallen.n1"


def test_central_is_not_a_node_id() -> None:
    """`central` is the gateway's broker identity: a node with it would get
    central's rights in the ACL (deploy/mosquitto)."""
    import pytest

    from firmware_config.config import loads_config
    from firmware_config.schema import ConfigError

    with pytest.raises(ConfigError, match=r"node_id: \"central\" is not a node id"):
        loads_config('node_id = "central"\nfacility_id = "f"\n')
