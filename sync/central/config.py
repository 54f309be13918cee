"""central.toml: the reference gateway's configuration, its schema and how it is read.

Rules this module guarantees:
- ``CentralConfig`` below is the whole schema (firmware_config.schema's
  tables on pydantic, as node.toml uses): every key, its type, range,
  default and meaning. Problems are reported all at once, one
  ``FILE: key.path: problem`` line each; unknown keys get a suggestion.
- Relative paths are taken from the config file's directory.
- ``store`` is a SQLite path (or ``sqlite:///path``) or a PostgreSQL URL
  without a password (``StoreURL``); ``StoreLocation.url`` is what
  ``sync.central.store.open_store`` takes.
- ``[evidence]`` and ``[municipalities.*]`` (evidence/settings.py) hold the
  activity-grant rules, retention and strikes of the reports.
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
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import ValidationInfo
from pydantic_core import core_schema

from firmware_config.config import parse_toml, read_config_text
from firmware_config.model import BROKER_TLS_RULES, BROKER_URL, BROKER_URL_KEY, KID
from firmware_config.rules import Check
from firmware_config.schema import Optional as Opt
from firmware_config.schema import (
    Required,
    describe,
    fields_of,
    invalid,
    nested_table,
    strip,
    table,
    table_info,
)
from firmware_config.schema import validate as validate_table
from firmware_config.validators import Bool, FilePath, Int, Spec, Text
from firmware_config.values import GATEWAY_ID_PATTERN, BrokerURL

from .evidence.settings import Evidence, EvidenceDefaults, Municipality
from .store import engine_of


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


class StoreURL(Spec):
    """A SQLite path (relative: from the config's directory) or ``sqlite:///path``,
    or a PostgreSQL URL ``postgresql://[user@][host][:port]/dbname[?host=/socket/dir]``
    without a password (libpq reads it from ``PGPASSFILE`` or ``~/.pgpass``)."""

    def _check(self, value: str, info: ValidationInfo) -> StoreLocation:
        if value.startswith(("postgresql://", "postgres://")):
            import psycopg

            try:
                conninfo = psycopg.conninfo.conninfo_to_dict(value)
            except psycopg.ProgrammingError as exc:
                raise invalid(f"not a PostgreSQL URL: {exc}") from None
            if "password" in conninfo:
                raise invalid(
                    "a password does not belong in central.toml: put it in the gateway's"
                    " ~/.pgpass or PGPASSFILE (0600), or use the unix socket's peer"
                    " authentication (docs/central.md)"
                )
            if not conninfo.get("dbname"):
                raise invalid("the PostgreSQL URL names no database (postgresql://host/dbname)")
            return StoreLocation(value, None)
        if value.startswith("sqlite://"):
            if not value.startswith("sqlite:///"):
                raise invalid("a SQLite URL is sqlite:///absolute/path")
            value = value[len("sqlite://") :]
        elif "://" in value:
            raise invalid(f"{value.split('://')[0]}:// is not a store: postgresql:// or a path")
        file = FilePath._resolve(value, info)
        return StoreLocation(f"sqlite:///{file}", file)

    def schema(self) -> core_schema.CoreSchema:
        return core_schema.with_info_after_validator_function(
            self._check, core_schema.str_schema(strict=True)
        )

    def describe(self) -> str:
        return "a SQLite path, or `postgresql://[user@]host[:port]/dbname` (no password)"


GATEWAY_ID = Text(
    GATEWAY_ID_PATTERN,
    "a gateway identity (`central-`, then 1-56 of a-z 0-9 - . starting with a letter or digit)",
)


@table("Central's signing identity (PROTOCOL.md §4). `hallvakt central init` writes the key.")
@dataclass(frozen=True, slots=True)
class Signing:
    key: Annotated[
        Path,
        FilePath(),
        Required("central's Ed25519 signing key, PEM PKCS#8 (secret, 0600)", "secrets/central.key"),
    ]
    kid: Annotated[
        str,
        KID,
        Required("its key id, pinned by every node (node.toml central_keys)", "central-2026a"),
    ]


@table(
    "The MQTT broker (PROTOCOL.md §2). Each gateway has its own identity `client_id`, "
    "which is its certificate's CN: the broker names the session after the CN "
    "(deploy/mosquitto/README.md).",
    BROKER_TLS_RULES,
)
@dataclass(frozen=True, slots=True)
class Broker:
    url: Annotated[BrokerURL, BROKER_URL, BROKER_URL_KEY]
    ca: Annotated[
        Path | None,
        FilePath(),
        Opt(None, "CA certificate (PEM) that signed the broker's", "tls/ca.pem"),
    ]
    cert: Annotated[
        Path | None,
        FilePath(),
        Opt(None, "this gateway's client certificate (PEM), CN = client_id", "tls/central-1.crt"),
    ]
    key: Annotated[
        Path | None, FilePath(), Opt(None, "its private key (secret)", "secrets/central-tls.key")
    ]
    client_id: Annotated[
        str,
        GATEWAY_ID,
        Opt(
            "central-1",
            "this gateway's broker identity: MQTT client id and certificate CN, one per gateway",
            "central-2",
        ),
    ]
    keepalive_s: Annotated[int, Int(5, 3600), Opt(60, "MQTT keep-alive in seconds")]
    session_expiry_s: Annotated[
        int,
        Int(86_400, 14 * 86_400),
        Opt(7 * 86_400, "MQTT session expiry in seconds (at least a day)"),
    ]
    leave_shared_on_stop: Annotated[
        bool,
        Bool(),
        Opt(
            False,
            "on a clean stop, leave the shared subscription first, so that the broker hands"
            " nodes' messages to the other gateways rather than to this one's session"
            " (set it with several gateways; with one, the session keeps them for its restart)",
        ),
    ]


@table("How long central keeps its logs. A node behind the pruned change log gets a snapshot.")
@dataclass(frozen=True, slots=True)
class Retention:
    changelog_days: Annotated[
        int, Int(1, 3650), Opt(30, "keep change-log revisions at least this many days")
    ]
    changelog_revs: Annotated[
        int,
        Int(0, 10_000_000),
        Opt(10_000, "and at least this many newest revisions per facility"),
    ]
    dropped_days: Annotated[
        int, Int(1, 3650), Opt(90, "keep the security log and quarantine this many days")
    ]


@table("Walk-in leases renewed from the walk-in windows.")
@dataclass(frozen=True, slots=True)
class LeaseSettings:
    horizon_days: Annotated[
        int, Int(14, 90), Opt(14, "leases cover this many days ahead (PROTOCOL.md §7: 14 at least)")
    ]
    renew_every_s: Annotated[int, Int(60, 86_400), Opt(900, "how often the gateway renews leases")]


@dataclass(frozen=True, slots=True)
class _Words:
    """How the reference describes a key with no value spec (pydantic ignores it)."""

    text: str

    def describe(self) -> str:
        return self.text


def _one_name_each(
    raw: Mapping[str, object], values: Mapping[str, Any]
) -> Iterator[tuple[tuple[str, ...], str]]:
    seen: dict[str, str] = {}
    for key, m in (values.get("municipalities") or {}).items():
        if m.name in seen:
            yield ("municipalities", key), f"names {m.name!r} as [{seen[m.name]}] does"
        seen.setdefault(m.name, key)


@table(
    "The top level of central.toml.",
    [Check(_one_name_each, "each municipality is named once", ["municipalities"])],
)
@dataclass(frozen=True, slots=True)
class CentralConfig:
    store: Annotated[
        StoreLocation,
        StoreURL(),
        Required(
            "central's store: a SQLite file (WAL; the default for one site) or PostgreSQL"
            " (production: docs/central.md)",
            "/var/lib/hallvakt-central/central.db",
        ),
    ]
    signing: Annotated[Signing, Required("central's signing key")]
    broker: Annotated[Broker, Required("the MQTT broker")]
    retention: Annotated[Retention, Opt({}, "log retention")]
    leases: Annotated[LeaseSettings, Opt({}, "walk-in leases")]
    evidence: Annotated[EvidenceDefaults, Opt({}, "evidence, reports and the activity-grant rule")]
    municipalities: Annotated[
        Mapping[str, Municipality],
        _Words("tables `[municipalities.KEY]`, KEY your own name for one"),
        Opt({}, "municipalities with their own grant rule or retention, by a key of yours"),
    ]

    @property
    def evidence_settings(self) -> Evidence:
        """``[evidence]`` and ``[municipalities]``, as reports and retention use them."""
        return Evidence(self.evidence, self.municipalities)


def parse_central_config(
    data: object, *, file: str = "central.toml", base_dir: Path = Path(".")
) -> CentralConfig:
    """A parsed TOML document as a ``CentralConfig``; raises ``ConfigError`` with
    every problem."""
    return validate_table(CentralConfig, data, file=file, base_dir=base_dir)


def load_central_config(path: str | Path) -> CentralConfig:
    """Read and check central.toml at ``path``; raises ``ConfigError``."""
    file = str(path)
    data = parse_toml(read_config_text(path), file)
    return parse_central_config(data, file=file, base_dir=Path(path).parent.absolute())


REFERENCE_BEGIN = "<!-- BEGIN central.toml reference: sync.central.config.reference() -->"
REFERENCE_END = "<!-- END central.toml reference -->"


def _tables(cls: type, path: str) -> list[tuple[type, str]]:
    out = [(cls, path)]
    for f in fields_of(cls):
        name = f"{path}.{f.name}" if path else f.name
        sub = nested_table(f.annotation)
        if sub is None:  # a table of tables by free keys: [municipalities.KEY]
            bare, _ = strip(f.annotation)
            args = typing.get_args(bare)
            if len(args) == 2 and isinstance(args[1], type) and table_info(args[1]):
                sub, name = args[1], f"{name}.KEY"
        if sub is not None:
            out += _tables(sub, name)
    return out


def reference() -> str:
    """The markdown reference of every table of central.toml. docs/central.md
    holds it between the ``REFERENCE_BEGIN`` and ``REFERENCE_END`` markers; a
    test compares the two."""
    lines: list[str] = []
    for cls, path in _tables(CentralConfig, ""):
        info = table_info(cls)
        assert info is not None
        lines += [f"#### {f'`[{path}]`' if path else 'Top level'}", ""]
        if info.doc:
            lines += [info.doc, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for f in fields_of(cls):
            key, nested = f.key, nested_table(f.annotation) is not None
            if key.required:
                default = "**required**"
            elif key.default is None or nested:
                default = "not set" if key.default is None else ""
            else:
                default = f"`{json.dumps(key.default, ensure_ascii=False)}`"
            lines.append(f"| `{f.name}` | {describe(f.annotation)} | {default} | {key.doc} |")
        if info.rules:
            lines += ["", "Rules: " + "; ".join(r.describe() for r in info.rules) + "."]
        lines.append("")
    return "\n".join(lines)
