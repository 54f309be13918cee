"""A throwaway certificate authority for TLS tests against a private broker (trustme).

Guarantees:
- ``TestCA(directory)`` is a trustme CA (EC P-256); it writes ``ca.crt`` into
  ``directory``, and its private key never touches the disk.
- ``server(...)`` issues a broker certificate for ``localhost`` and
  ``127.0.0.1`` (plus any given) as subject alternative names;
  ``client(cn)`` a client certificate whose subject CN is ``cn`` (and a SAN
  of the same name, trustme wants one): with Mosquitto's
  ``use_identity_as_username`` that CN is the MQTT user name, which
  PROTOCOL.md §2 makes the node id. trustme's leaves serve both ends
  (clientAuth and serverAuth) and are valid from 2000 to 3000, so clock skew
  between test processes never matters.
- ``crl(revoked)`` writes the CA's certificate revocation list (PEM, signed
  with the CA's key, ``nextUpdate`` a day ahead) naming the ``revoked``
  certificates by serial number, as a client CA publishes one for the
  broker's ``crlfile``.
- Every file is written with mode 0600 (``<name>.crt`` and ``<name>.key``,
  the key as unencrypted PEM), and an existing file is replaced.

This is test scaffolding, not provisioning: production certificates come from
central's CA through ``hallvakt provision --csr`` (firmware_config/provision.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["Issued", "TestCA", "write_private"]


@dataclass(frozen=True, slots=True)
class Issued:
    """A certificate and its key, as files."""

    cn: str
    cert: Path
    key: Path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (replacing any file); return ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return path


class TestCA:
    """A CA that issues server and client certificates into one directory."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, *, cn: str = "Hallvakt test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._ca = trustme.CA(organization_name=cn)
        self.cert_path = write_private(directory / "ca.crt", self._ca.cert_pem.bytes())

    def server(
        self, name: str = "server", *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> Issued:
        """A broker certificate valid for ``hosts`` (DNS names or IP addresses)."""
        return self._issue(name, hosts[0], hosts)

    def client(self, cn: str, *, name: str | None = None) -> Issued:
        """A client certificate with subject CN ``cn``, in files named after
        ``name`` (default: ``cn``)."""
        return self._issue(name or cn, cn, (cn,))

    def crl(
        self, revoked: Sequence[Issued], name: str = "clients.crl", *, expired: bool = False
    ) -> Path:
        """The CA's revocation list naming ``revoked`` (module docstring), as a
        file; ``expired``: its ``nextUpdate`` an hour past."""
        ca = x509.load_pem_x509_certificate(self._ca.cert_pem.bytes())
        key = serialization.load_pem_private_key(self._ca.private_key_pem.bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # trustme's CAs are EC P-256
        now = datetime.now(UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now - timedelta(days=2 if expired else 0, minutes=5))
            .next_update(now + (timedelta(hours=-1) if expired else timedelta(days=1)))
        )
        for issued in revoked:
            cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(now - timedelta(minutes=1))
                .build()
            )
        crl = builder.sign(key, hashes.SHA256())
        return write_private(self.directory / name, crl.public_bytes(serialization.Encoding.PEM))

    def _issue(self, name: str, cn: str, identities: tuple[str, ...]) -> Issued:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain file name")
        leaf = self._ca.issue_cert(*identities, common_name=cn)
        return Issued(
            cn=cn,
            cert=write_private(self.directory / f"{name}.crt", leaf.cert_chain_pems[0].bytes()),
            key=write_private(self.directory / f"{name}.key", leaf.private_key_pem.bytes()),
        )
