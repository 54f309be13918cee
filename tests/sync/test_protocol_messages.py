"""The messages (PROTOCOL.md §5, §6): a (message, claims) table both ways, the
validation rules one by one, and Hypothesis over valid and arbitrary claims.

messages.py guarantees: ``decode`` returns a frozen message only if every known
field is valid, ignores unknown fields, raises ``MessageError`` naming the field
(``UnknownKind`` for an unknown kind) and nothing else; ``encode`` never writes
what ``decode`` refuses, and ``decode(encode(m, node, iat)) == m``.
"""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.protocol import (
    Ack,
    Audience,
    Changes,
    Clock,
    ClockSource,
    Cmd,
    Command,
    Common,
    Cursor,
    Events,
    Head,
    Hello,
    Kind,
    KioskText,
    Message,
    MessageError,
    OutboxRange,
    Snapshot,
    State,
    Status,
    UnknownKind,
    Unlock,
    Want,
    decode,
    encode,
    read_common,
    sign,
    verify,
)
from sync.protocol.envelope import b64url_decode, canonical_json
from sync.protocol.testing import private_key, ring
from sync.protocol.wire import DOOR_ID_MAX, DOOR_STATES, Op, body_error
from sync.replica import (
    EVENT_TYPES,
    ChangeBatch,
    Facility,
    OutboxEvent,
    Policy,
    Replica,
    SnapshotPart,
    Verdict,
    append_event,
    pending_events,
)

NODE = "malmo.kroksbackshallen.n1"
IAT = 1780000000
KEY_K = private_key("k")
RING_K = ring("k")
E1 = "01890a5d-ac96-7b4b-bcce-b302099a8057"
E2 = "01890a5d-ac97-7c4b-8cce-b302099a8058"
AT = datetime(2026, 5, 28, 19, 46, 40, tzinfo=UTC)
FAC = Facility("fac1", "Kroksbäckshallen")
FAC_WIRE = {
    "id": "fac1",
    "municipality": "",
    "name": "Kroksbäckshallen",
    "timezone": "Europe/Stockholm",
}
POLICY_WIRE = {
    "codes_after_leader": False,
    "id": "default",
    "max_offline_hours": 72,
    "no_show_grace_minutes": 15,
    "pin_lockout_seconds": 60,
    "pin_max_attempts": 5,
    "pin_required": True,
}


def claims(kind: str, body: dict[str, Any], **common: Any) -> dict[str, Any]:
    return {"v": 1, "kind": kind, "node": NODE, "iat": IAT, **common, **body}


# --- the table: every kind, both ways ------------------------------------------------

TABLE: list[tuple[Message, dict[str, Any]]] = [
    (
        Hello(987654321, "2f9c1d0e-boot", 41, OutboxRange(5, 9), "hallvakt 0.1.0",
              Clock(True, ClockSource.NTP)),
        claims("hello", {
            "epoch": 987654321, "boot_id": "2f9c1d0e-boot", "applied_rev": 41,
            "outbox": {"first_unacked": 5, "last": 9}, "software": "hallvakt 0.1.0",
            "clock": {"trusted": True, "source": "ntp"},
        }),
    ),
    (
        Hello(2**64 - 1, "b", 0, OutboxRange(1, 0), "x", Clock(False, ClockSource.NONE),
              exp=IAT + 60),
        claims("hello", {
            "epoch": 2**64 - 1, "boot_id": "b", "applied_rev": 0,
            "outbox": {"first_unacked": 1, "last": 0}, "software": "x",
            "clock": {"trusted": False, "source": "none"},
        }, exp=IAT + 60),
    ),
    (
        Events(987654321, (
            OutboxEvent(5, E1, "door.opened", AT, {"door": "main"}),
            OutboxEvent(6, E2, "access.denied", AT, {"door": "main", "credential": "unknown"}),
        )),
        claims("events", {"epoch": 987654321, "events": [
            {"seq": 5, "id": E1, "type": "door.opened", "at": "2026-05-28T19:46:40Z",
             "body": {"door": "main"}},
            {"seq": 6, "id": E2, "type": "access.denied", "at": "2026-05-28T19:46:40Z",
             "body": {"door": "main", "credential": "unknown"}},
        ]}),
    ),
    (Cursor(41, Want.CHANGES), claims("cursor", {"applied_rev": 41, "want": "changes"})),
    (Cursor(0, Want.SNAPSHOT), claims("cursor", {"applied_rev": 0, "want": "snapshot"})),
    (Status(State.ONLINE, 7), claims("status", {"state": "online", "epoch": 7})),
    (Status(State.OFFLINE, 7), claims("status", {"state": "offline", "epoch": 7})),
    (Head(42, 1, IAT + 3600), claims("head", {"rev": 42, "oldest_rev": 1}, exp=IAT + 3600)),
    (Head(0, 0, IAT + 1), claims("head", {"rev": 0, "oldest_rev": 0}, exp=IAT + 1)),
    (
        Changes(ChangeBatch(41, 42, (Op("upsert", "facility", "fac1", FAC),
                                     Op("delete", "door", "door-a", None)))),
        claims("changes", {"base": 41, "rev": 42, "ops": [
            {"op": "upsert", "entity": "facility", "id": "fac1", "data": FAC_WIRE},
            {"op": "delete", "entity": "door", "id": "door-a"},
        ]}),
    ),
    (Changes(ChangeBatch(42, 43, ())), claims("changes", {"base": 42, "rev": 43, "ops": []})),
    (
        Snapshot(SnapshotPart(42, 1, 2, (FAC, Policy("default")))),
        claims("snapshot", {"rev": 42, "part": 1, "parts": 2,
                            "entities": {"facility": [FAC_WIRE], "policy": [POLICY_WIRE]}}),
    ),
    (Snapshot(SnapshotPart(42, 2, 2, ())), claims("snapshot", {"rev": 42, "part": 2, "parts": 2,
                                                               "entities": {}})),
    (
        Ack(987654321, 6, {E1: Verdict("accepted"), E2: Verdict("rejected", "lease revoked")}),
        claims("ack", {"epoch": 987654321, "through": 6, "verdicts": {
            E1: {"status": "accepted", "reason": ""},
            E2: {"status": "rejected", "reason": "lease revoked"},
        }}),
    ),
    (Ack(1, 0, {}), claims("ack", {"epoch": 1, "through": 0, "verdicts": {}})),
    (
        Command(7, Cmd.UNLOCK, IAT + 300, Unlock("main", 10)),
        claims("command", {"seq": 7, "cmd": "unlock", "args": {"door": "main", "seconds": 10}},
               exp=IAT + 300),
    ),
    (Command(8, Cmd.LOCKDOWN, IAT + 60),
     claims("command", {"seq": 8, "cmd": "lockdown", "args": {}}, exp=IAT + 60)),
    (Command(9, Cmd.RELEASE, IAT + 60),
     claims("command", {"seq": 9, "cmd": "release", "args": {}}, exp=IAT + 60)),
    (Command(10, Cmd.RESYNC, IAT + 60),
     claims("command", {"seq": 10, "cmd": "resync", "args": {}}, exp=IAT + 60)),
    (
        Command(11, Cmd.MESSAGE, IAT + 60, KioskText("Hallen stänger 21:00")),
        claims("command", {"seq": 11, "cmd": "message", "args": {"text": "Hallen stänger 21:00"}},
               exp=IAT + 60),
    ),
    (
        Command(12, Cmd.MESSAGE, IAT + 60, KioskText("Ring Kim", Audience.CARETAKER)),
        claims("command", {"seq": 12, "cmd": "message",
                           "args": {"text": "Ring Kim", "audience": "caretaker"}}, exp=IAT + 60),
    ),
]  # fmt: skip


def test_the_table_covers_every_kind() -> None:
    assert {m.KIND for m, _ in TABLE} == set(Kind)
    assert {m.cmd for m, _ in TABLE if isinstance(m, Command)} == set(Cmd)


@pytest.mark.parametrize(("msg", "wire"), TABLE, ids=lambda x: getattr(x, "KIND", ""))
def test_table_both_ways(msg: Message, wire: dict[str, Any]) -> None:
    assert encode(msg, NODE, IAT) == wire
    assert decode(wire) == msg
    assert read_common(wire) == Common(msg.KIND, NODE, IAT, msg.exp)


@pytest.mark.parametrize(("msg", "wire"), TABLE, ids=lambda x: getattr(x, "KIND", ""))
def test_table_through_the_envelope(msg: Message, wire: dict[str, Any]) -> None:
    token = sign(encode(msg, NODE, IAT), "k", KEY_K)
    assert decode(verify(token, RING_K).claims) == msg
    assert b64url_decode(token.split(b".")[1].decode()) == canonical_json(wire)


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    msg = Command(11, Cmd.MESSAGE, IAT + 60, KioskText("Hallen stänger 21:00"))
    assert canonical_json(encode(msg, NODE, IAT)) == (
        b'{"args":{"text":"Hallen st\xc3\xa4nger 21:00"},"cmd":"message","exp":1780000060,'
        b'"iat":1780000000,"kind":"command","node":"malmo.kroksbackshallen.n1","seq":11,"v":1}'
    )


@pytest.mark.parametrize(("msg", "wire"), TABLE, ids=lambda x: getattr(x, "KIND", ""))
def test_unknown_fields_are_ignored_at_every_level(msg: Message, wire: dict[str, Any]) -> None:
    extra = _with_extras(copy.deepcopy(wire))
    assert decode(extra) == msg


def _with_extras(value: Any, key: str = "") -> Any:
    """Add an unknown member to every object, except event bodies (opaque data) and
    the maps keyed by data (``entities`` by entity, ``verdicts`` by event id)."""
    if isinstance(value, dict) and key != "body":
        for k, child in list(value.items()):
            _with_extras(child, k)
        if key not in ("entities", "verdicts"):
            value["x-future"] = {"nested": [1]}
    elif isinstance(value, list):
        for child in value:
            _with_extras(child, key)
    return value


def test_null_means_absent_for_optional_fields() -> None:
    assert decode(claims("cursor", {"applied_rev": 1, "want": "changes"}, exp=None)) == Cursor(
        1, Want.CHANGES
    )
    assert decode(claims("ack", {"epoch": 1, "through": 0})) == Ack(1, 0, {})
    assert decode(claims("ack", {"epoch": 1, "through": 0, "verdicts": None})) == Ack(1, 0, {})
    assert decode(claims("command", {"seq": 1, "cmd": "resync"}, exp=IAT + 1)) == Command(
        1, Cmd.RESYNC, IAT + 1
    )
    assert decode(
        claims("ack", {"epoch": 1, "through": 0, "verdicts": {E1: {"status": "accepted"}}})
    ) == Ack(1, 0, {E1: Verdict("accepted")})


def test_snapshot_records_are_grouped_by_entity_whatever_the_key_order() -> None:
    pol = Policy("default")
    shuffled = Snapshot(SnapshotPart(3, 1, 1, (pol, FAC, pol)))
    assert shuffled.part.records == (FAC, pol, pol)
    entities = {"policy": [POLICY_WIRE], "facility": [FAC_WIRE]}
    wire = claims("snapshot", {"rev": 3, "part": 1, "parts": 1, "entities": entities})
    assert decode(wire).part.records == (FAC, pol)  # type: ignore[union-attr]
    assert decode(encode(shuffled, NODE, IAT)) == shuffled


# --- the rules, one by one -------------------------------------------------------------

BASE: dict[str, dict[str, Any]] = {m.KIND: w for m, w in reversed(TABLE)}


def mutate(kind: str, path: str, value: Any) -> dict[str, Any]:
    """``BASE[kind]`` with the member at dotted ``path`` set (``...`` deletes it)."""
    wire = copy.deepcopy(BASE[kind])
    *parents, last = path.split(".")
    node: Any = wire
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return wire


def many_events(n: int, first: int = 1) -> list[dict[str, Any]]:
    return [
        {"seq": first + i, "id": f"01890a5d-ac96-7b4b-bcce-{i:012x}", "type": "door.closed",
         "at": "2026-05-28T19:46:40Z", "body": {}}
        for i in range(n)
    ]  # fmt: skip


INVALID: list[tuple[str, str, Any, str]] = [
    # common claims (PROTOCOL.md §4)
    ("cursor", "v", ..., "v"),
    ("cursor", "v", 2, "v"),
    ("cursor", "v", True, "v"),
    ("cursor", "v", 1.0, "v"),
    ("cursor", "v", "1", "v"),
    ("cursor", "kind", ..., "kind"),
    ("cursor", "kind", 3, "kind"),
    ("cursor", "node", ..., "node"),
    ("cursor", "node", "Malmo.N1", "node"),
    ("cursor", "node", "a/b", "node"),
    ("cursor", "node", "n" * 65, "node"),
    ("cursor", "node", "", "node"),
    ("cursor", "iat", ..., "iat"),
    ("cursor", "iat", -1, "iat"),
    ("cursor", "iat", 1.5, "iat"),
    ("cursor", "iat", False, "iat"),
    ("cursor", "iat", "1780000000", "iat"),
    ("cursor", "iat", 2**63, "iat"),
    ("cursor", "exp", IAT, "exp"),
    ("cursor", "exp", IAT - 1, "exp"),
    ("cursor", "exp", "soon", "exp"),
    # hello
    ("hello", "epoch", ..., "epoch"),
    ("hello", "epoch", -1, "epoch"),
    ("hello", "epoch", 2**64, "epoch"),
    ("hello", "boot_id", "", "boot_id"),
    ("hello", "boot_id", "b" * 129, "boot_id"),
    ("hello", "applied_rev", -1, "applied_rev"),
    ("hello", "outbox", [], "outbox"),
    ("hello", "outbox.first_unacked", 0, "outbox.first_unacked"),
    ("hello", "outbox.first_unacked", 11, "outbox.first_unacked"),
    ("hello", "outbox.last", ..., "outbox.last"),
    ("hello", "software", 1, "software"),
    ("hello", "clock.trusted", "yes", "clock.trusted"),
    ("hello", "clock.source", "gps", "clock.source"),
    ("hello", "clock", ..., "clock"),
    # events
    ("events", "epoch", ..., "epoch"),
    ("events", "events", [], "events"),
    ("events", "events", many_events(257), "events"),
    ("events", "events", {"0": {}}, "events"),
    ("events", "events.0", "event", "events[0]"),
    ("events", "events.1.seq", 7, "events[1].seq"),
    ("events", "events.1.seq", 5, "events[1].seq"),
    ("events", "events.0.seq", 0, "events[0].seq"),
    ("events", "events.0.id", "01890a5d-ac96-4b4b-bcce-b302099a8057", "events[0].id"),  # v4
    ("events", "events.0.id", "01890A5D-AC96-7B4B-BCCE-B302099A8057", "events[0].id"),
    ("events", "events.0.id", "01890a5d-ac96-7b4b-7cce-b302099a8057", "events[0].id"),  # variant
    ("events", "events.0.id", "{01890a5d-ac96-7b4b-bcce-b302099a8057}", "events[0].id"),
    ("events", "events.0.id", "01890a5dac967b4bbcceb302099a8057", "events[0].id"),
    ("events", "events.1.id", E1, "events[1].id"),
    ("events", "events.0.type", "door.exploded", "events[0].type"),
    ("events", "events.0.type", ["door.opened"], "events[0].type"),
    ("events", "events.0.at", "2026-05-28T21:46:40+02:00", "events[0].at"),
    ("events", "events.0.at", "2026-05-28 19:46:40Z", "events[0].at"),
    ("events", "events.0.at", 1780000000, "events[0].at"),
    ("events", "events.0.body", ..., "events[0].body"),
    ("events", "events.0.body", [], "events[0].body"),
    # cursor, status, head
    ("cursor", "applied_rev", -1, "applied_rev"),
    ("cursor", "want", "everything", "want"),
    ("cursor", "want", ..., "want"),
    ("status", "state", "away", "state"),
    ("status", "epoch", ..., "epoch"),
    ("head", "exp", ..., "exp"),
    ("head", "rev", ..., "rev"),
    ("head", "oldest_rev", 43, "oldest_rev"),
    ("head", "oldest_rev", -1, "oldest_rev"),
    # changes and snapshot: the replica's own validation, wrapped
    ("changes", "rev", 41, "rev 41 must be above base"),
    ("changes", "ops", ..., "ops"),
    ("changes", "ops.0.entity", "spaceship", "ops[0].entity"),
    ("changes", "ops.0.op", "merge", "ops[0].op"),
    ("changes", "ops.0.data.name", 5, "ops[0].data"),
    ("changes", "ops.0.id", "fac2", "differs"),
    ("snapshot", "part", 3, "part 3 of 2"),
    ("snapshot", "entities", [], "entities"),
    ("snapshot", "entities.facility", {}, "entities.facility"),
    ("snapshot", "entities.facility.0.timezone", "Mars/Olympus", "timezone"),
    # ack
    ("ack", "epoch", ..., "epoch"),
    ("ack", "through", -1, "through"),
    ("ack", "verdicts", [], "verdicts"),
    ("ack", "verdicts.not-a-uuid", {"status": "accepted"}, "verdicts.not-a-uuid"),
    ("ack", f"verdicts.{E1}.status", "maybe", f"verdicts.{E1}.status"),
    ("ack", f"verdicts.{E1}.reason", "r" * 1001, f"verdicts.{E1}.reason"),
    ("ack", f"verdicts.{E1}", "accepted", f"verdicts.{E1}"),
    # command (PROTOCOL.md §6)
    ("command", "exp", ..., "exp"),
    ("command", "exp", IAT + 301, "exp"),
    ("command", "exp", IAT, "exp"),
    ("command", "seq", 0, "seq"),
    ("command", "seq", ..., "seq"),
    ("command", "cmd", "reboot", "cmd"),
    ("command", "args", [], "args"),
    ("command", "args", "main", "args"),
]  # fmt: skip

UNLOCK_INVALID: list[tuple[str, Any, str]] = [
    ("args.door", ..., "args.door"),
    ("args.door", "", "args.door"),
    ("args.door", "main door", "args.door"),
    ("args.seconds", 0, "args.seconds"),
    ("args.seconds", 3601, "args.seconds"),
    ("args.seconds", 5.0, "args.seconds"),
    ("args.seconds", ..., "args.seconds"),
    ("args", ..., "args.door"),
]


@pytest.mark.parametrize(("kind", "path", "value", "field"), INVALID)
def test_invalid_claims_name_the_field(kind: str, path: str, value: Any, field: str) -> None:
    with pytest.raises(MessageError) as exc:
        decode(mutate(kind, path, value))
    assert field in str(exc.value)
    assert not isinstance(exc.value, UnknownKind)


def _unlock(path: str, value: Any) -> dict[str, Any]:
    wire = mutate("command", "cmd", "unlock")
    wire["args"] = {"door": "main", "seconds": 10}
    if path == "args":
        del wire["args"]
        return wire
    if value is ...:
        del wire["args"][path.split(".")[1]]
    else:
        wire["args"][path.split(".")[1]] = value
    return wire


@pytest.mark.parametrize(("path", "value", "field"), UNLOCK_INVALID)
def test_unlock_args(path: str, value: Any, field: str) -> None:
    with pytest.raises(MessageError, match=field.replace(".", r"\.")):
        decode(_unlock(path, value))


def _kiosk_text(text: Any) -> dict[str, Any]:
    return {**BASE["command"], "cmd": "message", "args": {"text": text}}


def test_message_text_limit() -> None:
    assert decode(_kiosk_text("å" * 500)).args == KioskText("å" * 500)  # type: ignore[union-attr]
    assert decode(_kiosk_text("")).args == KioskText("")  # type: ignore[union-attr]
    for bad in ("å" * 501, None, 5):
        with pytest.raises(MessageError, match=r"args\.text"):
            decode(_kiosk_text(bad))
    public = {**BASE["command"], "cmd": "message", "args": {"text": "x", "audience": "public"}}
    assert decode(public).args == KioskText("x", Audience.PUBLIC)  # type: ignore[union-attr]
    for bad_audience in ("everyone", 3, ""):
        wrong = {**public, "args": {"text": "x", "audience": bad_audience}}
        with pytest.raises(MessageError, match=r"args\.audience"):
            decode(wrong)


def test_boundaries_that_are_valid() -> None:
    assert decode(mutate("command", "exp", IAT + 300)).exp == IAT + 300
    assert decode(_unlock("args.seconds", 1)).args == Unlock("main", 1)  # type: ignore[union-attr]
    assert decode(_unlock("args.seconds", 3600)).args == Unlock("main", 3600)  # type: ignore[union-attr]
    full = decode(mutate("events", "events", many_events(256, first=2**62)))
    assert isinstance(full, Events) and len(full.events) == 256
    assert decode(mutate("head", "oldest_rev", 42)) == Head(42, 42, IAT + 3600)
    assert decode(mutate("ack", "through", 2**63 - 1)).through == 2**63 - 1  # type: ignore[union-attr]
    assert decode(mutate("hello", "outbox.first_unacked", 10)).outbox == OutboxRange(10, 9)  # type: ignore[union-attr]


def test_unknown_kind() -> None:
    with pytest.raises(UnknownKind) as exc:
        decode(mutate("cursor", "kind", "telemetry"))
    assert exc.value.kind == "telemetry"
    assert isinstance(exc.value, MessageError)


@pytest.mark.parametrize("value", [None, [], "claims", 1, [["kind", "cursor"]]])
def test_claims_must_be_an_object(value: Any) -> None:
    with pytest.raises(MessageError):
        decode(value)


def test_encode_refuses_what_decode_would_refuse() -> None:
    bad: list[tuple[Message, str, int]] = [
        (Command(1, Cmd.UNLOCK, IAT + 301, Unlock("main", 5)), NODE, IAT),
        (Command(1, Cmd.UNLOCK, IAT + 60, Unlock("main", 0)), NODE, IAT),
        (Command(1, Cmd.UNLOCK, IAT + 60, None), NODE, IAT),
        (Command(1, Cmd.MESSAGE, IAT + 60, KioskText("x" * 501)), NODE, IAT),
        (Cursor(-1, Want.CHANGES), NODE, IAT),
        (Cursor(1, Want.CHANGES), "Bad Node", IAT),
        (Cursor(1, Want.CHANGES), NODE, -5),
        (Head(1, 2, IAT + 60), NODE, IAT),
        (Events(1, ()), NODE, IAT),
        (Ack(1, 1, {"x": Verdict("accepted")}), NODE, IAT),
        (Ack(1, 1, {E1: Verdict("maybe")}), NODE, IAT),
    ]
    for msg, node, iat in bad:
        with pytest.raises(MessageError):
            encode(msg, node, iat)


# --- with the real outbox and the test site -----------------------------------------------


def test_events_from_the_outbox_round_trip(tmp_path: Path) -> None:
    rep = Replica.open(tmp_path / "node.db")
    try:
        for i in range(3):
            append_event(rep, "door.opened", {"door": "main", "n": i}, AT)
        pending = tuple(pending_events(rep))
        epoch = rep.state().epoch
    finally:
        rep.close()
    msg = Events(epoch, pending)
    assert decode(encode(msg, NODE, IAT)) == msg


def test_the_test_sites_changes_and_snapshot_decode(site: Any) -> None:
    wire = site.changes(0, 1, *site.upserts(site.entities()))
    msg = decode({**wire, "v": 1, "node": NODE, "iat": IAT})
    assert msg == Changes(ChangeBatch.from_wire(wire))
    for part in site.snapshot(5, site.entities(), parts=3):
        snap = decode({**part, "v": 1, "node": NODE, "iat": IAT})
        assert isinstance(snap, Snapshot)
        assert sorted(snap.part.records, key=repr) == sorted(
            SnapshotPart.from_wire(part).records, key=repr
        )
        assert decode(encode(snap, NODE, IAT)) == snap


# --- Hypothesis ------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
FIELD_NAMES = sorted(
    {k for _, w in TABLE for k in w}
    | {"outbox", "first_unacked", "last", "trusted", "source", "args", "door", "seconds", "text"}
)


@given(json_values)
def test_decode_of_any_json_raises_only_message_errors(value: Any) -> None:
    with contextlib.suppress(MessageError):
        decode(value)


@given(
    st.sampled_from(sorted(Kind)),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=10),
)
def test_decode_of_near_miss_claims_raises_only_message_errors(
    kind: Kind, fields: dict[str, Any]
) -> None:
    wire = {"v": 1, "kind": kind.value, "node": NODE, "iat": IAT, **fields}
    with contextlib.suppress(MessageError):
        decode(wire)


@given(st.sampled_from(range(len(TABLE))), st.data())
def test_decode_of_mutated_table_entries_raises_only_message_errors(
    index: int, data: st.DataObject
) -> None:
    wire = copy.deepcopy(TABLE[index][1])
    key = data.draw(st.sampled_from(sorted(wire)))
    wire[key] = data.draw(json_values)
    with contextlib.suppress(MessageError):
        decode(wire)


ints = st.integers(0, 2**63 - 1)
epochs = st.integers(0, 2**64 - 1)
exps = st.none() | st.integers(IAT + 1, 2**63 - 1)
node_ids = st.from_regex(r"[a-z0-9.-]{1,64}", fullmatch=True)
short_text = st.text(min_size=1, max_size=20)
uuid7s = st.builds(
    lambda hi, mid, lo: (
        f"{hi:08x}-{hi % 65536:04x}-7{mid:03x}-{8 + lo % 4:x}{lo % 4096:03x}-{lo:012x}"
    ),
    st.integers(0, 2**32 - 1),
    st.integers(0, 4095),
    st.integers(0, 2**48 - 1),
)
instants = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)


@st.composite
def events_messages(draw: st.DrawFn) -> Events:
    ids = draw(st.lists(uuid7s, min_size=1, max_size=5, unique=True))
    first = draw(st.integers(1, 2**62))
    body = st.dictionaries(st.text(max_size=5), json_leaf, max_size=3)
    events = tuple(
        OutboxEvent(first + i, ident, draw(st.sampled_from(sorted(EVENT_TYPES))),
                    draw(instants), draw(body))
        for i, ident in enumerate(ids)
    )  # fmt: skip
    return Events(draw(epochs), events, draw(exps))


verdicts = st.builds(Verdict, st.sampled_from(["accepted", "rejected"]), st.text(max_size=30))
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        Hello, epochs, short_text, ints,
        st.integers(1, 2**62).flatmap(lambda f: st.builds(OutboxRange, st.just(f),
                                                          st.integers(f - 1, 2**62))),
        short_text, st.builds(Clock, st.booleans(), st.sampled_from(ClockSource)), exps,
    ),
    events_messages(),
    st.builds(Cursor, ints, st.sampled_from(Want), exps),
    st.builds(Status, st.sampled_from(State), epochs, exps),
    ints.flatmap(lambda r: st.builds(Head, st.just(r), st.integers(0, r),
                                     st.integers(IAT + 1, 2**63 - 1))),
    st.builds(lambda b, n: Changes(ChangeBatch(b, b + n, ())), st.integers(0, 2**62 - 1),
              st.integers(1, 2**62 - 1)),  # b + n < 2**63
    st.builds(Ack, epochs, ints, st.dictionaries(uuid7s, verdicts, max_size=3), exps),
    st.builds(Command, st.integers(1, 2**63 - 1), st.sampled_from([Cmd.LOCKDOWN, Cmd.RELEASE,
              Cmd.RESYNC]), st.integers(IAT + 1, IAT + 300)),
    st.builds(lambda s, e, d, n: Command(s, Cmd.UNLOCK, e, Unlock(d, n)), st.integers(1, 2**62),
              st.integers(IAT + 1, IAT + 300), st.from_regex(r"[a-z][a-z0-9-]{0,20}",
              fullmatch=True), st.integers(1, 3600)),
    st.builds(lambda s, e, t: Command(s, Cmd.MESSAGE, e, KioskText(t)), st.integers(1, 2**62),
              st.integers(IAT + 1, IAT + 300), st.text(max_size=500)),
)  # fmt: skip


@given(messages, node_ids)
def test_round_trip_of_generated_messages(msg: Message, node: str) -> None:
    wire = encode(msg, node, IAT)
    assert decode(wire) == msg
    assert decode(verify(sign(wire, "k", KEY_K), RING_K).claims) == msg


# --- door.state bodies (sync/protocol/wire.py body_error) ------------------------------

door_ids = st.text(min_size=1, max_size=DOOR_ID_MAX)


@pytest.mark.parametrize("state", DOOR_STATES)
def test_a_door_state_body_of_every_state_is_good(state: str, tmp_path: Path) -> None:
    body = {"door": "door.main", "state": state}
    assert body_error("door.state", body) is None
    rep = Replica.open(tmp_path / "node.db")
    try:
        append_event(rep, "door.state", body, AT)
        msg = Events(rep.state().epoch, tuple(pending_events(rep)))
    finally:
        rep.close()
    assert decode(encode(msg, NODE, IAT)) == msg  # it travels like every other event


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"door": "door.main"}, "state must be one of"),
        ({"door": "door.main", "state": "ajar"}, "state must be one of"),
        ({"door": "door.main", "state": "LOCKED"}, "state must be one of"),
        ({"door": "door.main", "state": ["locked"]}, "state must be one of"),
        ({"state": "locked"}, "door must be a string"),
        ({"door": "", "state": "locked"}, "door must be a string"),
        ({"door": 7, "state": "locked"}, "door must be a string"),
        ({"door": "d" * (DOOR_ID_MAX + 1), "state": "locked"}, "door must be a string"),
        (["door.main", "locked"], "body must be an object"),
    ],
)
def test_a_bad_door_state_body_is_named_and_never_recorded(
    body: Any, says: str, tmp_path: Path
) -> None:
    error = body_error("door.state", body)
    assert error is not None and says in error
    rep = Replica.open(tmp_path / "node.db")
    try:
        if isinstance(body, dict):
            with pytest.raises(ValueError, match=says):
                append_event(rep, "door.state", body, AT)
        assert pending_events(rep) == []
    finally:
        rep.close()


@given(st.sampled_from(sorted(EVENT_TYPES)), json_values)
def test_body_error_of_any_json_is_a_verdict_never_an_exception(type_: str, body: Any) -> None:
    error = body_error(type_, body)
    valid = (
        isinstance(body, dict)
        and isinstance(body.get("door"), str)
        and 0 < len(body["door"]) <= DOOR_ID_MAX
        and body.get("state") in DOOR_STATES
    )
    assert (error is None) == (type_ != "door.state" or valid)


@given(door_ids, st.sampled_from(DOOR_STATES), st.dictionaries(st.text(max_size=5), json_leaf))
def test_any_door_and_state_with_extra_fields_is_good(
    door: str, state: str, extra: dict[str, Any]
) -> None:
    assert body_error("door.state", {**extra, "door": door, "state": state}) is None
