"""A throwaway certificate authority for TLS tests against a private broker.

Guarantees:
- ``TestCA(directory)`` makes a self-signed CA (EC P-256, SHA-256) and writes
  ``ca.crt`` into ``directory``; its private key never touches the disk.
- ``server(...)`` issues a broker certificate with ``serverAuth`` and subject
  alternative names for ``localhost`` and ``127.0.0.1`` (plus any given);
  ``client(cn)`` issues a client certificate with ``clientAuth`` whose subject
  is exactly ``CN=<cn>``: with Mosquitto's ``use_identity_as_username`` that CN
  is the MQTT user name, which PROTOCOL.md §2 makes the node id.
- Every file is written with mode 0600 (``<name>.crt`` and ``<name>.key``,
  the key as unencrypted PKCS#8 PEM), and an existing file is replaced.

This is test scaffolding, not provisioning: production certificates come from
central's CA through ``hallvakt provision --csr`` (firmware_config/provision.py).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Issued", "TestCA", "write_private"]

_VALIDITY = timedelta(days=2)
_BACKDATE = timedelta(hours=1)  # tolerate a little clock skew between test processes


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


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A CA that issues server and client certificates into one directory."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path, *, cn: str = "Hallvakt test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = write_private(
            directory / "ca.crt", self.certificate.public_bytes(Encoding.PEM)
        )

    def server(
        self, name: str = "server", *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    ) -> Issued:
        """A broker certificate valid for ``hosts`` (DNS names or IP addresses)."""
        sans: list[x509.GeneralName] = []
        for host in hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        return self._issue(
            name, hosts[0], ExtendedKeyUsageOID.SERVER_AUTH, x509.SubjectAlternativeName(sans)
        )

    def client(self, cn: str, *, name: str | None = None) -> Issued:
        """A client certificate with subject ``CN=<cn>``, in files named after ``name``
        (default: ``cn``)."""
        return self._issue(name or cn, cn, ExtendedKeyUsageOID.CLIENT_AUTH, None)

    def _issue(
        self,
        name: str,
        cn: str,
        usage: x509.ObjectIdentifier,
        sans: x509.SubjectAlternativeName | None,
    ) -> Issued:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain file name")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        if sans is not None:
            builder = builder.add_extension(sans, critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        return Issued(
            cn=cn,
            cert=write_private(self.directory / f"{name}.crt", cert.public_bytes(Encoding.PEM)),
            key=write_private(self.directory / f"{name}.key", key_pem),
        )
