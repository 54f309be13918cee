"""The broker at fleet scale: the clustered brokers' ACL files (deploy/broker-cluster/).

Neither EMQX nor VerneMQ can be installed on this machine (no Debian package;
their own package repositories are out of reach), so what can be tested is:
- VerneMQ's ``vmq_acl`` reads Mosquitto's ACL format: its file holds the
  rules of deploy/mosquitto/hallvakt.acl, and run by a real Mosquitto with
  production's TLS listener it gives nodes and gateways the same rights.
- EMQX's file authorizer reads Erlang terms: the file is read here and its
  rules evaluated as EMQX documents them (first match decides, ``${username}``
  is the user name, ``{deny, all}`` last) on the cases the Mosquitto ACL is
  tested with; both must decide alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import PrivateBroker, TlsListener
from tests.support.tls import TestCA

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
VMQ_ACL = DEPLOY / "broker-cluster" / "vernemq" / "vmq.acl"
EMQX_ACL = DEPLOY / "broker-cluster" / "emqx" / "acl.conf"
MOSQUITTO_ACL = DEPLOY / "mosquitto" / "hallvakt.acl"
A, B = "malmo.hall.n1", "malmo.hall.n2"
NOT_AUTHORIZED = 0x87


def rules(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and ln[0] != "#"]


def test_the_vernemq_acl_has_the_mosquitto_rules() -> None:
    assert rules(VMQ_ACL) == rules(MOSQUITTO_ACL)


@pytest.fixture
def vmq_broker(make_broker: Callable[..., PrivateBroker], test_ca: TestCA) -> PrivateBroker:
    server = test_ca.server()
    return make_broker(
        tcp_port=None,
        tls=TlsListener(cafile=test_ca.cert_path, certfile=server.cert, keyfile=server.key),
        allow_anonymous=False,
        acl_file=VMQ_ACL,
    )


def test_the_vernemq_acl_run_by_mosquitto_keeps_nodes_apart(
    vmq_broker: PrivateBroker, identity: Callable[..., Any], mqtt: Callable[..., Any]
) -> None:
    addr = vmq_broker.tls_address
    a = mqtt(A, addr, tls=identity(A))
    b = mqtt(B, addr, tls=identity(B))
    gw = mqtt("central-1", addr, tls=identity("central-1"))
    assert gw.subscribe("$share/central/hallvakt/v1/+/up/#") == [1]
    assert a.subscribe(f"hallvakt/v1/{A}/dn/#") == [1]
    assert b.subscribe(f"hallvakt/v1/{A}/dn/#") == [1]  # granted, filtered on delivery
    assert a.publish(f"hallvakt/v1/{B}/up/evt", b"forged") == NOT_AUTHORIZED
    assert a.publish(f"hallvakt/v1/{A}/dn/cmd", b"self-command") == NOT_AUTHORIZED
    assert a.publish(f"hallvakt/v1/{A}/up/evt", b"mine") == 0
    got = gw.expect_message()
    assert (got.topic, got.payload) == (f"hallvakt/v1/{A}/up/evt", b"mine")
    assert gw.publish(f"hallvakt/v1/{A}/dn/ack", b"for a") == 0
    assert a.expect_message().payload == b"for a"
    # b reads nothing of a's: the next message it gets is its own
    assert b.subscribe(f"hallvakt/v1/{B}/dn/#") == [1]
    assert gw.publish(f"hallvakt/v1/{B}/dn/ack", b"for b") == 0
    assert b.expect_message().payload == b"for b"


# --- EMQX's acl.conf, read as EMQX reads it ------------------------------------------

_RULE = re.compile(r"\{(allow|deny),\s*(.+?)\}\.\s*$", re.S)


def emqx_rules(text: str) -> list[tuple[str, str | None, str | None, list[str]]]:
    """(permission, user name or None for all, action or None for any, topics)."""
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("%%"))
    out = []
    for term in [t.strip() for t in body.split("}.\n") if t.strip()]:
        m = _RULE.match(term if term.endswith("}.") else term + "}.")
        assert m, f"not a rule: {term!r}"
        perm, rest = m.group(1), m.group(2)
        if rest.strip() == "all":
            out.append((perm, None, None, ["#"]))
            continue
        who = re.match(
            r'(all|\{username, "([^"]+)"\}),\s*(publish|subscribe|all),\s*\[(.*)\]', rest
        )
        assert who, f"a rule this test does not read: {term!r}"
        topics = re.findall(r'"([^"]+)"', who.group(4))
        out.append((perm, who.group(2), who.group(3), topics))
    return out


def _covers(rule: str, topic: str) -> bool:
    r, t = rule.split("/"), topic.split("/")
    for i, level in enumerate(r):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(r) == len(t)


def emqx_allows(text: str, user: str, action: str, topic: str) -> bool:
    if action == "subscribe" and topic.startswith("$share/"):
        topic = topic.split("/", 2)[2]  # EMQX authorizes a shared subscription's topic
    for perm, who, act, topics in emqx_rules(text):
        if who is not None and who != user:
            continue
        if act not in (None, "all", action):
            continue
        if any(_covers(t.replace("${username}", user), topic) for t in topics):
            return perm == "allow"
    return False


# (user, action, topic, allowed) as the Mosquitto ACL decides (tests/system/test_broker.py)
CASES = [
    (A, "publish", f"hallvakt/v1/{A}/up/evt", True),
    (A, "publish", f"hallvakt/v1/{A}/status", True),
    (A, "publish", f"hallvakt/v1/{B}/up/evt", False),
    (A, "publish", f"hallvakt/v1/{A}/dn/cmd", False),
    (A, "subscribe", f"hallvakt/v1/{A}/dn/#", True),
    (A, "subscribe", f"hallvakt/v1/{B}/dn/#", False),
    (A, "subscribe", "hallvakt/v1/+/up/#", False),
    ("central-1", "publish", f"hallvakt/v1/{A}/dn/chg", True),
    ("central-2", "publish", f"hallvakt/v1/{B}/dn/head", True),
    ("central-1", "subscribe", "$share/central/hallvakt/v1/+/up/#", True),
    ("central-1", "subscribe", "hallvakt/v1/+/status", True),
    ("central-1", "publish", "hallvakt/v1/central-1/up/evt", True),  # its own name, as a node's
    ("central-9", "publish", f"hallvakt/v1/{A}/dn/chg", False),  # not in the ACL
    (A, "publish", "$SYS/anything", False),
]


@pytest.mark.parametrize(("user", "action", "topic", "allowed"), CASES)
def test_the_emqx_acl_decides_like_the_mosquitto_acl(
    user: str, action: str, topic: str, allowed: bool
) -> None:
    assert emqx_allows(EMQX_ACL.read_text(), user, action, topic) is allowed


def test_the_emqx_acl_names_the_gateways_of_the_mosquitto_acl() -> None:
    mosquitto = set(re.findall(r"^user (\S+)$", MOSQUITTO_ACL.read_text(), re.M))
    emqx = {who for _, who, _, _ in emqx_rules(EMQX_ACL.read_text()) if who}
    assert emqx == mosquitto == {"central-1", "central-2"}
