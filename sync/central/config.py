"""central.toml: the reference gateway's configuration, its schema and how it is read.

Rules this module guarantees:
- ``CentralConfig`` below is the whole schema (firmware_config.schema's
  tables on pydantic, as node.toml uses): every key, its type, range,
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
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from firmware_config.config import parse_toml, read_config_text
from firmware_config.model import BROKER_TLS_RULES, BROKER_URL, BROKER_URL_KEY, KID
from firmware_config.schema import Optional as Opt
from firmware_config.schema import Required, describe, fields_of, nested_table, table, table_info
from firmware_config.schema import validate as validate_table
from firmware_config.validators import FilePath, Int, Text
from firmware_config.values import GATEWAY_ID_PATTERN, BrokerURL

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


@table("The top level of central.toml.")
@dataclass(frozen=True, slots=True)
class CentralConfig:
    store: Annotated[
        Path,
        FilePath(),
        Required("central's database (SQLite, WAL)", "/var/lib/hallvakt-central/central.db"),
    ]
    signing: Annotated[Signing, Required("central's signing key")]
    broker: Annotated[Broker, Required("the MQTT broker")]
    retention: Annotated[Retention, Opt({}, "log retention")]
    leases: Annotated[LeaseSettings, Opt({}, "walk-in leases")]


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
        sub = nested_table(f.annotation)
        if sub is not None:
            out += _tables(sub, f"{path}.{f.name}" if path else f.name)
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
                default = f"`{json.dumps(key.default)}`"
            lines.append(f"| `{f.name}` | {describe(f.annotation)} | {default} | {key.doc} |")
        if info.rules:
            lines += ["", "Rules: " + "; ".join(r.describe() for r in info.rules) + "."]
        lines.append("")
    return "\n".join(lines)
