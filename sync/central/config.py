"""central.toml: the reference gateway's configuration, its schema and how it is read.

Rules this module guarantees:
- ``CENTRAL`` below is the whole schema (the declarative engine of
  firmware_config.schema, as node.toml uses): every key, its type, range,
  default and meaning. Problems are reported all at once, one
  ``FILE: key.path: problem`` line each; unknown keys get a suggestion.
- Relative paths are taken from the config file's directory.
- The broker URL follows node.toml's rules (``mqtts://`` with ``ca``, ``cert``
  and ``key``; plain ``mqtt://`` only to loopback; ``unix:///path``), and the
  session expiry is at least a day (FIELD-NOTES: without it a session ends at
  disconnect, and with it the queued messages of a restart).
- ``broker.client_id`` is a gateway identity, ``central-<name>``
  (firmware_config.values ``GATEWAY_ID_PATTERN``): the names no node may have.
  With ``mqtts://`` it must be the CN of ``broker.cert`` too, since the
  production broker names every session after the certificate
  (``use_username_as_clientid``); ``admin.broker_settings`` checks that.
- Reading the config touches no secret: the signing key is read by the
  commands that need it (``admin.load_signer``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_config.config import BROKER_TLS_RULES, BROKER_URL, parse_toml, read_config_text
from firmware_config.model import BrokerURL
from firmware_config.schema import (
    ConfigError,
    Context,
    Invalid,
    KeyPath,
    Required,
    Table,
    Validator,
)
from firmware_config.schema import Optional as Opt
from firmware_config.validators import FilePath, Int, Text
from firmware_config.values import GATEWAY_ID_PATTERN

from .evidence.settings import (
    EVIDENCE,
    MUNICIPALITIES,
    Evidence,
    EvidenceDefaults,
    Municipality,
    check_unique_names,
)
from .store import engine_of

KID = Text(r"[A-Za-z0-9._:-]{1,64}", "a key id (1-64 of A-Z a-z 0-9 . _ : -)")
GATEWAY_ID = Text(
    GATEWAY_ID_PATTERN,
    "a gateway identity (`central-`, then 1-56 of a-z 0-9 - . starting with a letter or digit)",
)


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where central's store is: ``url`` is what ``sync.central.store.open_store``
    takes; ``path`` the SQLite file (None on PostgreSQL)."""

    url: str
    path: Path | None

    @property
    def engine(self) -> str:
        return engine_of(self.url)

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else self.url


class StoreURL(Validator[StoreLocation]):
    """A SQLite path (relative: from the config's directory) or ``sqlite:///path``,
    or a PostgreSQL URL ``postgresql://[user@][host][:port]/dbname[?host=/socket/dir]``
    without a password (libpq reads it from ``PGPASSFILE`` or ``~/.pgpass``)."""

    def __call__(self, value: object, ctx: Context, path: KeyPath) -> StoreLocation:
        if isinstance(value, str) and value.startswith(("postgresql://", "postgres://")):
            import psycopg

            try:
                info = psycopg.conninfo.conninfo_to_dict(value)
            except psycopg.ProgrammingError as exc:
                raise Invalid(f"not a PostgreSQL URL: {exc}") from None
            if "password" in info:
                raise Invalid(
                    "a password does not belong in central.toml: put it in the gateway's"
                    " ~/.pgpass or PGPASSFILE (0600), or use the unix socket's peer"
                    " authentication (docs/central.md)"
                )
            if not info.get("dbname"):
                raise Invalid("the PostgreSQL URL names no database (postgresql://host/dbname)")
            return StoreLocation(value, None)
        if isinstance(value, str) and value.startswith("sqlite://"):
            if not value.startswith("sqlite:///"):
                raise Invalid("a SQLite URL is sqlite:///absolute/path")
            value = value[len("sqlite://") :]
        elif isinstance(value, str) and "://" in value:
            raise Invalid(f"{value.split('://')[0]}:// is not a store: postgresql:// or a path")
        file = FilePath()(value, ctx, path)
        return StoreLocation(f"sqlite:///{file}", file)

    def describe(self) -> str:
        return "a SQLite path, or `postgresql://[user@]host[:port]/dbname` (no password)"


@dataclass(frozen=True, slots=True)
class Signing:
    key: Path
    kid: str


@dataclass(frozen=True, slots=True)
class Broker:
    url: BrokerURL
    ca: Path | None
    cert: Path | None
    key: Path | None
    client_id: str
    keepalive_s: int
    session_expiry_s: int


@dataclass(frozen=True, slots=True)
class Retention:
    changelog_days: int
    changelog_revs: int
    dropped_days: int


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    horizon_days: int
    renew_every_s: int


@dataclass(frozen=True, slots=True)
class CentralConfig:
    store: StoreLocation
    signing: Signing
    broker: Broker
    retention: Retention
    leases: LeaseSettings
    evidence: EvidenceDefaults
    municipalities: Mapping[str, Municipality]

    @property
    def evidence_settings(self) -> Evidence:
        """``[evidence]`` and ``[municipalities]``, as reports and retention use them."""
        return Evidence(self.evidence, self.municipalities)


SIGNING = Table(
    Signing,
    {
        Required(
            "key", "central's Ed25519 signing key, PEM PKCS#8 (secret, 0600)", "secrets/central.key"
        ): FilePath(),
        Required(
            "kid", "its key id, pinned by every node (node.toml central_keys)", "central-2026a"
        ): KID,
    },
    doc="Central's signing identity (PROTOCOL.md §4). `hallvakt central init` writes the key.",
)

BROKER = Table(
    Broker,
    {
        **BROKER_URL,
        Opt("ca", None, "CA certificate (PEM) that signed the broker's", "tls/ca.pem"): FilePath(),
        Opt(
            "cert",
            None,
            "this gateway's client certificate (PEM), CN = client_id",
            "tls/central-1.crt",
        ): FilePath(),
        Opt("key", None, "its private key (secret)", "secrets/central-tls.key"): FilePath(),
        Opt(
            "client_id",
            "central-1",
            "this gateway's broker identity: MQTT client id and certificate CN, one per gateway",
            "central-2",
        ): GATEWAY_ID,
        Opt("keepalive_s", 60, "MQTT keep-alive in seconds"): Int(5, 3600),
        Opt("session_expiry_s", 7 * 86_400, "MQTT session expiry in seconds (at least a day)"): Int(
            86_400, 14 * 86_400
        ),
    },
    BROKER_TLS_RULES,
    doc="The MQTT broker (PROTOCOL.md §2). Each gateway has its own identity `client_id`, "
    "which is its certificate's CN: the broker names the session after the CN "
    "(deploy/mosquitto/README.md).",
)

RETENTION = Table(
    Retention,
    {
        Opt("changelog_days", 30, "keep change-log revisions at least this many days"): Int(
            1, 3650
        ),
        Opt("changelog_revs", 10_000, "and at least this many newest revisions per facility"): Int(
            0, 10_000_000
        ),
        Opt("dropped_days", 90, "keep the security log and quarantine this many days"): Int(
            1, 3650
        ),
    },
    doc="How long central keeps its logs. A node behind the pruned change log gets a snapshot.",
)

LEASES = Table(
    LeaseSettings,
    {
        Opt(
            "horizon_days", 14, "leases cover this many days ahead (PROTOCOL.md §7: 14 at least)"
        ): Int(14, 90),
        Opt("renew_every_s", 900, "how often the gateway renews leases"): Int(60, 86_400),
    },
    doc="Walk-in leases renewed from the walk-in windows.",
)


def _unique(m: Mapping[str, Municipality]) -> Mapping[str, Municipality]:
    try:
        check_unique_names(m)
    except Invalid as exc:
        raise ValueError(exc.message) from None
    return m


CENTRAL = Table(
    CentralConfig,
    {
        Required(
            "store",
            "central's store: a SQLite file (WAL; the default for one site) or PostgreSQL"
            " (production: docs/central.md)",
            "/var/lib/hallvakt-central/central.db",
        ): StoreURL(),
        Required("signing", "central's signing key"): SIGNING,
        Required("broker", "the MQTT broker"): BROKER,
        Opt("retention", {}, "log retention"): RETENTION,
        Opt("leases", {}, "walk-in leases"): LEASES,
        Opt("evidence", {}, "evidence, reports and the activity-grant rule"): EVIDENCE,
        Opt(
            "municipalities", {}, "municipalities with their own grant rule or retention"
        ): MUNICIPALITIES.then(_unique, "table of key = [municipality table](#municipalitieskey)"),
    },
    doc="The top level of central.toml.",
)


def parse_central_config(
    data: object, *, file: str = "central.toml", base_dir: Path = Path(".")
) -> CentralConfig:
    """A parsed TOML document as a ``CentralConfig``; raises ``ConfigError`` with
    every problem."""
    ctx = Context(file, base_dir)
    try:
        values, ok = CENTRAL.fields(data, ctx, ())
    except Invalid as exc:
        ctx.report((), exc.message)
        raise ConfigError(ctx.problems) from None
    if not ok or ctx.problems:
        raise ConfigError(ctx.problems)
    return CENTRAL.build(values)


def load_central_config(path: str | Path) -> CentralConfig:
    """Read and check central.toml at ``path``; raises ``ConfigError``."""
    file = str(path)
    data = parse_toml(read_config_text(path), file)
    return parse_central_config(data, file=file, base_dir=Path(path).parent.absolute())


REFERENCE_BEGIN = "<!-- BEGIN central.toml reference: sync.central.config.reference() -->"
REFERENCE_END = "<!-- END central.toml reference -->"


def _tables(table: Table[Any], path: str) -> list[tuple[Table[Any], str]]:
    out = [(table, path)]
    for key, v in table.keys.items():
        if isinstance(v, Table):
            out += _tables(v, f"{path}.{key.name}" if path else key.name)
    return out


def reference() -> str:
    """The markdown reference of every table of central.toml. docs/central.md
    holds it between the ``REFERENCE_BEGIN`` and ``REFERENCE_END`` markers; a
    test compares the two."""
    lines: list[str] = []
    for table, path in _tables(CENTRAL, ""):
        lines += [f"#### {f'`[{path}]`' if path else 'Top level'}", ""]
        if table.doc:
            lines += [table.doc, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for key, v in table.keys.items():
            kind = "table" if isinstance(v, Table) else v.describe()
            if key.required:
                default = "**required**"
            elif key.default is None or isinstance(v, Table):
                default = "not set" if key.default is None else ""
            else:
                default = f"`{json.dumps(key.default, ensure_ascii=False)}`"
            lines.append(f"| `{key.name}` | {kind} | {default} | {key.doc} |")
        if table.rules:
            lines += ["", "Rules: " + "; ".join(r.describe() for r in table.rules) + "."]
        lines.append("")
    return "\n".join(lines)
