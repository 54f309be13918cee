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
- Every file is written with mode 0600 (``<name>.crt`` and ``<name>.key``,
  the key as unencrypted PEM), and an existing file is replaced.

This is test scaffolding, not provisioning: production certificates come from
central's CA through ``hallvakt provision --csr`` (firmware_config/provision.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

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

    def _issue(self, name: str, cn: str, identities: tuple[str, ...]) -> Issued:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain file name")
        leaf = self._ca.issue_cert(*identities, common_name=cn)
        return Issued(
            cn=cn,
            cert=write_private(self.directory / f"{name}.crt", leaf.cert_chain_pems[0].bytes()),
            key=write_private(self.directory / f"{name}.key", leaf.private_key_pem.bytes()),
        )
