"""Central's and the nodes' files, set up the way an installer would.

- ``CentralSite``: a central.toml, ``hallvakt central init`` (its signing key,
  the ``[central_keys]`` block for nodes), the admin CLI (``admin(...)``), and
  the gateway ``hallvakt central --config FILE`` as a ``Daemon``; plus
  read-only queries on its SQLite store (events, ``through``, security log).
- ``NodeSite``: a node.toml, ``hallvakt provision`` (public key and kid for
  ``register-node``), and ``hallvakt sync --config FILE --trust-clock`` as a
  ``Daemon``.
- ``demo_system``: central with the demo facility and every node provisioned
  and registered, nothing started.

Config values are written as JSON strings (valid TOML basic strings), so any
path or id round-trips. Nothing here writes central's store: its connection is
for SELECTs only and is closed by ``CentralSite.stop()``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hallvakt.demo.data import FACILITY_ID
from sync.central.testing import replica_records
from sync.replica import (
    Replica,
    last_command_seq,
    pending_commands,
    quarantine_count,
    walkin_states,
)
from tests.support.broker import PrivateBroker

from .processes import Daemon, hallvakt_argv, run_cli, wait_for

SHARED_UP = "$share/central/hallvakt/v1/+/up/#"
FACILITY = FACILITY_ID  # the demo facility `hallvakt central demo-seed` loads
# The broker's log types for these tests: the defaults plus "subscribe", so that
# CentralSite.start can wait for the gateway's shared subscription.
BROKER_LOG_TYPES = ("error", "warning", "notice", "information", "subscribe")


def toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


@dataclass(frozen=True, slots=True)
class BrokerAccess:
    """A ``[broker]`` table: a URL and, for ``mqtts://``, the TLS files."""

    url: str
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def unix(cls, broker: PrivateBroker) -> BrokerAccess:
        assert broker.unix_socket is not None, "the broker has no unix socket"
        return cls(f"unix://{broker.unix_socket}")

    def toml(self) -> str:
        lines = [f"url = {toml_str(self.url)}"]
        for name, path in (("ca", self.ca), ("cert", self.cert), ("key", self.key)):
            if path is not None:
                lines.append(f"{name} = {toml_str(path)}")
        return "\n".join(lines) + "\n"


class CentralSite:
    """Central's files, admin CLI and gateway process in ``root`` (module docstring)."""

    def __init__(
        self, root: Path, broker: BrokerAccess, *, kid: str = "central-e2e", client_id: str = ""
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.kid = root, kid
        self.client_id = client_id or "central-1"
        self.config = root / "central.toml"
        self.store = root / "central.db"
        self.key_file = root / "central.key"
        self.config.write_text(
            f"store = {toml_str(self.store)}\n"
            f"[signing]\nkey = {toml_str(self.key_file)}\nkid = {toml_str(kid)}\n"
            f"[broker]\n{broker.toml()}client_id = {toml_str(self.client_id)}\n",
            encoding="utf-8",
        )
        self.central_keys: dict[str, str] = {}
        self.gateway = Daemon(
            "central gateway",
            [*hallvakt_argv(), "central", "--config", str(self.config)],
            root / "gateway.log",
            root,
        )
        self._db: sqlite3.Connection | None = None

    def init(self) -> dict[str, str]:
        """``hallvakt central init``: the store, the signing key, and the
        ``[central_keys]`` block it prints (kid -> key) for node configs."""
        out = run_cli("central", "init", "--config", str(self.config), cwd=self.root)
        self.central_keys = dict(tomllib.loads(out)["central_keys"])
        return self.central_keys

    def admin(self, action: str, *args: str) -> str:
        """``hallvakt central ACTION --config FILE ARGS``; its stdout."""
        return run_cli("central", action, "--config", str(self.config), *args, cwd=self.root)

    def register(self, node: NodeSite) -> None:
        self.admin(
            "register-node",
            *("--node", node.node_id, "--facility", node.facility),
            # "=": a base64url key may begin with "-", which argparse takes for an option
            f"--public-key={node.public_key}",
            *("--kid", node.kid),
        )

    # --- the gateway --------------------------------------------------------------

    def subscriptions(self, broker: PrivateBroker) -> int:
        """How often the broker logged this gateway's shared subscription (its
        log needs log_type ``subscribe``)."""
        return broker.log_text().count(f"{self.client_id} 1 {SHARED_UP}")

    def start(self, broker: PrivateBroker | None = None) -> None:
        """Start the gateway; with ``broker``, return once it has subscribed."""
        before = 0 if broker is None else self.subscriptions(broker)
        self.gateway.start()
        if broker is not None:
            self.wait_subscribed(broker, before)

    def wait_subscribed(self, broker: PrivateBroker, before: int) -> None:
        wait_for(
            lambda: self.subscriptions(broker) > before,
            "central's shared subscription",
            alive=[self.gateway],
        )

    def stop(self) -> None:
        self.gateway.stop()
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- its store, read-only -----------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        """A plain connection to central's store, used for SELECTs only."""
        if self._db is None:
            self._db = sqlite3.connect(self.store, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
        return self._db

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.db.execute(sql, params).fetchall()]

    def event_count(self, node: str) -> int:
        return int(self.query("SELECT count(*) FROM events WHERE node = ?", node)[0][0])

    def events(self, node: str) -> dict[tuple[int, int], tuple[str | None, str | None]]:
        """Central's event store for ``node``: (epoch, seq) -> (id, clash_id)."""
        rows = self.query("SELECT epoch, seq, id, clash_id FROM events WHERE node = ?", node)
        return {(int(e), int(s)): (i, c) for e, s, i, c in rows}

    def through(self, node: str, epoch: int) -> int:
        rows = self.query(
            "SELECT through FROM event_streams WHERE node = ? AND epoch = ?", node, str(epoch)
        )
        return int(rows[0][0]) if rows else 0

    def rejected_events(self, node: str) -> list[dict[str, Any]]:
        """Bodies of the node's ``security.rejected`` events central stored, by seq."""
        rows = self.query(
            "SELECT body FROM events WHERE node = ? AND type = 'security.rejected' ORDER BY seq",
            node,
        )
        return [json.loads(b) for (b,) in rows]

    def security_log(self) -> list[tuple[str | None, str, str, str]]:
        """Central's own drops: (node, reason, topic, detail), oldest first."""
        return [
            (n, r, t, d)
            for n, r, t, d in self.query(
                "SELECT node, reason, topic, detail FROM security_log ORDER BY id"
            )
        ]

    def quarantine(self) -> list[tuple[str, str]]:
        return [(r, d) for r, d in self.query("SELECT reason, detail FROM quarantine ORDER BY id")]

    def fingerprint(self, node: str) -> dict[str, Any]:
        """What a dropped message must not change for ``node``: its events and
        ``through``, what central knows of it, the facility revisions."""
        return {
            "events": self.events(node),
            "streams": self.query("SELECT * FROM event_streams WHERE node = ?", node),
            "node_state": self.query("SELECT * FROM node_state WHERE node = ?", node),
            "marks": self.query("SELECT * FROM node_marks WHERE node = ?", node),
            "revs": self.query("SELECT * FROM facility_revs"),
        }

    def revs(self, facility: str) -> tuple[int, int]:
        """(rev, oldest_rev) of a facility."""
        rows = self.query("SELECT rev, oldest_rev FROM facility_revs WHERE facility = ?", facility)
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)


class NodeSite:
    """A node's node.toml, provisioned secrets, database and ``hallvakt sync``."""

    def __init__(
        self,
        root: Path,
        node_id: str,
        facility: str,
        broker: BrokerAccess,
        central_keys: Mapping[str, str],
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.node_id, self.facility = root, node_id, facility
        self.config = root / "node.toml"
        self.database = root / "node.db"
        keys = "".join(f"{toml_str(k)} = {toml_str(v)}\n" for k, v in central_keys.items())
        self.config.write_text(
            f"node_id = {toml_str(node_id)}\nfacility_id = {toml_str(facility)}\n"
            f"database = {toml_str(self.database)}\n"
            f"[broker]\n{broker.toml()}keepalive_s = 10\n"
            f"[central_keys]\n{keys}",
            encoding="utf-8",
        )
        self.public_key = self.kid = ""
        self.link = Daemon(
            f"hallvakt sync ({node_id})",
            [*hallvakt_argv(), "sync", "--config", str(self.config), "--trust-clock"],
            root / "sync.log",
            root,
        )

    def provision(self) -> None:
        """``hallvakt provision``: keys written, public key and kid read from the
        registration block it prints."""
        out = run_cli("provision", "--config", str(self.config), cwd=self.root)
        found = dict(re.findall(r'^(public_key|kid) = "([^"]+)"', out, re.MULTILINE))
        self.public_key, self.kid = found["public_key"], found["kid"]

    def replica(self) -> Replica:
        return Replica.open(self.database)

    def connects(self) -> int:
        """Connections the link logged (CONNACKs), over all its starts."""
        return self.link.log_text().count("connected (session present")

    def fingerprint(self, rep: Replica) -> dict[str, Any]:
        """The node's state that a dropped message must not change: every replica
        record, the revisions and head, commands taken, walk-ins, quarantine."""
        st = rep.state()
        return {
            "records": replica_records(rep),
            "revs": (st.applied_rev, st.head_rev, st.head_oldest_rev),
            "last_command_seq": last_command_seq(rep),
            "commands": [(c.seq, c.cmd, c.args) for c in pending_commands(rep)],
            "walkins": walkin_states(rep),
            "quarantined": quarantine_count(rep),
        }

    def status(self) -> dict[str, Any]:
        """The link's status file (docs/sync.md), {} before the first write."""
        try:
            data: dict[str, Any] = json.loads(
                (self.database.parent / "run" / "sync-status.json").read_text("utf-8")
            )
        except (OSError, ValueError):
            return {}
        return data


def demo_system(
    root: Path, central: BrokerAccess, nodes: Mapping[str, BrokerAccess]
) -> tuple[CentralSite, list[NodeSite]]:
    """Central initialised with the demo facility (walk-in windows and leases
    for the first node), every node provisioned and registered; nothing started."""
    site = CentralSite(root / "central", central)
    site.init()
    made = []
    for i, (node_id, access) in enumerate(nodes.items()):
        node = NodeSite(root / f"node{i}", node_id, FACILITY, access, site.central_keys)
        node.provision()
        site.register(node)
        made.append(node)
    site.admin("demo-seed", "--node", made[0].node_id)
    return site, made


@contextlib.contextmanager
def one_node_system(
    broker: PrivateBroker, root: Path, node_id: str
) -> Iterator[tuple[CentralSite, NodeSite]]:
    """``demo_system`` with one node, both on ``broker``'s unix socket; the
    node's link and central are stopped on leaving (if they were started)."""
    access = BrokerAccess.unix(broker)
    central, (node,) = demo_system(root, access, {node_id: access})
    try:
        yield central, node
    finally:
        node.link.stop()
        central.stop()


def first_sync(broker: PrivateBroker, central: CentralSite, node: NodeSite) -> list[Daemon]:
    """Central and the node's link started on ``broker``, and the node at
    central's rev (its first snapshot); the two processes, to watch."""
    alive = [central.gateway, node.link]
    central.start(broker)
    node.link.start()
    with node.replica() as rep:
        wait_for(  # central's rev, read each time: its first lease renewal may move it
            lambda: rep.state().applied_rev == central.revs(FACILITY)[0],
            "the node's first snapshot",
            alive=alive,
        )
    return alive
