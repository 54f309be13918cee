"""Hypothesis: whatever a config file holds, the validator answers with a
config or a ``ConfigError`` whose every line names the file; nothing else.

Generators: random documents over the schema's own key names and values that
are almost right (given as dicts, and written as TOML text by a tiny writer
below: both must give the same answer); the valid base document with random
keys replaced or removed (this reaches the cross-field pass); and random or
mangled TOML text (this reaches the TOML parser's errors).
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_config.config import loads_config, parse_config
from firmware_config.docgen import key_paths
from firmware_config.model import NodeConfig
from firmware_config.schema import ConfigError
from tests.support.config import BASE, EXAMPLES, KEY1

KEY_NAMES = sorted({p.replace("[]", "").rsplit(".", 1)[-1] for p in key_paths()})
ALMOST = [
    "osdp",
    "serial-line",
    "em4100",
    "in",
    "out",
    "sv",
    "en",
    "fail-safe",
    "fail-secure",
    "closed",
    "open",
    "main",
    "r1",
    "r3",
    "k1",
    "relays1",
    "entrance",
    "gym-door",
    "reader:r1:0",
    "reader:r3:1",
    "reader:k1:0",
    "reader:zz:99",
    "/dev/ttyUSB0",
    "/dev/ttyUSB1",
    "loop://",
    "socket://h:1",
    "mqtts://broker.example",
    "mqtt://127.0.0.1",
    "unix:///run/b.sock",
    "unix://",
    "mqtts://[::1",
    "mqtts://h:99999",
    "Europe/Stockholm",
    "../../etc/passwd",
    KEY1,
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    "secrets/x.key",
    "~",
    "1080x1920",
    "",
    "\x00",
]

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-2, max_value=130),
    st.floats(),
    st.booleans(),
    st.text(max_size=20),
    st.sampled_from(ALMOST),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.times(),
)
keys = st.one_of(st.sampled_from(KEY_NAMES), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=14)


def check(doc: Any) -> None:
    try:
        cfg = parse_config(doc, file="fuzz.toml", base_dir=Path("/etc/hallvakt"))
    except ConfigError as exc:
        assert exc.problems
        for line in str(exc).splitlines():
            assert line.startswith("fuzz.toml: "), line
    else:
        assert isinstance(cfg, NodeConfig)


@settings(max_examples=300, deadline=None)
@given(documents)
def test_random_documents_only_raise_config_errors(doc: dict[str, Any]) -> None:
    check(doc)


def toml_string(text: str) -> str:
    """A TOML basic string: printable ASCII as is, everything else escaped."""
    return (
        '"'
        + "".join(
            c
            if " " <= c <= "~" and c not in '"\\'
            else (f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
            for c in text
        )
        + '"'
    )


def toml_value(value: Any) -> str:
    """A tiny TOML writer: every value inline, every string ASCII-escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, str):
        return toml_string(value)
    return str(value)


def toml_document(doc: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


def outcome(run: Any) -> str:
    try:
        return repr(run())
    except ConfigError as exc:
        return str(exc)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_a_document_written_as_toml_gets_the_same_answer(doc: dict[str, Any]) -> None:
    etc = Path("/etc/hallvakt")
    text = toml_document(doc)
    from_text = outcome(lambda: loads_config(text, file="fuzz.toml", base_dir=etc))
    from_dict = outcome(lambda: parse_config(doc, file="fuzz.toml", base_dir=etc))
    assert from_text == from_dict


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


BASE_PATHS = _paths(BASE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_of_a_valid_config_only_raise_config_errors(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for path in data.draw(st.lists(st.sampled_from(BASE_PATHS), min_size=1, max_size=4)):
        node: Any = doc
        try:
            for p in path[:-1]:
                node = node[p]
            if data.draw(st.booleans()):
                del node[path[-1]]
            else:
                node[path[-1]] = data.draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    check(doc)


EXAMPLE_TEXT = (EXAMPLES / "arena.toml").read_text(encoding="utf-8")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda cut, junk, rest: EXAMPLE_TEXT[:cut] + junk + EXAMPLE_TEXT[rest:],
            st.integers(0, len(EXAMPLE_TEXT)),
            st.text(alphabet='[]{}="\n .,#\\0123456789abtrue', max_size=12),
            st.integers(0, len(EXAMPLE_TEXT)),
        ),
    )
)
def test_random_and_mangled_text_only_raise_config_errors(text: str) -> None:
    try:
        loads_config(text, file="fuzz.toml", base_dir=Path("/etc/hallvakt"))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            assert line.startswith("fuzz.toml: "), line


def test_toml_values_of_every_type_are_named_in_errors() -> None:
    for value, name in [
        (1.5, "a float"),
        (datetime(2026, 1, 1, tzinfo=UTC), "a date-time"),
        (date(2026, 1, 1), "a date"),
        (time(12, 0), "a time"),
        ([1], "an array"),
        ({}, "a table"),
    ]:
        doc = copy.deepcopy(BASE)
        doc["node_id"] = value
        try:
            parse_config(doc)
        except ConfigError as exc:
            assert str(exc) == f"node.toml: node_id: must be a string, not {name}"
        else:
            raise AssertionError("accepted")
