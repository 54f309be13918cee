"""``hallvakt central ...``: run the reference gateway, and administer its store.

The arguments are parsed by the ``hallvakt`` command's one argparse tree
(hallvakt/cli.py), which calls ``serve`` or ``run_action``; the demo's own
action, ``demo-seed``, lives with the demo (hallvakt/demo/seed.py).

This is the I/O edge: it reads the clock, the config and files, and prints.
Exit status 0 is success, 1 a problem printed on stderr, 2 a usage error,
78 an invalid config (as the node's daemons). Actions (docs/central.md):

- ``hallvakt central --config FILE``: run the gateway until SIGTERM or SIGINT.
- ``init``: create the store and the signing key (0600, kept if present);
  print the ``[central_keys]`` block for node configs.
- ``register-node --node ID --facility F --public-key B64URL [--kid K]``.
- ``revoke-node --node ID``: every key of the node goes; its messages are
  refused and logged (``nodes.revoke_node``).
- ``replace-key --node ID --public-key B64URL [--kid K]``: the new key
  replaces every old one (``nodes.replace_key``).
- ``import --facility F FILE.json|FILE.csv``: records (one revision per
  ~96 KiB of ops, in one transaction), deletes and walk-in windows.
- ``book --facility F --resource R --start T --end T --title T [--holder H]``.
- ``command --node ID --cmd unlock|lockdown|release|resync|message ...``.
- ``status``: facilities, nodes and their lag, events, dropped messages.
- ``web``, ``web-user``: the web page and its accounts (sync/central/web/cli.py).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from cryptography import x509

from firmware_config.filecheck import certificate_cn as cert_cn
from firmware_config.schema import ConfigError
from firmware_config.secrets import SecretError, encode_node_key, load_node_key, write_secret
from sync.protocol import Cmd
from sync.protocol.records import Booking, RecordError
from sync.protocol.timeutil import age_s, format_instant, to_ts

from . import changelog as cl
from . import events as ev
from . import leases, nodes
from .config import CentralConfig, load_central_config
from .db import Store, StoreError
from .evidence import ledger
from .feed import BUDGET, Signer
from .gateway import Central, Settings
from .importer import ImportFailed, parse_csv, parse_json, parse_time
from .link import BrokerSettings, Link
from .reports import command as report_command
from .web import cli as web_cli

EX_CONFIG = 78


class Failed(Exception):
    """A problem to print (without a traceback) before exiting with status 1."""


# --- shared helpers ---------------------------------------------------------------


def load_signer(cfg: CentralConfig) -> Signer:
    """Central's signing key from the config's file; raises ``Failed``."""
    try:
        return Signer(cfg.signing.kid, load_node_key(cfg.signing.key))
    except SecretError as exc:
        raise Failed(f"signing key: {exc} (run `hallvakt central init`)") from None


def open_store(cfg: CentralConfig) -> Store:
    """The config's store, which ``init`` made; raises ``StoreError`` if it has not."""
    return Store.open(cfg.store.url, create=False)


def settings(cfg: CentralConfig) -> Settings:
    return Settings(
        changelog_keep_days=cfg.retention.changelog_days,
        changelog_keep_revs=cfg.retention.changelog_revs,
        dropped_keep_days=cfg.retention.dropped_days,
        horizon_days=cfg.leases.horizon_days,
        renew_every_s=cfg.leases.renew_every_s,
        evidence=cfg.evidence_settings,
    )


def certificate_cn(path: Path) -> str | None:
    """The CN of the first certificate in the PEM file ``path`` (None if it has
    none); raises ``Failed`` if the file holds no readable certificate."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise Failed(f"{path}: not a readable PEM certificate ({exc})") from None
    return cert_cn(cert)


def broker_settings(cfg: CentralConfig) -> BrokerSettings:
    """The link's settings from the config's ``[broker]``. Raises ``Failed`` if
    a TLS file is missing, or if the certificate's CN is not ``client_id``: the
    production broker names the session after the CN
    (``use_username_as_clientid``, deploy/mosquitto/README.md), so a gateway
    whose CN differs from its config would not be the gateway its config,
    logs and ACL entry say it is (and two gateways sharing a certificate would
    knock each other off the broker)."""
    b = cfg.broker
    for what, path in (("ca", b.ca), ("cert", b.cert), ("key", b.key)):
        if path is not None and not path.is_file():
            raise Failed(f"broker.{what}: {path} does not exist")
    if b.cert is not None:
        cn = certificate_cn(b.cert)
        if cn != b.client_id:
            raise Failed(
                f"broker.cert: {b.cert} has CN {cn!r}, but broker.client_id is {b.client_id!r}:"
                " each gateway's certificate CN is its client id (deploy/mosquitto/README.md)"
            )
    return BrokerSettings(
        b.url.scheme,
        b.url.host,
        b.url.port,
        b.url.path,
        b.ca,
        b.cert,
        b.key,
        b.client_id,
        b.keepalive_s,
        b.session_expiry_s,
        leave_shared_on_stop=b.leave_shared_on_stop,
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- actions ----------------------------------------------------------------------


def run_gateway(cfg: CentralConfig, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (by SIGTERM/SIGINT when run from the command line)."""
    signer = load_signer(cfg)
    link_settings = broker_settings(cfg)
    stop = stop or threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    with open_store(cfg) as store:
        central = Central(store, signer, settings(cfg))
        logging.getLogger("hallvakt.central").info(
            "gateway %s on %s, store %s", link_settings.client_id, cfg.broker.url, cfg.store
        )
        Link(central, link_settings).run(stop)
    return 0


def run_init(cfg: CentralConfig, args: argparse.Namespace) -> int:
    if cfg.store.path is not None:
        cfg.store.path.parent.mkdir(parents=True, exist_ok=True)
    with Store.open(cfg.store.url) as store:
        made = ledger.catch_up(store)  # bookings stored before evidence existed
    if made:
        print(f"evidence  {made} bookings stored before evidence was kept", file=sys.stderr)
    path = cfg.signing.key
    if path.exists():
        key = load_signer(cfg).key
        print(f"kept      signing key  {path}", file=sys.stderr)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
        write_secret(path, encode_node_key(key))
        print(f"written   signing key  {path}", file=sys.stderr)
    print(f"ready     store        {cfg.store}", file=sys.stderr)
    raw = key.public_key().public_bytes_raw()
    print("# Central's signing key (PROTOCOL.md §4): pin it in every node's node.toml")
    print("[central_keys]")
    print(f'"{cfg.signing.kid}" = "{nodes.b64url(raw)}"')
    return 0


def run_register(cfg: CentralConfig, args: argparse.Namespace) -> int:
    raw = nodes.parse_public_key(args.public_key)
    with open_store(cfg) as store:
        kid = nodes.register_node(store, args.node, args.facility, raw, args.kid, _now())
    print(f"node {args.node} registered for facility {args.facility}, key {kid}")
    return 0


def run_revoke(cfg: CentralConfig, args: argparse.Namespace) -> int:
    with open_store(cfg) as store:
        gone = nodes.revoke_node(store, args.node, _now())
    print(
        f"node {args.node} revoked ({gone} keys removed): its messages are refused and logged."
        " At the broker, revoke its certificate (docs/central.md, Revoking a node)"
    )
    return 0


def run_replace_key(cfg: CentralConfig, args: argparse.Namespace) -> int:
    raw = nodes.parse_public_key(args.public_key)
    with open_store(cfg) as store:
        kid = nodes.replace_key(store, args.node, raw, args.kid, _now())
    print(f"node {args.node} now trusted with key {kid} only; its old keys are refused")
    return 0


def run_import(cfg: CentralConfig, args: argparse.Namespace) -> int:
    file: Path = args.file
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Failed(f"{file}: cannot be read: {exc}") from None
    now = _now()
    with open_store(cfg) as store:
        if file.suffix.lower() == ".csv":
            data = parse_csv(text, str(file), leases.facility_tz_name(store, args.facility))
        elif file.suffix.lower() == ".json":
            data = parse_json(text, str(file))
        else:
            raise Failed(f"{file}: an import file is .json or .csv")
        with store.write():
            store.lock("facility", args.facility)
            before = cl.revs(store, args.facility).rev
            problems = [
                f"{op.id}: {p}"
                for op in data.ops
                if isinstance(op.record, Booking)
                and op.record.active
                and op.record.origin == "central"
                for p in leases.booking_problems(store, args.facility, op.record, leases_only=True)
            ]
            if problems:
                raise Failed("bookings inside walk-in leases:\n  " + "\n  ".join(problems))
            rev = cl.mutate_chunked(store, args.facility, data.ops, now, BUDGET)
            for w in data.windows:
                leases.set_walkin_windows(store, args.facility, w.resource, w.node, w.windows)
        renewed = leases.renew_leases(store, now).get(args.facility) if data.windows else None
    print(
        f"{file}: {len(data.ops)} records, {len(data.windows)} walk-in window settings;"
        f" facility {args.facility} rev {before} -> {renewed or rev}"
    )
    return 0


def run_book(cfg: CentralConfig, args: argparse.Namespace) -> int:
    with open_store(cfg) as store:
        tz = leases.facility_tz_name(store, args.facility)
        try:
            wire = {
                "id": args.id or f"c-{uuid.uuid4().hex[:16]}",
                "resources": [args.resource],
                "start": format_instant(parse_time(args.start, tz)),
                "end": format_instant(parse_time(args.end, tz)),
                "holder": args.holder,
                "title": args.title,
            }
            booking = Booking.from_wire(wire)
        except (RecordError, ValueError) as exc:
            raise Failed(f"booking: {exc}") from None
        try:
            rev = leases.book(store, args.facility, booking, _now())
        except leases.BookingRefused as exc:
            raise Failed(f"booking refused: {exc}") from None
    print(f"booked {booking.id} on {args.resource} {wire['start']}..{wire['end']}: rev {rev}")
    return 0


def run_command(cfg: CentralConfig, args: argparse.Namespace) -> int:
    cmd_args = {
        "door": args.door, "seconds": args.seconds, "text": args.text, "audience": args.audience,
    }  # fmt: skip
    with open_store(cfg) as store:
        q = nodes.queue_command(store, args.node, Cmd(args.cmd), cmd_args, _now())
    print(
        f"command {q.cmd} for {q.node} queued as seq {q.seq}; a gateway sends it within 5 minutes"
    )
    return 0


def run_status(cfg: CentralConfig, args: argparse.Namespace) -> int:
    now = to_ts(_now())
    with open_store(cfg) as store, store.read():
        facs = cl.facilities(store)
        print("facility                         rev  oldest_rev")
        for f, r in facs.items():
            print(f"{f:<30} {r.rev:>5} {r.oldest_rev:>11}")
        counts = ev.counts(store)
        rows = store.execute(
            "SELECT n.node, n.facility, s.applied_rev, s.hello_ts, s.status_state, s.epoch"
            " FROM nodes n JOIN node_state s ON s.node = n.node ORDER BY n.node"
        ).fetchall()
        print(
            "\nnode                           facility             applied  lag  hello     status"
            "   events  through"
        )
        for node, fac, applied, hello, state, epoch in rows:
            lag = facs[fac].rev - applied if fac in facs else 0
            seen = "never" if hello is None else age_s(now - hello)
            thr = ev.through(store, node, int(epoch)) if epoch is not None else 0
            print(
                f"{node:<30} {fac:<20} {applied:>7} {lag:>4}  {seen:<9} {state or '-':<8}"
                f" {counts.get(node, 0):>6} {thr:>8}"
            )
        sec = store.execute(
            "SELECT count(*), count(*) FILTER (WHERE at_ts >= ?) FROM security_log",
            [now - 86_400],
        ).rows[0]
        quarantined = store.execute("SELECT count(*) FROM quarantine").scalar()
        print(
            f"\nsecurity rejections: {sec[0]} ({sec[1]} in the last 24 h);"
            f" quarantined: {quarantined}"
        )
        for at, topic, reason, detail in store.execute(
            "SELECT at_ts, topic, reason, detail FROM security_log ORDER BY id DESC LIMIT 5"
        ):
            print(f"  {age_s(now - at)} ago  {reason:<14} {topic}  {detail[:80]}")
    return 0


# --- running an action -------------------------------------------------------------

Action = Callable[[CentralConfig, argparse.Namespace], int]

ACTIONS: dict[str, Action] = {
    "init": run_init,
    "register-node": run_register,
    "revoke-node": run_revoke,
    "replace-key": run_replace_key,
    "import": run_import,
    "book": run_book,
    "command": run_command,
    "status": run_status,
    "report": report_command.run_report,
    "web": web_cli.run_web,
    "web-user": web_cli.run_web_user,
}


def serve(config: Path | None) -> int:
    """``hallvakt central --config FILE``: run the gateway (module docstring)."""
    if config is None:
        print("hallvakt central: --config FILE is required (or an ACTION)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return _run(run_gateway, config)


def run_action(action: Action, args: argparse.Namespace) -> int:
    """``hallvakt central ACTION --config FILE ...``: ``action`` on the store of
    ``args.config``, with the exit statuses of the module docstring."""
    config: Path | None = args.config
    if config is None:
        print("hallvakt central: --config FILE is required", file=sys.stderr)
        return 2
    return _run(lambda cfg: action(cfg, args), config)


def _run(work: Callable[[CentralConfig], int], config: Path) -> int:
    try:
        cfg = load_central_config(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    try:
        return work(cfg)
    except (Failed, StoreError, ImportFailed, OSError) as exc:  # ReportError is a StoreError
        print(f"hallvakt central: {exc}", file=sys.stderr)
        return 1


__all__ = ["ACTIONS", "Action", "Failed", "open_store", "run_action", "run_gateway", "serve"]
