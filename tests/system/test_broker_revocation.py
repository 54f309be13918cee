"""The broker's side of revoking a node: a certificate revocation list (docs/central.md,
"Revoking a node"; deploy/mosquitto/README.md, "Revoking a node's certificate").

The broker identity is the client certificate: its CN is the MQTT user name
and client id, and the ACL gives each CN its own topics. So the broker keeps
a revoked node out only by refusing its certificate. These tests run a real
Mosquitto with production's TLS listener and ACL, and the client CA's CRL
(made with ``cryptography``, tests/support/tls.py) as its ``crlfile``:

- a node whose certificate is on the CRL gets no CONNACK once Mosquitto has
  been restarted with it (the CRL is read when the listener starts), while
  other nodes and the gateways connect as before; the revoked node was
  connected before and is dropped by the restart for good;
- a CRL past its ``nextUpdate`` makes Mosquitto refuse every certificate of
  that CA, which is why the README says to keep it current.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.broker import PrivateBroker, TlsListener
from tests.support.tls import TestCA

Mqtt = Callable[..., Any]  # conftest's ``mqtt``: returns a connected Peer
Identity = Callable[..., Any]  # conftest's ``identity``: returns a ClientTls
ACL_FILE = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "hallvakt.acl"


def crl_broker(make_broker: Callable[..., PrivateBroker], test_ca: TestCA) -> PrivateBroker:
    """Production's TLS listener and ACL, with the CA's CRL (``clients.crl``, empty)."""
    server = test_ca.server()
    return make_broker(
        tcp_port=None,
        tls=TlsListener(
            cafile=test_ca.cert_path,
            certfile=server.cert,
            keyfile=server.key,
            crlfile=test_ca.crl([]),
        ),
        allow_anonymous=False,
        acl_file=ACL_FILE,
    )


def test_a_revoked_node_certificate_is_refused_and_the_others_still_connect(
    make_broker: Callable[..., PrivateBroker], test_ca: TestCA, identity: Identity, mqtt: Mqtt
) -> None:
    node_a, node_b, central = identity("node-a"), identity("node-b"), identity("central-1")
    broker = crl_broker(make_broker, test_ca)
    address = broker.tls_address
    before = mqtt("node-b", address, tls=node_b, reconnect=False)  # not revoked yet
    assert before.subscribe("hallvakt/v1/node-b/dn/#") == [1]
    test_ca.crl([node_b.cert])  # the CA revokes node-b: the same file, now naming it
    broker.restart()  # the CRL is read when the listener starts
    before.wait_closed()  # the restart dropped it (raises if it did not)
    again = mqtt("node-b", address, tls=node_b, connect=False, reconnect=False)
    assert again.wait_connack() is None  # the handshake fails: no CONNACK
    # the others connect (mqtt() asserts CONNACK 0) and work as before
    a = mqtt("node-a", address, tls=node_a, reconnect=False)
    assert a.subscribe("hallvakt/v1/node-a/dn/#") == [1]
    gw = mqtt("central-1", address, tls=central, reconnect=False)
    assert gw.publish("hallvakt/v1/node-a/dn/head", b"head") == 0
    assert a.expect_message()[:2] == ("hallvakt/v1/node-a/dn/head", b"head")


def test_a_crl_past_its_next_update_refuses_every_certificate_of_the_ca(
    make_broker: Callable[..., PrivateBroker], test_ca: TestCA, identity: Identity, mqtt: Mqtt
) -> None:
    node_a, node_b = identity("node-a"), identity("node-b")
    broker = crl_broker(make_broker, test_ca)
    address = broker.tls_address
    mqtt("node-a", address, tls=node_a, reconnect=False)  # accepted with a current CRL
    test_ca.crl([node_b.cert], expired=True)
    broker.restart()
    for name, tls in (("node-a", node_a), ("node-b", node_b)):
        peer = mqtt(name, address, tls=tls, connect=False, reconnect=False)
        assert peer.wait_connack() is None, name
