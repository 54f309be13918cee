"""Provisioning: create a node's secrets and what central needs to register it.

Rules this module guarantees:
- Secrets are written where the config names them, with mode 0600 in
  directories created 0700, atomically (firmware_config.secrets.write_secret).
- Idempotent: an existing secret is kept, never overwritten, unless ``force``;
  every secret's outcome (written, kept, replaced) is reported.
- Preconditions are checked before anything is written: an existing secret
  that does not load, or an imported credential key that differs from the one
  in place (without ``force``), stops provisioning with nothing changed.
- Secrets made: the node's Ed25519 key; the credential key K (random, or the
  municipality's imported); a 16-byte OSDP SCBK per OSDP reader (as libosdp's
  ``KeyStore.gen_key``); the broker password when ``broker.password_file`` is
  set; with ``csr``, an EC P-256 TLS key in ``broker.key``.
- The registration block holds no secret: node and facility id, the public
  key (base64url raw, PROTOCOL.md §4) with a suggested kid, the broker ACL of
  PROTOCOL.md §3, a mosquitto password-file line (PBKDF2-SHA512 hash, never the
  password) and, with ``csr``, a PEM certificate request with CN = node id.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .model import NodeConfig, b64url, fingerprint
from .secrets import (
    READER_KEY_BYTES,
    SecretError,
    encode_hex_key,
    encode_node_key,
    load_credential_key,
    load_node_key,
    load_password,
    load_reader_key,
    load_tls_key,
    new_password,
    parse_credential_import,
    write_secret,
)

MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd 2.0 "$7$" default
MOSQUITTO_SALT_BYTES = 12


class ProvisionError(Exception):
    """Provisioning cannot go on; nothing was written."""


@dataclass(frozen=True, slots=True)
class SecretFile:
    what: str
    path: Path
    action: str  # "written", "kept" or "replaced"


@dataclass(frozen=True, slots=True)
class Registration:
    node_id: str
    facility_id: str
    public_key: bytes  # raw Ed25519
    password_line: str | None
    csr_pem: str | None
    mqtts: bool
    credential_key_generated: bool

    @property
    def kid(self) -> str:
        """A suggested kid for central's registry: node id and key fingerprint."""
        return f"{self.node_id}-{fingerprint(self.public_key)[7:15]}"

    def acl(self) -> list[str]:
        """mosquitto acl_file lines for this node (PROTOCOL.md §3)."""
        base = f"hallvakt/v1/{self.node_id}"
        return [
            f"user {self.node_id}",
            f"topic write {base}/up/#",
            f"topic write {base}/status",
            f"topic read {base}/dn/#",
        ]


@dataclass(frozen=True, slots=True)
class Provisioned:
    files: tuple[SecretFile, ...]
    registration: Registration


def mosquitto_password_line(user: str, password: str, salt: bytes | None = None) -> str:
    """A mosquitto 2.0 password-file line: ``user:$7$101$salt$hash`` with
    PBKDF2-HMAC-SHA512, as ``mosquitto_passwd`` writes it."""
    salt = salt if salt is not None else os.urandom(MOSQUITTO_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, MOSQUITTO_ITERATIONS)
    b64 = base64.b64encode
    return f"{user}:$7${MOSQUITTO_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def certificate_request(node_id: str, key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> str:
    """A PEM CSR with CN = node id, asking for TLS client authentication."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    algorithm = None if isinstance(key, Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(Encoding.PEM).decode("ascii")


def _tls_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


class _Plan:
    """The secrets of one run: what each is, where, and how to make or load it."""

    def __init__(self, force: bool) -> None:
        self.force = force
        self.files: list[SecretFile] = []

    def ensure(self, what: str, path: Path, make: Callable[[], bytes]) -> None:
        exists = os.path.lexists(path)
        if exists and not self.force:
            self.files.append(SecretFile(what, path, "kept"))
            return
        written = write_secret(path, make(), replace=self.force)
        action = "replaced" if exists else "written"
        self.files.append(SecretFile(what, path, action if written else "kept"))


def _preflight(
    cfg: NodeConfig, force: bool, imported: bytes | None, import_path: Path | None, csr: bool
) -> None:
    """Stop before writing anything if a kept secret would not load."""
    if csr and cfg.broker.key is None:
        raise ProvisionError("--csr needs broker.key in the config (an mqtts:// broker)")
    if force:
        return
    checks: list[tuple[Path | None, Callable[[Path], object]]] = [
        (cfg.node_key, load_node_key),
        (cfg.credential_key, load_credential_key),
        *((r.key, load_reader_key) for r in cfg.readers),
        (cfg.broker.password_file, load_password),
        (cfg.broker.key if csr else None, load_tls_key),
    ]
    try:
        for path, loader in checks:
            if path is not None and os.path.lexists(path):
                loader(path)
        if (
            imported is not None
            and os.path.lexists(cfg.credential_key)
            and load_credential_key(cfg.credential_key) != imported
        ):
            raise ProvisionError(
                f"{cfg.credential_key} holds a different credential key than {import_path}; "
                "nothing was written (use --force to replace it)"
            )
    except SecretError as exc:
        raise ProvisionError(
            f"{exc}; nothing was written (fix it, or --force to replace it)"
        ) from None


def provision(
    cfg: NodeConfig,
    *,
    force: bool = False,
    import_credential_key: Path | None = None,
    csr: bool = False,
) -> Provisioned:
    """Create the secrets ``cfg`` names; return what was done and the
    registration. Raises ``ProvisionError`` (nothing written) or ``OSError``."""
    imported = None
    if import_credential_key is not None:
        try:
            data = import_credential_key.read_bytes()
        except OSError as exc:
            raise ProvisionError(
                f"{import_credential_key} cannot be read: {exc.strerror or exc}"
            ) from None
        try:
            imported = parse_credential_import(import_credential_key, data)
        except SecretError as exc:
            raise ProvisionError(str(exc)) from None
    _preflight(cfg, force, imported, import_credential_key, csr)

    plan = _Plan(force)
    plan.ensure("node key", cfg.node_key, lambda: encode_node_key(Ed25519PrivateKey.generate()))
    node_key = load_node_key(cfg.node_key)
    cred = imported
    plan.ensure(
        "credential key", cfg.credential_key, lambda: encode_hex_key(cred or os.urandom(32))
    )
    generated = imported is None and plan.files[-1].action != "kept"
    for r in cfg.readers:
        if r.key is not None:
            plan.ensure(
                f"reader {r.id} key", r.key, lambda: encode_hex_key(os.urandom(READER_KEY_BYTES))
            )
    password_line = None
    if cfg.broker.password_file is not None:
        plan.ensure(
            "broker password", cfg.broker.password_file, lambda: (new_password() + "\n").encode()
        )
        password_line = mosquitto_password_line(
            cfg.node_id, load_password(cfg.broker.password_file)
        )
    csr_pem = None
    if csr and cfg.broker.key is not None:
        plan.ensure(
            "TLS key", cfg.broker.key, lambda: _tls_key_pem(ec.generate_private_key(ec.SECP256R1()))
        )
        csr_pem = certificate_request(cfg.node_id, load_tls_key(cfg.broker.key))
    raw = node_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    reg = Registration(
        cfg.node_id,
        cfg.facility_id,
        raw,
        password_line,
        csr_pem,
        cfg.broker.url.scheme == "mqtts",
        generated,
    )
    return Provisioned(tuple(plan.files), reg)


def render_files(files: tuple[SecretFile, ...]) -> str:
    """One line per secret: ``written  node key  /etc/hallvakt/secrets/node.key``."""
    lines = [f"{f.action:<9} {f.what:<24} {f.path}" for f in files]
    if any(f.action == "kept" for f in files):
        lines.append("(kept files were left as they were; --force replaces every secret)")
    return "\n".join(lines) + "\n"


def render_registration(reg: Registration) -> str:
    """The block an installer hands to central's operator. Holds no secret."""
    out = [
        "# Hallvakt node registration: hand this to central's operator.",
        f'node_id = "{reg.node_id}"',
        f'facility_id = "{reg.facility_id}"',
        "# Ed25519 public key, raw 32 bytes as unpadded base64url (PROTOCOL.md §4)",
        f'public_key = "{b64url(reg.public_key)}"',
        f'fingerprint = "{fingerprint(reg.public_key)}"',
        f'kid = "{reg.kid}"  # suggested',
        "",
        "# Broker ACL (mosquitto acl_file; the MQTT user is the node id, PROTOCOL.md §3)",
        *reg.acl(),
    ]
    if reg.password_line is not None:
        out += ["", "# Broker password file line (mosquitto_passwd format; not the password)"]
        out.append(reg.password_line)
    if reg.csr_pem is not None:
        out += ["", "# Client certificate request, CN = node id: sign it into broker.cert"]
        out.append(reg.csr_pem.rstrip("\n"))
    elif reg.mqtts:
        out += [
            "",
            "# Client certificate: run `hallvakt provision --csr` for a request (CN = node id)",
        ]
    if reg.credential_key_generated:
        out += [
            "",
            "# NOTE: a new credential key K was generated on this node. Card, PIN and",
            "# code digests from central match only if central uses this same K; in",
            "# production import the municipality's with --import-credential-key.",
        ]
    return "\n".join(out) + "\n"
