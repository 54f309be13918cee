"""``hallvakt central ...``: run the reference gateway, and administer its store.

This is the I/O edge: it reads the clock, the config and files, and prints.
Exit status 0 is success, 1 a problem printed on stderr, 2 a usage error,
78 an invalid config (as the node's daemons). Actions (docs/central.md):

- ``hallvakt central --config FILE``: run the gateway until SIGTERM or SIGINT.
- ``init``: create the store and the signing key (0600, kept if present);
  print the ``[central_keys]`` block for node configs.
- ``register-node --node ID --facility F --public-key B64URL [--kid K]``.
- ``import --facility F FILE.json|FILE.csv``: records (one revision per
  ~96 KiB of ops, in one transaction), deletes and walk-in windows.
- ``book --facility F --resource R --start T --end T --title T [--holder H]``.
- ``command --node ID --cmd unlock|lockdown|release|resync|message ...``.
- ``demo-seed --node ID``: the demo facility of sync.demodata for today, with
  walk-in windows for that node, and leases for them.
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
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType

from cryptography import x509

from firmware_config.filecheck import certificate_cn as cert_cn
from firmware_config.schema import ConfigError
from firmware_config.secrets import SecretError, encode_node_key, load_node_key, write_secret
from firmware_config.status import age_s
from sync.protocol import Cmd
from sync.replica.records import Booking, RecordError
from sync.replica.timeutil import format_instant, to_ts, zone

from . import changelog as cl
from . import events as ev
from . import leases, nodes
from .config import CentralConfig, load_central_config
from .db import Store, StoreError
from .feed import BUDGET, Signer
from .gateway import Central, Settings
from .importer import ImportFailed, parse_csv, parse_json, parse_time
from .link import BrokerSettings, Link
from .web import cli as web_cli

EX_CONFIG = 78
ACTIONS = (
    "init",
    "register-node",
    "import",
    "book",
    "command",
    "demo-seed",
    "status",
    "web",
    "web-user",
)


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
    Store.open(cfg.store.url).close()
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
    cmd_args = {"door": args.door, "seconds": args.seconds, "text": args.text}
    with open_store(cfg) as store:
        q = nodes.queue_command(store, args.node, Cmd(args.cmd), cmd_args, _now())
    print(
        f"command {q.cmd} for {q.node} queued as seq {q.seq}; a gateway sends it within 5 minutes"
    )
    return 0


# Walk-in windows of the demo: the main hall's "lease" zones (sync/demodata.py).
DEMO_WINDOWS = (
    leases.Window((1, 2, 3, 4, 5), 9 * 60, 16 * 60),
    leases.Window((6, 7), 13 * 60, 17 * 60),
)
DEMO_SECTIONS = ("hall.a", "hall.b", "hall.c")


def run_demo_seed(cfg: CentralConfig, args: argparse.Namespace) -> int:
    from sync.demodata import FACILITY_ID, generate

    now = _now()
    tz = "Europe/Stockholm"
    today: date = args.date or now.astimezone(zone(tz)).date()
    entities = generate(seed=args.seed, today=today, tz=tz)
    ops = [cl.upsert_wire(e, d) for e, items in entities.items() if e != "lease" for d in items]
    with open_store(cfg) as store:
        with store.write():
            store.lock("facility", FACILITY_ID)
            rev = cl.mutate_chunked(store, FACILITY_ID, ops, now, BUDGET)
            for section in DEMO_SECTIONS:
                leases.set_walkin_windows(store, FACILITY_ID, section, args.node, DEMO_WINDOWS)
        rev = leases.renew_leases(store, now).get(FACILITY_ID, rev)
        held = len(cl.records(store, FACILITY_ID, "lease"))
    print(f"demo facility {FACILITY_ID} ({today}, seed {args.seed}): {len(ops)} records, rev {rev}")
    print(f"walk-in windows on {', '.join(DEMO_SECTIONS)} for node {args.node}: {held} leases")
    print(f"register the node: hallvakt central register-node --facility {FACILITY_ID} --node ...")
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


# --- parsing ----------------------------------------------------------------------


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hallvakt central", description="the reference central gateway"
    )
    subs = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def sub(name: str, help: str) -> argparse.ArgumentParser:
        s = subs.add_parser(name, help=help, description=help)
        s.add_argument("--config", metavar="FILE", type=Path, required=True, help="central.toml")
        return s

    sub("init", "create the store and signing key; print the key for node configs")
    s = sub("register-node", "trust a node's public key for its facility")
    s.add_argument("--node", required=True, help="node id (PROTOCOL.md §2)")
    s.add_argument("--facility", required=True, help="facility id")
    s.add_argument("--public-key", required=True, help="raw Ed25519 public key, base64url")
    s.add_argument("--kid", default=None, help="key id (default: node id + key fingerprint)")
    s = sub(
        "import", "import records, deletes and walk-in windows (JSON) or bookings/credentials (CSV)"
    )
    s.add_argument("--facility", required=True, help="facility id")
    s.add_argument("file", type=Path, metavar="FILE", help="FILE.json or FILE.csv")
    s = sub("book", "make a central booking (refused inside a walk-in lease or on a conflict)")
    s.add_argument("--facility", required=True)
    s.add_argument("--resource", required=True)
    s.add_argument("--start", required=True, help="RFC 3339, or local YYYY-MM-DD HH:MM")
    s.add_argument("--end", required=True, help="RFC 3339, or local YYYY-MM-DD HH:MM")
    s.add_argument("--title", default="", help="public title")
    s.add_argument("--holder", default=None, help="holder id")
    s.add_argument("--id", default=None, help="booking id (default: a new one)")
    s = sub("command", "queue a command for a node (sent by a running gateway)")
    s.add_argument("--node", required=True)
    s.add_argument("--cmd", required=True, choices=[c.value for c in Cmd])
    s.add_argument("--door", default=None, help="unlock: door id")
    s.add_argument("--seconds", type=int, default=5, help="unlock: seconds (default 5)")
    s.add_argument("--text", default="", help="message: text for the kiosk")
    s = sub("demo-seed", "load the demo facility for today, with walk-in windows for a node")
    s.add_argument("--node", required=True, help="the node that sells walk-ins")
    s.add_argument("--seed", type=int, default=1, help="demo data seed (default 1)")
    s.add_argument("--date", type=_date, default=None, help="the demo's today, YYYY-MM-DD")
    sub("status", "nodes, their lag and last hello, events, dropped messages")
    web_cli.add_arguments(
        sub("web", "serve the web page for the municipality's staff (docs/central.md)"),
        sub("web-user", "add a web page account, or change or disable one"),
    )
    return p


RUN = {
    "init": run_init,
    "register-node": run_register,
    "import": run_import,
    "book": run_book,
    "command": run_command,
    "demo-seed": run_demo_seed,
    "status": run_status,
    "web": web_cli.run_web,
    "web-user": web_cli.run_web_user,
}


# A base64url key may start with "-" (1 in 64 do): argparse would read it as an
# option, so such a value is glued to its option ("--public-key=-Abc…").
VALUE_MAY_START_WITH_DASH = frozenset({"--public-key"})


def _glue(options: frozenset[str], argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    it = iter(argv)
    for word in it:
        value = next(it, None) if word in options else None
        out.append(word if value is None else f"{word}={value}")
    return out


def main(action: str | None, rest: Sequence[str], config: Path | None) -> int:
    """``hallvakt central [--config FILE] [ACTION ...]`` (module docstring)."""
    if action is None:
        if rest:
            print(f"hallvakt central: unexpected {' '.join(rest)!r}", file=sys.stderr)
            return 2
        if config is None:
            print("hallvakt central: --config FILE is required (or an ACTION)", file=sys.stderr)
            return 2
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
        )
        return _run(run_gateway, config)
    argv = _glue(VALUE_MAY_START_WITH_DASH, [action, *rest])
    argv += ["--config", str(config)] if config is not None else []
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return _run(lambda cfg: RUN[args.action](cfg, args), args.config)


def _run(work: Callable[[CentralConfig], int], config: Path) -> int:
    try:
        cfg = load_central_config(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    try:
        return work(cfg)
    except (Failed, StoreError, ImportFailed, OSError) as exc:
        print(f"hallvakt central: {exc}", file=sys.stderr)
        return 1


__all__ = ["ACTIONS", "main", "run_gateway"]
