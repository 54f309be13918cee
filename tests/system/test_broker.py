"""A real Mosquitto: the private broker of hallvakt/demo/broker/, and the production
setup of deploy/mosquitto/ (TLS with client certificates, CN = user name, the
ACL of PROTOCOL.md §3). What the broker keeps across a restart and a crash,
and what a node can and cannot do. Each "nothing else arrived" is shown with a
marker message that must be the next one delivered, never with a sleep.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hallvakt.demo.broker.process
from firmware_config.values import GATEWAY_ID_PATTERN, NODE_ID_PATTERN, is_reserved_node_id
from tests.support.broker import (
    AUTOSAVE_INTERVAL,
    MAX_PACKET_SIZE,
    MAX_PAYLOAD,
    BrokerConfig,
    PrivateBroker,
    TlsListener,
    probe,
    render,
)
from tests.support.tls import TestCA

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
GRANTED_QOS1 = 1
SUCCESS = 0x00
NO_SUBSCRIBERS = 0x10  # PUBACK: accepted, but no subscription matched (MQTT 5.0 §3.4.2.1)
NOT_AUTHORIZED = 0x87
PACKET_TOO_LARGE = 0x95
UNSPECIFIED = 0x80  # paho's reason for a connection that ended without a DISCONNECT
SESSION = 300  # seconds of session expiry for the persistent sessions here

Mqtt = Callable[..., Any]  # conftest's ``mqtt``: returns a connected Peer
Identity = Callable[..., Any]  # conftest's ``identity``: returns a ClientTls
# conftest's Received (topic, payload, qos, retain) and ConnAck (session_present,
# reason) are NamedTuples: compared here with plain tuples.


def up(node: str, leaf: str = "evt") -> str:
    return f"hallvakt/v1/{node}/up/{leaf}"


def dn(node: str, leaf: str = "cmd") -> str:
    return f"hallvakt/v1/{node}/dn/{leaf}"


def status(node: str) -> str:
    return f"hallvakt/v1/{node}/status"


SHARED_UP = "$share/central/hallvakt/v1/+/up/#"


# --- rendering (no broker) -----------------------------------------------------


def test_render_wants_absolute_paths_and_real_ports(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        render(BrokerConfig())  # relative socket path: PrivateBroker resolves it
    with pytest.raises(ValueError, match="resolve 0 first"):
        render(BrokerConfig(unix_socket=None, persistence_location=None))
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        render(
            BrokerConfig(
                unix_socket=tmp_path / ("s" * 120), tcp_port=None, persistence_location=None
            )
        )
    with pytest.raises(ValueError, match="at least one listener"):
        render(BrokerConfig(unix_socket=None, tcp_port=None))
    cfg = BrokerConfig(
        unix_socket=tmp_path / "m.sock", tcp_port=1883, persistence_location=tmp_path / "p"
    )
    text = render(cfg)
    assert f"listener 0 {tmp_path}/m.sock\n" in text
    assert "listener 1883 127.0.0.1\n" in text
    assert f"persistence_location {tmp_path}/p\n" in text
    assert "user root\n" in text


# --- a private broker ----------------------------------------------------------


def test_broker_answers_on_its_socket_and_its_port(broker: PrivateBroker, mqtt: Mqtt) -> None:
    assert broker.unix_socket is not None and broker.tcp_address is not None
    assert probe(broker.unix_socket) == SUCCESS
    assert probe(broker.tcp_address) == SUCCESS
    sub = mqtt("sub", broker.tcp_address)
    assert sub.subscribe("t/#") == [GRANTED_QOS1]
    pub = mqtt("pub", broker.unix_socket)
    assert pub.publish("t/1", b"hello") == SUCCESS
    assert sub.expect_message() == ("t/1", b"hello", 1, False)
    assert "running" in broker.log_text()
    assert broker.log_path.parent == broker.directory


def test_a_port_taken_before_the_broker_binds_it_is_picked_again(
    make_broker: Callable[..., PrivateBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: the probe gets no answer
        busy = taken.getsockname()[1]
        real = hallvakt.demo.broker.process.free_port
        picks = iter([busy])
        monkeypatch.setattr(
            hallvakt.demo.broker.process, "free_port", lambda host: next(picks, None) or real(host)
        )
        b = make_broker(unix_socket=None)
        assert b.tcp_address is not None and b.tcp_address[1] != busy
        assert probe(b.tcp_address) == SUCCESS
        assert "Address already in use" in b.log_text()


def test_qos1_message_survives_sigterm_and_restart(broker: PrivateBroker, mqtt: Mqtt) -> None:
    """A persistent session (clean_start=False, session expiry) keeps its
    subscription and its queued QoS 1 message: SIGTERM saves them."""
    address = broker.tcp_address
    node = mqtt("hall-1", address, clean_start=False, session_expiry=SESSION)
    assert node.subscribe(dn("hall-1", "#")) == [GRANTED_QOS1]
    node.close()
    central = mqtt("central-1", broker.unix_socket)
    assert central.publish(dn("hall-1", "chg"), b"rev 42") == SUCCESS
    central.close()

    assert broker.terminate() == 0
    assert broker.persistence_file is not None and broker.persistence_file.exists()
    broker.start()
    assert broker.tcp_address == address  # same port, same socket after a restart

    again = mqtt("hall-1", address, clean_start=False, session_expiry=SESSION)
    assert again.connack == (True, SUCCESS)
    assert again.expect_message() == (dn("hall-1", "chg"), b"rev 42", 1, False)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _wait_for_save(broker: PrivateBroker, before: tuple[int, int, int] | None) -> None:
    """Until mosquitto has replaced its database file (it writes mosquitto.db.new
    and renames it): a save that began after ``before`` was taken."""
    assert broker.persistence_file is not None
    deadline = time.monotonic() + broker.config.autosave_interval + 5
    while _stamp(broker.persistence_file) == before:
        assert time.monotonic() < deadline, "no autosave"
        time.sleep(0.05)


def test_sigkill_keeps_what_an_autosave_wrote(
    make_broker: Callable[..., PrivateBroker], mqtt: Mqtt
) -> None:
    b = make_broker(autosave_interval=1)
    assert b.persistence_file is not None
    node = mqtt("hall-1", b.unix_socket, clean_start=False, session_expiry=SESSION)
    assert node.subscribe(dn("hall-1", "#")) == [GRANTED_QOS1]
    node.close()
    central = mqtt("central-1", b.tcp_address)
    assert central.publish(dn("hall-1", "chg"), b"rev 7") == SUCCESS
    _wait_for_save(b, _stamp(b.persistence_file))  # PUBACK came first: the save has it

    assert b.kill() == -9
    b.start()
    again = mqtt("hall-1", b.unix_socket, clean_start=False, session_expiry=SESSION)
    assert again.connack == (True, SUCCESS)
    assert again.expect_message() == (dn("hall-1", "chg"), b"rev 7", 1, False)


def test_sigkill_loses_what_arrived_since_the_last_save(broker: PrivateBroker, mqtt: Mqtt) -> None:
    """Production's autosave_interval (60 s): a crash within it loses the
    messages queued and the sessions made since the last save, though every
    publisher had its PUBACK. The session saved by a SIGTERM survives."""
    assert broker.config.autosave_interval == AUTOSAVE_INTERVAL
    node = mqtt("hall-1", broker.unix_socket, clean_start=False, session_expiry=SESSION)
    assert node.subscribe(dn("hall-1", "#")) == [GRANTED_QOS1]
    node.close()
    broker.restart()  # SIGTERM: the session is saved
    started = time.monotonic()

    central = mqtt("central-1", broker.tcp_address)
    assert central.publish(dn("hall-1", "chg"), b"rev 8") == SUCCESS
    late = mqtt("hall-2", broker.unix_socket, clean_start=False, session_expiry=SESSION)
    assert late.subscribe(dn("hall-2", "#")) == [GRANTED_QOS1]
    late.close()
    central.close()
    assert broker.kill() == -9
    assert time.monotonic() - started < AUTOSAVE_INTERVAL  # so no autosave ran

    broker.start()
    again = mqtt("hall-1", broker.unix_socket, clean_start=False, session_expiry=SESSION)
    assert again.connack == (True, SUCCESS)
    central = mqtt("central-1", broker.tcp_address)
    assert central.publish(dn("hall-1", "chg"), b"marker") == SUCCESS
    assert again.expect_message().payload == b"marker"  # "rev 8" is gone
    gone = mqtt("hall-2", broker.unix_socket, clean_start=False, session_expiry=SESSION)
    assert gone.connack == (False, SUCCESS)


def test_payload_limit(broker: PrivateBroker, mqtt: Mqtt) -> None:
    """256 KiB of payload on the longest node topic passes; a packet over
    max_packet_size gets DISCONNECT "Packet too large" and is not delivered."""
    longest = "n" * 64  # PROTOCOL.md §2: a node id has at most 64 characters
    sub = mqtt("central-1", broker.unix_socket)
    assert sub.subscribe("hallvakt/v1/#") == [GRANTED_QOS1]
    node = mqtt(longest, broker.tcp_address)
    assert node.publish(up(longest, "hello"), b"x" * MAX_PAYLOAD) == SUCCESS
    assert len(sub.expect_message().payload) == MAX_PAYLOAD

    big = mqtt("too-big", broker.tcp_address)
    big.client.publish(up("too-big"), b"y" * MAX_PACKET_SIZE, qos=1)
    assert big.wait_closed().reason == PACKET_TOO_LARGE
    big.close()  # else paho resends the same message on its reconnect, forever
    assert node.publish(up(longest), b"marker") == SUCCESS
    assert sub.expect_message().payload == b"marker"


# --- production: TLS, certificates, the ACL -------------------------------------


def _collect_until(peers: list[Any], last: bytes) -> list[tuple[str, bytes]]:
    """(consumer, payload) in arrival order at each consumer, until ``last``."""
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + 5
    while not any(p == last for _, p in got):
        assert time.monotonic() < deadline, f"{last!r} never arrived; got {got}"
        for peer in peers:
            try:
                got.append((peer.client_id, peer.messages.get(timeout=0.02).payload))
            except queue.Empty:
                continue
    return got


def test_node_event_reaches_central_through_the_shared_subscription(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    address = tls_broker.tls_address
    consumers = [mqtt(f"central-{i}", address, tls=identity(f"central-{i}")) for i in (1, 2)]
    for c in consumers:
        assert c.subscribe(SHARED_UP) == [GRANTED_QOS1]
    node = mqtt("node-a", address, tls=identity("node-a"))
    for i in range(4):
        assert node.publish(up("node-a"), f"e{i}".encode()) == SUCCESS
    assert node.publish(up("node-a", "cur"), b"end") == SUCCESS

    got = _collect_until(consumers, b"end")
    assert sorted(p for _, p in got) == [b"e0", b"e1", b"e2", b"e3", b"end"]  # each once
    assert {who for who, _ in got} == {"central-1", "central-2"}  # shared between them


def test_central_reads_a_nodes_retained_status(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    address = tls_broker.tls_address
    node = mqtt("node-a", address, tls=identity("node-a"))
    assert node.publish(status("node-a"), b"online", retain=True) == NO_SUBSCRIBERS
    central = mqtt("central-1", address, tls=identity("central-1"))
    assert central.subscribe("hallvakt/v1/+/status") == [GRANTED_QOS1]
    assert central.expect_message() == (status("node-a"), b"online", 1, True)


def test_node_cannot_write_for_another_node_nor_down(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    address = tls_broker.tls_address
    central = mqtt("central-1", address, tls=identity("central-1"))
    assert central.subscribe(SHARED_UP) == [GRANTED_QOS1]
    assert central.subscribe("hallvakt/v1/+/status") == [GRANTED_QOS1]
    node_a = mqtt("node-a", address, tls=identity("node-a"))
    assert node_a.subscribe(dn("node-a", "#")) == [GRANTED_QOS1]

    assert node_a.publish(up("node-b"), b"forged") == NOT_AUTHORIZED
    assert node_a.publish(status("node-b"), b"offline", retain=True) == NOT_AUTHORIZED
    assert node_a.publish(dn("node-a"), b"self-made command") == NOT_AUTHORIZED
    assert central.publish(up("node-a"), b"central forging") == NOT_AUTHORIZED
    assert node_a.publish(up("node-a"), b"marker") == SUCCESS
    assert central.expect_message() == (up("node-a"), b"marker", 1, False)
    assert central.publish(dn("node-a"), b"marker-dn") == SUCCESS
    assert node_a.expect_message().payload == b"marker-dn"  # not its own "command"


def test_node_cannot_read_another_nodes_topics(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    """Mosquitto grants every SUBSCRIBE in the SUBACK and filters on delivery."""
    address = tls_broker.tls_address
    node_a = mqtt("node-a", address, tls=identity("node-a"))
    for topic in (dn("node-a", "#"), dn("node-b", "#"), "hallvakt/v1/+/up/#", SHARED_UP):
        assert node_a.subscribe(topic) == [GRANTED_QOS1]
    node_b = mqtt("node-b", address, tls=identity("node-b"))
    assert node_b.subscribe(dn("node-b", "#")) == [GRANTED_QOS1]
    central = mqtt("central-1", address, tls=identity("central-1"))

    assert central.publish(dn("node-b"), b"for b") == SUCCESS
    assert node_b.expect_message().payload == b"for b"  # it was delivered, to b
    assert node_b.publish(up("node-b"), b"b's event") == SUCCESS
    assert node_a.publish(up("node-a"), b"a's own event") == SUCCESS  # nodes never read up/
    assert central.publish(dn("node-a"), b"for a") == SUCCESS
    assert node_a.expect_message() == (dn("node-a"), b"for a", 1, False)


def test_central_writes_a_nodes_dn_and_the_node_reads_it(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    address = tls_broker.tls_address
    central = mqtt("central-1", address, tls=identity("central-1"))
    assert central.publish(dn("node-a", "head"), b"head rev 3", retain=True) == NO_SUBSCRIBERS
    node_a = mqtt("node-a", address, tls=identity("node-a"))
    assert node_a.subscribe(dn("node-a", "#")) == [GRANTED_QOS1]
    assert node_a.expect_message() == (dn("node-a", "head"), b"head rev 3", 1, True)
    assert central.publish(dn("node-a", "chg"), b"changes 3..4") == SUCCESS
    assert node_a.expect_message() == (dn("node-a", "chg"), b"changes 3..4", 1, False)


def test_no_connection_without_a_certificate_from_the_ca(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity, tmp_path: Path
) -> None:
    """A TLS failure gives no CONNACK: the connection just ends."""
    address = tls_broker.tls_address
    bare = mqtt("bare", address, tls=identity(None), connect=False)
    assert bare.wait_connack() is None
    rogue = identity("node-a", issuer=TestCA(tmp_path / "rogue"))
    impostor = mqtt("node-a", address, tls=rogue, connect=False)
    assert impostor.wait_connack() is None


def test_the_plain_socket_beside_tls_admits_nobody(tls_broker: PrivateBroker, mqtt: Mqtt) -> None:
    """No anonymous clients and no password file: a user name alone is refused,
    so the probe's socket is no way around the certificates."""
    assert tls_broker.unix_socket is not None
    assert probe(tls_broker.unix_socket) == NOT_AUTHORIZED
    central = mqtt("central-1", tls_broker.unix_socket, username="central-1", connect=False)
    assert central.wait_connack().reason == NOT_AUTHORIZED


def test_a_borrowed_client_id_gets_the_borrowers_own_session(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    """use_username_as_clientid: node B connecting with client id ``node-a``
    (and its own certificate) gets B's session, never A's; what is queued for
    A stays queued for A (deploy/mosquitto/README.md, "Client ids")."""
    address = tls_broker.tls_address
    node_a = mqtt(
        "node-a", address, tls=identity("node-a"), clean_start=False, session_expiry=SESSION
    )
    assert node_a.subscribe(dn("node-a", "#")) == [GRANTED_QOS1]
    node_a.close()
    central = mqtt("central-1", address, tls=identity("central-1"))
    assert central.publish(dn("node-a", "chg"), b"queued for a") == SUCCESS

    borrower = mqtt(
        "node-a", address, tls=identity("node-b"), clean_start=False, session_expiry=SESSION
    )
    assert borrower.connack == (False, SUCCESS)  # a new session, though node-a's exists
    assert central.publish(dn("node-a", "chg"), b"more for a") == SUCCESS
    assert borrower.subscribe(dn("node-b", "#")) == [GRANTED_QOS1]
    assert central.publish(dn("node-b"), b"marker b") == SUCCESS
    assert borrower.expect_message().payload == b"marker b"  # nothing of A's before it
    borrower.close()

    back = mqtt(
        "node-a", address, tls=identity("node-a"), clean_start=False, session_expiry=SESSION
    )
    assert back.connack == (True, SUCCESS)
    assert back.expect_message() == (dn("node-a", "chg"), b"queued for a", 1, False)
    assert back.expect_message() == (dn("node-a", "chg"), b"more for a", 1, False)
    # The session the borrower made is node-b's: B's certificate resumes it.
    b = mqtt("node-b", address, tls=identity("node-b"), clean_start=False, session_expiry=SESSION)
    assert b.connack == (True, SUCCESS)
    assert central.publish(dn("node-b"), b"for b") == SUCCESS
    assert b.expect_message().payload == b"for b"


def _logged_since(broker: PrivateBroker, offset: int, pattern: str) -> str:
    """The first line of the broker's log after ``offset`` that matches
    ``pattern``; waits for it (the broker writes its log as it goes)."""
    deadline = time.monotonic() + 5
    while True:
        for line in broker.log_text()[offset:].splitlines():
            if re.search(pattern, line):
                return line
        assert time.monotonic() < deadline, f"no log line {pattern!r}"
        time.sleep(0.02)


def test_a_borrowed_client_id_leaves_its_owner_connected(
    tls_broker: PrivateBroker, mqtt: Mqtt, identity: Identity
) -> None:
    """Node B's certificate with node A's client id, then with gateway
    central-1's: the broker names both connections ``node-b``, so the session
    it takes over is each time B's own (Mosquitto 2.0.11 closes the old
    connection without a DISCONNECT packet, and logs it), and A and central-1
    stay connected and keep exchanging messages."""
    address = tls_broker.tls_address
    central = mqtt("central-1", address, tls=identity("central-1"))
    assert central.subscribe(SHARED_UP) == [GRANTED_QOS1]
    node_a = mqtt("node-a", address, tls=identity("node-a"))
    assert node_a.subscribe(dn("node-a", "#")) == [GRANTED_QOS1]
    held = mqtt("node-b", address, tls=identity("node-b"), reconnect=False)  # B's own link

    for borrowed in ("node-a", "central-1"):
        offset = len(tls_broker.log_text())
        impostor = mqtt(borrowed, address, tls=identity("node-b"), reconnect=False)
        _logged_since(tls_broker, offset, r"^\d+: Client node-b already connected, closing old")
        _logged_since(tls_broker, offset, r" as node-b \(p5, c1, k\d+, u'node-b'\)\.$")
        assert held.wait_closed().reason == UNSPECIFIED  # the socket closed, no DISCONNECT
        held = impostor

    assert central.publish(dn("node-a"), b"for a") == SUCCESS
    assert node_a.expect_message().payload == b"for a"
    assert node_a.publish(up("node-a"), b"from a") == SUCCESS
    assert central.expect_message().payload == b"from a"
    assert node_a.connection.empty() and central.connection.empty()  # never disconnected
    assert "already connected" not in tls_broker.log_text().replace("node-b already", "")


def test_a_gateway_added_to_the_acl_gets_its_rights_on_a_reload(
    make_broker: Callable[..., PrivateBroker],
    test_ca: TestCA,
    mqtt: Mqtt,
    identity: Identity,
    tmp_path: Path,
) -> None:
    """README.md, "Adding a gateway": its block appended to the ACL file and a
    SIGHUP (``systemctl reload mosquitto``) give a new gateway central's
    rights; no connection is dropped."""
    acl = tmp_path / "hallvakt.acl"
    acl.write_text((DEPLOY / "hallvakt.acl").read_text(encoding="utf-8"), encoding="utf-8")
    server = test_ca.server()
    b = make_broker(
        tcp_port=None,
        tls=TlsListener(cafile=test_ca.cert_path, certfile=server.cert, keyfile=server.key),
        allow_anonymous=False,
        acl_file=acl,
    )
    address = b.tls_address
    node_a = mqtt("node-a", address, tls=identity("node-a"))
    assert node_a.subscribe(dn("node-a", "#")) == [GRANTED_QOS1]
    gateway = mqtt("central-3", address, tls=identity("central-3"))
    assert gateway.publish(dn("node-a"), b"before") == NOT_AUTHORIZED

    with acl.open("a", encoding="utf-8") as f:
        f.write(
            "\nuser central-3\ntopic write hallvakt/v1/+/dn/#\n"
            "topic read hallvakt/v1/+/up/#\ntopic read hallvakt/v1/+/status\n"
        )
    offset = len(b.log_text())
    assert b.pid is not None
    os.kill(b.pid, signal.SIGHUP)
    # Logged at the start of the reload, which ends before the broker (one
    # thread) reads another packet.
    _logged_since(b, offset, r"Reloading config")
    assert gateway.publish(dn("node-a"), b"after") == SUCCESS
    assert node_a.expect_message().payload == b"after"
    assert gateway.connection.empty() and node_a.connection.empty()


# --- the files in deploy/mosquitto agree with what the tests run -------------------


def _options(text: str) -> tuple[dict[str, list[str]], list[dict[str, list[str]]]]:
    """(global options, one dict per listener) of a mosquitto.conf text."""
    sections: list[dict[str, list[str]]] = [{}]
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "listener":
            sections.append({})
        sections[-1].setdefault(key, []).append(value.strip())
    return sections[0], sections[1:]


LOCATION_KEYS = {
    "user",
    "acl_file",
    "persistence_location",
    "log_dest",
    "log_timestamp",
    "pid_file",
}
LISTENER_PATHS = {"listener", "cafile", "certfile", "keyfile"}


def _without(options: dict[str, list[str]], keys: set[str]) -> dict[str, list[str]]:
    return {k: v for k, v in options.items() if k not in keys}


def test_production_conf_is_what_the_tls_broker_runs(tls_broker: PrivateBroker) -> None:
    prod_global, prod_listeners = _options((DEPLOY / "production.conf").read_text())
    test_global, test_listeners = _options(tls_broker.config_path.read_text())
    assert _without(prod_global, LOCATION_KEYS) == _without(test_global, LOCATION_KEYS)
    assert prod_global["acl_file"] == ["/etc/mosquitto/hallvakt.acl"]
    assert test_global["acl_file"] == [str(DEPLOY / "hallvakt.acl")]
    assert "user" not in prod_global  # Debian's default, user mosquitto
    (prod_tls,) = prod_listeners
    tls = next(s for s in test_listeners if "certfile" in s)
    assert prod_tls["listener"] == ["8883"]
    assert (
        _without(prod_tls, LISTENER_PATHS)
        == _without(tls, LISTENER_PATHS)
        == {
            "require_certificate": ["true"],
            "use_identity_as_username": ["true"],
            "use_username_as_clientid": ["true"],
            "tls_version": ["tlsv1.2"],
        }
    )


def test_the_acl_gives_centrals_rights_to_gateway_identities_only() -> None:
    """Every user block of hallvakt.acl is a gateway identity (a name no node
    may have: firmware_config.values) with exactly central's rights of
    PROTOCOL.md §3; every node's rights are %u patterns."""
    blocks: dict[str, list[str]] = {}
    patterns: list[str] = []
    user: str | None = None
    for raw in (DEPLOY / "hallvakt.acl").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        if kind == "user":
            assert rest not in blocks, f"user {rest} twice"
            user, blocks[rest] = rest, []
        elif kind == "topic":
            assert user is not None, line
            blocks[user].append(rest)
        else:
            assert kind == "pattern", line
            patterns.append(rest)
    assert list(blocks) == ["central-1", "central-2"]
    for name, lines in blocks.items():
        assert re.fullmatch(GATEWAY_ID_PATTERN, name) and is_reserved_node_id(name)
        assert not re.fullmatch(NODE_ID_PATTERN, name)
        assert lines == [
            "write hallvakt/v1/+/dn/#",
            "read hallvakt/v1/+/up/#",
            "read hallvakt/v1/+/status",
        ]
    assert patterns == [
        "write hallvakt/v1/%u/up/#",
        "write hallvakt/v1/%u/status",
        "read hallvakt/v1/%u/dn/#",
    ]


def test_local_conf_is_what_a_private_broker_runs(broker: PrivateBroker) -> None:
    local_global, local_listeners = _options((DEPLOY / "local.conf").read_text())
    run_global, run_listeners = _options(broker.config_path.read_text())
    location = run_global.pop("persistence_location")
    assert location == [f"{broker.directory}/persistence"]
    assert local_global.pop("persistence_location") == ["persistence"]
    assert local_global == run_global
    assert [s["listener"] for s in local_listeners] == [["0 mqtt.sock"], ["1883 127.0.0.1"]]
    assert [s["listener"] for s in run_listeners] == [
        [f"0 {broker.directory}/mqtt.sock"],
        [f"{broker.config.tcp_port} 127.0.0.1"],
    ]


def test_tls_listener_config_is_rendered_as_given(tmp_path: Path) -> None:
    tls = TlsListener(tmp_path / "ca.crt", tmp_path / "s.crt", tmp_path / "s.key", port=8883)
    text = render(BrokerConfig(unix_socket=None, tcp_port=None, tls=tls, persistence_location=None))
    assert re.search(r"^listener 8883 127\.0\.0\.1\ncafile .*ca\.crt$", text, re.M)
    assert "persistence false\n" in text
