"""File checks of a node config (pass 3; see firmware_config.config).

Rules this module guarantees:
- Every secret file the config names (node key, credential key, reader keys,
  broker password and TLS key) exists, is open to neither group nor others,
  and loads in its format (firmware_config.secrets). Its content is never
  shown.
- The broker's CA and client certificate files exist and hold PEM
  certificates; the client certificate's CN is the node id (PROTOCOL.md §2),
  it matches the TLS key, and it has not expired.
- Serial ports and the database are not checked here: hardware may be
  unplugged while a config is checked, and the daemons open (and report) both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from .keypath import KeyPath, format_path
from .model import NodeConfig
from .schema import Problem
from .secrets import (
    SecretError,
    load_credential_key,
    load_node_key,
    load_password,
    load_reader_key,
    load_tls_key,
    unreadable,
)

PROVISION_HINT = " (hallvakt provision creates it)"


def _certificates(path: Path) -> list[x509.Certificate]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise unreadable(path, exc) from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise SecretError(path, "holds no PEM certificate") from None


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def check_files(cfg: NodeConfig, file: str, now: datetime | None = None) -> list[Problem]:
    """Every problem with the files ``cfg`` names, as problems of ``file``."""
    problems: list[Problem] = []
    now = now or datetime.now(UTC)

    def load(
        at: KeyPath, path: Path, loader: Callable[[Path], Any], hint: str = PROVISION_HINT
    ) -> Any:
        try:
            return loader(path)
        except SecretError as exc:
            tail = hint if exc.problem == "does not exist" else ""
            problems.append(Problem(file, format_path(at), f"{exc}{tail}"))
            return None

    load(("node_key",), cfg.node_key, load_node_key)
    load(("credential_key",), cfg.credential_key, load_credential_key)
    for i, r in enumerate(cfg.readers):
        if r.key is not None:
            load(("readers", i, "key"), r.key, load_reader_key)
    b = cfg.broker
    if b.password_file is not None:
        load(("broker", "password_file"), b.password_file, load_password)
    key = None
    if b.key is not None:
        key = load(("broker", "key"), b.key, load_tls_key, " (hallvakt provision --csr creates it)")
    if b.ca is not None:
        load(("broker", "ca"), b.ca, _certificates, " (central's CA certificate)")
    if b.cert is not None:
        certs = load(
            ("broker", "cert"), b.cert, _certificates, " (central signs it from provision --csr)"
        )
        if certs:
            for message in _client_cert_problems(certs[0], cfg.node_id, key, now):
                problems.append(Problem(file, "broker.cert", f"{b.cert} {message}"))
    return problems


def certificate_cn(cert: x509.Certificate) -> str | None:
    """The certificate's (first) CN, the broker identity it carries; None if it
    has none."""
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    cn = names[0] if names else None
    return cn.decode("utf-8", "replace") if isinstance(cn, bytes) else cn


def _client_cert_problems(
    cert: x509.Certificate, node_id: str, key: Any, now: datetime
) -> list[str]:
    out: list[str] = []
    cn_text = certificate_cn(cert)
    if cn_text != node_id:
        out.append(f"has CN {cn_text!r}, not the node id {node_id!r} (PROTOCOL.md §2)")
    if key is not None and _spki(cert.public_key()) != _spki(key.public_key()):
        out.append("does not match broker.key")
    if cert.not_valid_after_utc < now:
        out.append(f"expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return out


def next_steps(cfg: NodeConfig, file: str) -> list[str]:
    """What an installer does to make the files ``cfg`` names that do not exist
    yet, as numbered steps for ``config check`` to print ([] when none is
    missing). ``file`` is the config as the installer typed it."""
    b = cfg.broker
    missing = [
        what
        for what, path in (
            ("the node key", cfg.node_key),
            ("the credential key", cfg.credential_key),
            ("the broker password", b.password_file),
        )
        if path is not None and not path.exists()
    ]
    readers = sum(1 for r in cfg.readers if r.key is not None and not r.key.exists())
    if readers:
        missing.append(f"{readers} reader key{'s' if readers > 1 else ''}")
    csr = b.key is not None and not b.key.exists()
    if csr:
        missing.append("a TLS key and its certificate request")
    certs = [
        f"{what} as {path}"
        for what, path in (
            ("the node certificate central signs", b.cert),
            ("central's CA certificate", b.ca),
        )
        if path is not None and not path.exists()
    ]
    steps: list[str] = []
    if missing:
        steps.append(
            f"hallvakt provision --config {file}{' --csr' if csr else ''} > registration.txt\n"
            f"     (writes {', '.join(missing)})"
        )
    if certs:
        steps.append(
            "send registration.txt to central's operator and save what comes back:\n"
            + "\n".join(f"     {c}" for c in certs)
        )
    if steps:
        steps.append(f"hallvakt config check {file}")
    return [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
