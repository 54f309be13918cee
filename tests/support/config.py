"""Test helpers for node configurations, shared by every package's tests
(tests/support: they are not shipped).

- ``BASE``: a valid config document (as tomllib returns it) with two doors,
  three OSDP readers on one bus, a kiosk with its own serial-line reader and
  a four-relay board. ``parse_config(BASE, base_dir=...)`` is valid.
- ``patch(doc, {"readers[2].address": 5, "broker.ca": DELETE})``: a patched copy.
- ``Central``: a CA standing in for central, signing node certificate requests.
- ``install_certificates``: put central's CA and a signed node certificate
  where a config names them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from firmware_config.config import load_config

EXAMPLES = Path(__file__).resolve().parents[2] / "firmware_config" / "examples"
KEY1 = "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"
KEY2 = "ROhpW4VwhgBEbZChUR7vxdiVHuM--vHCGXGGcxg981c"
DELETE = object()

BASE: dict[str, Any] = {
    "node_id": "test.hall.n1",
    "facility_id": "fac1",
    "broker": {
        "url": "mqtts://broker.example:8883",
        "ca": "tls/ca.pem",
        "cert": "tls/node.crt",
        "key": "secrets/tls.key",
    },
    "central_keys": {"central-1": KEY1},
    "outputs": [{"id": "relays1", "port": "/dev/ttyUSB1", "channels": 4}],
    "doors": [
        {
            "id": "main",
            "lock": {"output": "relays1", "channel": 1, "mode": "fail-secure"},
            "contact": {"source": "reader:r1:0", "normally": "closed"},
        },
        {
            "id": "gym-door",
            "lock": {"output": "relays1", "channel": 2, "mode": "fail-safe"},
            "fire_release": {"source": "reader:r3:1", "normally": "closed"},
        },
    ],
    "readers": [
        {
            "id": "r1",
            "kind": "osdp",
            "port": "/dev/ttyUSB0",
            "address": 5,
            "key": "secrets/r1.key",
            "door": "main",
            "direction": "in",
        },
        {
            "id": "r2",
            "kind": "osdp",
            "port": "/dev/ttyUSB0",
            "address": 1,
            "key": "secrets/r2.key",
            "door": "main",
            "direction": "out",
        },
        {
            "id": "r3",
            "kind": "osdp",
            "port": "/dev/ttyUSB0",
            "address": 2,
            "key": "secrets/r3.key",
            "door": "gym-door",
            "direction": "in",
        },
        {
            "id": "k1",
            "kind": "serial-line",
            "port": "/dev/ttyACM0",
            "framing": "em4100",
            "kiosk": "entrance",
        },
    ],
    "kiosks": [{"id": "entrance"}],
}


def patch(doc: dict[str, Any], changes: Mapping[str, object]) -> dict[str, Any]:
    """A deep copy of ``doc`` with each dotted path (``readers[2].address``) set,
    or removed when the value is ``DELETE``."""
    out = copy.deepcopy(doc)
    for path, value in changes.items():
        parts: list[str | int] = [
            int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)
        ]
        node: Any = out
        for p in parts[:-1]:
            node = node[p]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = copy.deepcopy(value)
    return out


class Central:
    """A CA standing in for central: signs node certificate requests.

    Not trustme (tests.support.tls is): ``hallvakt provision --csr`` makes the
    node's key on the node and prints a certificate request, and central signs
    that request. trustme issues certificates only for keys it makes itself and
    cannot sign a request; its validity is fixed (2000-3000), and these tests
    also need an expired certificate and one whose CN is not the node id."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test central CA")])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def ca_pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)

    def sign(
        self, csr_pem: str, *, days: int = 90, cn: str | None = None, expired: bool = False
    ) -> bytes:
        csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
        assert csr.is_signature_valid
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else csr.subject
        now = datetime.now(UTC) - (timedelta(days=days + 2) if expired else timedelta(0))
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(Encoding.PEM)


def install_certificates(config: Path, central: Central, csr_pem: str, **sign: Any) -> None:
    """Write central's CA and the signed node certificate where ``config`` names them."""
    cfg = load_config(config, files=False)
    assert cfg.broker.ca is not None and cfg.broker.cert is not None
    cfg.broker.ca.parent.mkdir(parents=True, exist_ok=True)
    cfg.broker.ca.write_bytes(central.ca_pem)
    cfg.broker.cert.write_bytes(central.sign(csr_pem, **sign))
