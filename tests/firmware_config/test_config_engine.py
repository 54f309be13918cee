"""The schema engine and the value parsers, one piece at a time."""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from firmware_config.config import parse_config
from firmware_config.model import BrokerURL, InputSource, PolicyOverrides
from firmware_config.schema import (
    ConfigError,
    Optional,
    Problem,
    Required,
    fields_of,
    format_path,
    partial,
    table,
    validate,
)
from firmware_config.validators import Int, Text
from firmware_config.values import (
    parse_broker_url,
    parse_central_key,
    parse_input_source,
    parse_port,
    parse_screen,
)
from sync.protocol.records import Policy, RecordError
from tests.support.config import BASE, patch


def test_key_paths_read_like_toml() -> None:
    assert format_path(("readers", 2, "address")) == "readers[2].address"
    assert format_path(("central_keys", "a.b")) == 'central_keys."a.b"'
    assert format_path(()) == ""


def test_problem_lines() -> None:
    assert str(Problem("node.toml", "broker.url", "is required")) == (
        "node.toml: broker.url: is required"
    )
    assert str(Problem("node.toml", "", "is not UTF-8 text")) == "node.toml: is not UTF-8 text"
    error = ConfigError([Problem("a", "x", "one"), Problem("a", "y", "two")])
    assert str(error) == "a: x: one\na: y: two"


@table("a pair")
@dataclass(frozen=True)
class Pair:
    name: Annotated[str, Text(), Required()]
    size: Annotated[int, Int(1, 9), Optional(3)]


@table("pairs")
@dataclass(frozen=True)
class Pairs:
    p: Annotated[tuple[Pair, ...], Optional([])]


def test_every_field_of_a_table_says_whether_it_is_required() -> None:
    @dataclass(frozen=True)
    class Loose:
        name: Annotated[str, Text()]

    with pytest.raises(TypeError, match="needs one Required"):
        fields_of(Loose)


def test_defaults_go_through_the_validator() -> None:
    assert validate(Pair, {"name": "a"}, file="f", base_dir=Path("/")) == Pair("a", 3)
    with pytest.raises(ConfigError) as info:
        validate(Pair, {"name": "a", "size": 10, "colour": 1}, file="f", base_dir=Path("/"))
    assert [str(p) for p in info.value.problems] == [
        "f: colour: unknown key (known keys: name, size)",
        "f: size: 10 is not in 1..9",
    ]


def test_partial_lists_keep_the_items_that_validated() -> None:
    raw = {"p": [{"name": "a"}, {"size": 1}, {"name": "c"}]}
    with pytest.raises(ConfigError) as info:
        validate(Pairs, raw, file="f", base_dir=Path("/"))
    assert [str(p) for p in info.value.problems] == ["f: p[1].name: is required"]
    items = partial(Pairs, raw, {"base_dir": Path("/")})["p"]
    assert [(e.pos, e.value.name) for e in items] == [(0, "a"), (2, "c")]


def test_paths_resolve_against_the_config_directory() -> None:
    cfg = parse_config(
        patch(BASE, {"node_key": "/srv/keys/node.key", "credential_key": "../k/c.key"}),
        base_dir=Path("/etc/hallvakt"),
    )
    assert cfg.node_key == Path("/srv/keys/node.key")
    assert cfg.credential_key == Path("/etc/k/c.key")
    assert cfg.readers[0].key == Path("/etc/hallvakt/secrets/r1.key")
    assert cfg.database == Path("/var/lib/hallvakt/node.db")


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("mqtts://broker.example", BrokerURL("mqtts", "broker.example", 8883)),
        ("mqtts://broker.example:18883", BrokerURL("mqtts", "broker.example", 18883)),
        ("mqtt://localhost", BrokerURL("mqtt", "localhost", 1883)),
        ("mqtt://127.0.0.1:1884", BrokerURL("mqtt", "127.0.0.1", 1884)),
        ("mqtt://[::1]", BrokerURL("mqtt", "::1", 1883)),
        ("mqtts://[2001:db8::1]:8883", BrokerURL("mqtts", "2001:db8::1", 8883)),
        ("unix:///run/mosquitto/broker.sock", BrokerURL("unix", path="/run/mosquitto/broker.sock")),
    ],
)
def test_broker_urls(text: str, url: BrokerURL) -> None:
    assert parse_broker_url(text) == url
    assert parse_broker_url(str(url)) == url


@pytest.mark.parametrize(
    "text",
    [
        "mqtts://",
        "mqtts://h:0",
        "mqtts://h:65536",
        "mqtts://h/path",
        "mqtts://h?x=1",
        "unix://relative.sock",
        "unix:relative.sock",
        "mqtt://10.0.0.1",
        "mqtts://bad host",
        "broker.example:8883",
    ],
)
def test_bad_broker_urls(text: str) -> None:
    with pytest.raises(ValueError):
        parse_broker_url(text)


def test_central_keys_in_pem_and_base64url_are_the_same_key() -> None:
    public = Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    text = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert parse_central_key(text).raw == raw == parse_central_key(pem).raw
    assert parse_central_key(text).public_key() == public
    with pytest.raises(ValueError, match="not canonical"):
        # the last character carries 4 bits and 2 zero bits: set one of those
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        parse_central_key(text[:-1] + alphabet[alphabet.index(text[-1]) + 1])


def test_a_pem_key_of_another_kind_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError, match="not an Ed25519 one"):
        parse_central_key(pem)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("/dev/ttyUSB0", True),
        ("/dev/serial/by-id/usb-FTDI-if00-port0", True),
        ("loop://", True),
        ("socket://10.0.0.5:4001", True),
        ("rfc2217://moxa.local:4001", True),
        ("spy:///dev/ttyUSB0", True),
        ("socket://10.0.0.5", False),
        ("COM3", False),
        ("/", False),
        ("/dev/tty USB0", False),
    ],
)
def test_serial_ports(text: str, ok: bool) -> None:
    if ok:
        assert parse_port(text)
    else:
        with pytest.raises(ValueError):
            parse_port(text)


def test_sources_and_screens() -> None:
    assert parse_input_source("reader:main-in:2") == InputSource("main-in", 2)
    assert str(InputSource("main-in", 2)) == "reader:main-in:2"
    assert parse_screen("1920x1080").width == 1920
    with pytest.raises(ValueError):
        parse_screen("100x100")


def test_policy_overrides_are_policy_fields_with_policy_ranges() -> None:
    """The [policy] table stays in step with sync/protocol/records.py Policy."""
    fields = {f.name for f in dataclasses.fields(Policy)} - {"id"}
    keys = fields_of(PolicyOverrides)
    assert {k.name for k in keys} == fields
    ranges = [
        (key, spec) for key in keys for spec in key.annotation.__metadata__ if isinstance(spec, Int)
    ]
    assert len(ranges) == 4
    for key, spec in ranges:
        for value, accepted in (
            (spec.lo, True),
            (spec.hi, True),
            (spec.lo - 1, False),
            (spec.hi + 1, False),
        ):
            try:
                Policy.from_wire({"id": "default", key.name: value})
            except RecordError:
                assert not accepted, (key.name, value)
            else:
                assert accepted, (key.name, value)


def test_policy_overrides_apply_over_centrals_policy() -> None:
    central = Policy.from_wire({"id": "default", "pin_max_attempts": 5})
    cfg = parse_config(patch(BASE, {"policy": {"pin_max_attempts": 3, "pin_required": False}}))
    local = cfg.policy.apply(central)
    assert (local.pin_max_attempts, local.pin_required) == (3, False)
    assert local.max_offline_hours == central.max_offline_hours
    none = PolicyOverrides(*(None,) * len(dataclasses.fields(PolicyOverrides)))
    assert none.apply(central) == central
