"""Forged, replayed, rolled-back and misaddressed messages on the production TLS listener.

The broker is production's (tests/support/broker.py ``TlsListener``, client certificates
required, CN = MQTT user = client id, deploy/mosquitto/hallvakt.acl); central's
gateway (``central-1``) and the nodes' links (``hallvakt sync``) run as child
processes over ``mqtts://`` with certificates from a test CA. A second
connection with a certificate in use would take over its session, so the
wiretaps on the nodes' ``dn/`` have identities of their own, added to
production's ACL for this test only (read-only: what the broker's operator
can see). The attacker holds what PROTOCOL.md §1.3 says is not enough: broker
access (a gateway's certificate, or a node's), never a pinned signing key.
Each message is dropped, changes nothing, and is recorded:

- on the node, as a ``security.rejected`` event (which the link then sends
  up: each one is checked in central's event store, reason and topic):
  a command signed with an unknown key and one with a bad signature, a valid
  command replayed byte for byte, an old valid head replayed (rollback), a
  valid head of another node redirected to this one, an expired command, a
  command reusing a taken seq, a valid ack on the command topic. A valid
  ``changes`` batch replayed is a duplicate, ignored without an event
  (docs/sync.md): it changes nothing either.
- on central, in its security log: events signed with an unknown key (a stolen
  node certificate), another node's signed message sent on this node's topic,
  a node's message naming another node, an expired hello. A valid events
  batch replayed is stored once (idempotent), with the same ``through``.
- by the broker's ACL: a node publishing on another node's ``up/``, ``status``
  or ``dn/`` topics gets PUBACK "Not authorized" (0x87), the broker logs the
  denial, and nothing reaches central.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_config.secrets import load_node_key
from sync.central.testing import plain_event
from sync.protocol import (
    Clock,
    ClockSource,
    Cmd,
    Command,
    Events,
    Hello,
    KioskText,
    OutboxRange,
    Unlock,
    encode,
    pack,
    sign,
)
from sync.protocol.testing import private_key
from sync.replica import backlog, heartbeats, pending_commands
from tests.support.broker import PrivateBroker, TlsListener
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    BrokerAccess,
    CentralSite,
    Heard,
    NodeSite,
    Peer,
    append_events,
    demo_system,
    hallvakt_argv,
    wait_for,
)
from tests.support.tls import TestCA

A, B = "sec.hall.n1", "sec.hall.n2"
ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "hallvakt.acl"
NOT_AUTHORIZED = 0x87
WIRETAPS = ("wiretap-a", "wiretap-b")  # test-only identities that read every dn/


@dataclass
class Tls:
    broker: PrivateBroker
    ca: TestCA
    port: int

    def access(self, cn: str) -> BrokerAccess:
        who = self.ca.client(cn, name=f"{cn}-link")
        return BrokerAccess(f"mqtts://localhost:{self.port}", self.ca.cert_path, who.cert, who.key)

    def peer(self, client_id: str, cn: str) -> Peer:
        who = self.ca.client(cn, name=client_id)
        return Peer(client_id, ("localhost", self.port), tls=(self.ca.cert_path, who.cert, who.key))


@dataclass
class System:
    tls: Tls
    central: CentralSite
    a: NodeSite
    b: NodeSite
    peers: list[Peer]

    def peer(self, client_id: str, cn: str) -> Peer:
        p = self.tls.peer(client_id, cn)
        self.peers.append(p)
        return p


@pytest.fixture
def system(
    make_broker: Callable[..., PrivateBroker], test_ca: TestCA, tmp_path: Path
) -> Iterator[System]:
    server = test_ca.server()
    acl = tmp_path / "hallvakt-and-wiretaps.acl"
    acl.write_text(
        ACL_FILE.read_text(encoding="utf-8")
        + "".join(f"\n# test only\nuser {w}\ntopic read hallvakt/v1/+/dn/#\n" for w in WIRETAPS),
        encoding="utf-8",
    )
    broker = make_broker(
        tcp_port=None,
        tls=TlsListener(cafile=test_ca.cert_path, certfile=server.cert, keyfile=server.key),
        allow_anonymous=False,
        acl_file=acl,
        log_types=(*BROKER_LOG_TYPES, "debug"),  # debug: the broker logs denied PUBLISHes
    )
    assert broker.tls_address is not None
    tls = Tls(broker, test_ca, broker.tls_address[1])
    central, (a, b) = demo_system(
        tmp_path, tls.access("central-1"), {A: tls.access(A), B: tls.access(B)}
    )
    s = System(tls, central, a, b, [])
    try:
        yield s
    finally:
        for p in s.peers:
            p.close()
        a.link.stop()
        b.link.stop()
        central.stop()


def start(s: System, *nodes: NodeSite) -> None:
    s.central.start(s.tls.broker)
    alive = [s.central.gateway, *(n.link for n in nodes)]
    for n in nodes:
        n.link.start()
    for n in nodes:
        with n.replica() as rep:
            wait_for(  # central's rev read each time: its first lease renewal may move it
                lambda r=rep: r.state().applied_rev == s.central.revs(FACILITY)[0],
                f"{n.node_id}'s snapshot",
                alive=alive,
            )


def central_key(central: CentralSite) -> tuple[str, Callable[..., bytes]]:
    """Central's real signing key (what a genuine but delayed message carries)."""
    key = load_node_key(central.key_file)

    def signed(msg: Command, node: str, iat: int) -> bytes:
        return pack(msg, node=node, iat=iat, kid=central.kid, key=key).payload

    return central.kid, signed


def test_the_node_drops_forged_replayed_and_misaddressed_messages(system: System) -> None:
    s = system
    central, node = s.central, s.a
    start(s, s.a, s.b)
    alive = [central.gateway, s.a.link, s.b.link]
    now = int(time.time())
    with node.replica() as rep:
        # Wiretaps record genuine traffic.
        tap_a, tap_b = (s.peer(w, w) for w in WIRETAPS)
        dn_a, dn_b = f"hallvakt/v1/{A}/dn", f"hallvakt/v1/{B}/dn"
        assert tap_a.subscribe(f"{dn_a}/#") == [1]
        assert tap_b.subscribe(f"{dn_b}/head") == [1]
        old_head = tap_a.next(lambda h: h.kind == "head", "A's retained head")
        b_head = tap_b.next(lambda h: h.kind == "head", "B's retained head")
        central.admin("command", "--node", A, "--cmd", "message", "--text", "Välkomna!")
        command = tap_a.next(lambda h: h.kind == "command", "the command")
        wait_for(lambda: len(pending_commands(rep)) == 1, "the command taken", alive=alive)
        day = (datetime.now(UTC) + timedelta(days=20)).date()
        central.admin(
            "book",
            *("--facility", FACILITY, "--resource", "gym", "--id", "sec-1"),
            *("--start", f"{day} 10:00", "--end", f"{day} 11:00"),
        )
        changes = tap_a.next(lambda h: h.kind == "changes", "the changes")
        rev = central.revs(FACILITY)[0]
        wait_for(lambda: rep.state().applied_rev == rev, "the changes applied", alive=alive)
        append_events(rep, 3)
        ack = tap_a.next(lambda h: h.kind == "ack", "an ack")
        wait_for(lambda: backlog(rep) == 0, "the outbox empty", alive=alive)

        before = node.fingerprint(rep)
        assert before["last_command_seq"] == 1 and len(before["commands"]) == 1
        # Broker access with a gateway's certificate: it may write every dn/
        # topic. Not central-1's: that connection would take over the gateway's.
        mallory = s.peer("mallory", "central-2")
        kid, genuine = central_key(central)
        unlock = Command(2, Cmd.UNLOCK, now + 120, Unlock("entre", 10))
        cases: list[tuple[str, str, bytes, str | None]] = [
            ("unknown key", f"{dn_a}/cmd", _forged(unlock, "mallory-1", now), "unknown_key"),
            ("bad signature", f"{dn_a}/cmd", _forged(unlock, kid, now), "bad_signature"),
            ("command replayed", command.topic, command.payload, "replayed"),
            ("old head replayed", old_head.topic, old_head.payload, "rollback"),
            ("changes replayed", changes.topic, changes.payload, None),
            ("another node's head", f"{dn_a}/head", b_head.payload, "wrong_node"),
            (
                "expired command",
                f"{dn_a}/cmd",
                genuine(Command(2, Cmd.UNLOCK, now - 100, Unlock("entre", 10)), A, now - 400),
                "expired",
            ),
            (
                "reused command seq",
                f"{dn_a}/cmd",
                genuine(Command(1, Cmd.MESSAGE, now + 120, KioskText("Öppet!")), A, now),
                "replayed",
            ),
            ("an ack on the command topic", f"{dn_a}/cmd", ack.payload, "wrong_topic"),
        ]
        seen = len(central.rejected_events(A))
        for what, topic, payload, reason in cases:
            assert mallory.publish(topic, payload) == 0, what
            if reason is None:
                continue  # no event of its own: the next case shows it was handled
            seen += 1
            wait_for(
                lambda n=seen: len(central.rejected_events(A)) >= n,
                f"the security.rejected event for {what} at central",
                alive=alive,
            )
            body = central.rejected_events(A)[seen - 1]
            assert (body["reason"], body["topic"]) == (reason, topic), what
            assert node.fingerprint(rep) == before, what
        wait_for(lambda: backlog(rep) == 0, "the security events acknowledged", alive=alive)
        reasons = [b["reason"] for b in central.rejected_events(A)]
        assert reasons == [r for *_, r in cases if r is not None]
        assert node.fingerprint(rep) == before
        # A's link kept its own count of every drop (the status file, docs/sync.md)
        wait_for(
            lambda: sum(node.status().get("rejected", {}).values()) == len(reasons),
            "the link's drop counters",
        )
    assert central.security_log() == [] and central.quarantine() == []
    assert central.rejected_events(B) == []
    assert "Traceback" not in node.link.log_text() + central.gateway.log_text()


def _forged(msg: Command, kid: str, iat: int) -> bytes:
    """Signed with a key no node pins, under ``kid``."""
    return pack(msg, node=A, iat=iat, kid=kid, key=private_key("mallory")).payload


def test_central_and_the_acl_drop_what_a_node_may_not_send(system: System) -> None:
    s = system
    central = s.central
    start(s, s.a)
    up_a = f"hallvakt/v1/{A}/up"
    tap = s.peer("tap-central", "central-2")  # a gateway's certificate may read every up/
    assert tap.subscribe(f"{up_a}/evt") == [1]
    with s.a.replica() as rep:
        epoch = rep.state().epoch
        append_events(rep, 5)
        batch: Heard = tap.next(lambda h: h.kind == "events", "A's events")
        wait_for(lambda: backlog(rep) == 0, "A's events acknowledged")
    # A stolen copy of A's certificate (below) is A to the broker: a connection
    # with it would take over the link's session. So the link stops first (a
    # clone used while the node is off), and central has heard it go.
    assert s.a.link.terminate() == 0
    wait_for(
        lambda: (
            central.query("SELECT status_state FROM node_state WHERE node = ?", A) == [("offline",)]
        ),
        "A's offline status at central",
    )
    before = central.fingerprint(A)
    assert central.through(A, epoch) == 5
    now = int(time.time())
    key_a, key_b = (
        load_node_key(s.a.root / "secrets" / "node.key"),
        load_node_key(s.b.root / "secrets" / "node.key"),
    )
    from_b = sign(encode(Events(epoch, (plain_event(6),)), A, now), s.b.kid, key_b)

    # The ACL: node B, with its own certificate, on A's topics. (The broker
    # names the connection after the certificate, whatever client id it sent.)
    b = s.peer("b-rogue", B)
    log_before = s.tls.broker.log_text()
    for topic in (f"{up_a}/evt", f"hallvakt/v1/{A}/status", f"hallvakt/v1/{A}/dn/cmd"):
        assert b.publish(topic, from_b) == NOT_AUTHORIZED, topic
        wait_for(
            lambda t=topic: denied(s, log_before, B, t),
            f"the broker's log of the denied PUBLISH on {topic}",
        )

    # A stolen copy of A's certificate gets past the ACL, not past central.
    thief = s.peer("thief", A)
    hello = encode(  # made two minutes ago, valid until five seconds ago: delayed
        Hello(epoch, "boot-x", 0, OutboxRange(1, 0), "x", Clock(True, ClockSource.NTP)),
        A,
        now - 120,
    )
    wrong_node = encode(Events(epoch, (plain_event(6),)), B, now)
    cases = [
        ("valid events replayed", batch.payload, None),
        (
            "unknown key",
            sign(encode(Events(epoch, (plain_event(6),)), A, now), "mallory-1", private_key("m")),
            "unknown_key",
        ),
        ("B's signature on A's topic", from_b, "unknown_key"),
        ("a message naming node B", sign(wrong_node, s.a.kid, key_a), "wrong_node"),
        ("an expired hello", sign({**hello, "exp": now - 5}, s.a.kid, key_a), "expired"),
    ]
    logged_so_far = 0
    for what, payload, reason in cases:
        topic = f"{up_a}/hello" if "hello" in what else f"{up_a}/evt"
        assert thief.publish(topic, payload) == 0, what
        if reason is None:
            continue  # no log of its own: the next case shows it was handled
        logged_so_far += 1
        wait_for(lambda n=logged_so_far: len(central.security_log()) >= n, f"{what} logged")
    logged = central.security_log()
    assert [(n, r) for n, r, _, _ in logged] == [
        (A, "unknown_key"),
        (A, "unknown_key"),
        (A, "wrong_node"),
        (A, "expired"),
    ]
    assert [d for *_, d in logged][:2] == [
        "unknown key id 'mallory-1'",
        f"unknown key id {s.b.kid!r}",  # once: the ACL kept B's own attempts away
    ]
    assert central.fingerprint(A) == before
    assert central.through(A, epoch) == 5 and central.quarantine() == []


def denied(s: System, before: str, client_id: str, topic: str) -> bool:
    """Whether the broker logged (since ``before``) that it denied a PUBLISH of
    ``client_id`` on ``topic`` (Mosquitto 2.0.11, log_type debug)."""
    return any(
        f"Denied PUBLISH from {client_id} (" in line and f"'{topic}'" in line
        for line in s.tls.broker.log_text()[len(before) :].splitlines()
    )


def test_a_node_says_when_the_broker_refuses_its_publishes(system: System, tmp_path: Path) -> None:
    """An operator's edit of the broker ACL lost the node patterns (reloaded
    with SIGHUP, as ``systemctl reload mosquitto`` does). The broker then
    refuses every publish of node A on its own topics (PUBACK 0x87) and logs
    it only at debug level. A's link says why in its log and its heartbeat,
    and ``hallvakt status`` shows it as a problem."""
    acl = tmp_path / "hallvakt-and-wiretaps.acl"  # the system fixture's ACL file
    text = acl.read_text(encoding="utf-8")
    kept = [ln for ln in text.splitlines() if not ln.startswith("pattern write")]
    assert len(kept) < len(text.splitlines())
    acl.write_text("\n".join(kept) + "\n", encoding="utf-8")
    broker = system.tls.broker
    offset = len(broker.log_text())
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGHUP)
    wait_for(lambda: "Reloading config" in broker.log_text()[offset:], "the broker's reload")
    start(system)  # central only
    system.a.link.start()
    hello = f"hallvakt/v1/{A}/up/hello"
    refusal = f"{hello}: Not authorized"
    wait_for(
        lambda: f"the broker refused our publish on {refusal}" in system.a.link.log_text(),
        "the refusal in A's log",
        alive=[system.a.link],
    )
    with system.a.replica() as rep:

        def refused_in_beat() -> bool:
            beats = heartbeats(rep)
            return bool(beats) and beats[0].detail.get("refused_publishes", 0) >= 1

        wait_for(refused_in_beat, "the refusal in A's heartbeat", alive=[system.a.link])
        (beat,) = heartbeats(rep)
        last = beat.detail["last_refusal"]  # hello, then cursors: all refused
        assert last.startswith(f"hallvakt/v1/{A}/up/") and last.endswith(": Not authorized")
        assert rep.state().applied_rev == 0  # central never heard A's hello
    status = subprocess.run(
        [*hallvakt_argv(), "status", "--config", str(system.a.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 1
    assert "link: the broker refused" in status.stdout
    assert f"(hallvakt/v1/{A}/up/" in status.stdout and ": Not authorized);" in status.stdout
    assert denied(system, "", A, hello)  # what the broker itself says (debug level)
