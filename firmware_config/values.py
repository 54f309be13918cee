"""The structured values of a node config and their parsers.

Rules this module guarantees:
- Each value is a frozen dataclass (``BrokerURL``, ``CentralKey``...). Each
  parser takes a string and returns a typed value, or raises ``ValueError``
  with a message that starts with the offending value and says what would be
  accepted. They are pure (the time zone list is read once from
  tzdata); none opens a port or a file.
- Broker URLs carry no credentials (secrets live in files) and plain
  ``mqtt://`` is loopback only (PROTOCOL.md §2: TLS with client certificates in
  production, plain TCP on loopback for tests and demos).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import ipaddress
import posixpath
import re
import zoneinfo
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from .ids import NODE_ID
from .schema import quote, suggest


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 §5), as JWS uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def fingerprint(raw_public_key: bytes) -> str:
    """``sha256:`` + unpadded base64url of SHA-256 over a raw public key."""
    return "sha256:" + b64url(hashlib.sha256(raw_public_key).digest())


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """``mqtts://host:port``, ``mqtt://host:port`` or ``unix:///path``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class CentralKey:
    """A pinned central public key (PROTOCOL.md §4): raw 32-byte Ed25519."""

    raw: bytes

    def public_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)


@dataclass(frozen=True, slots=True)
class InputSource:
    """Where a door input is wired: ``reader:<id>:<n>``, input n (from 0) of an
    OSDP reader (door_controller.readers.events.InputChanged numbers them so)."""

    reader: str
    number: int

    def __str__(self) -> str:
        return f"reader:{self.reader}:{self.number}"


@dataclass(frozen=True, slots=True)
class ScreenSize:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


# pyserial 3.5 URL handlers (serial/urlhandler/protocol_*.py).
SERIAL_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110")
LOCAL_ID = r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}"
# Broker identities (deploy/mosquitto/README.md, "Identities"): a client
# certificate's CN is the MQTT user name and, with use_username_as_clientid,
# the client id too. A node's is its node id (PROTOCOL.md §2); a central
# gateway's is `central-<name>` (`central-1`, `central-2`, ...), one per
# gateway, each granted central's rights by name in hallvakt.acl. `central` and
# every `central-...` are reserved, so that no node id can ever be a gateway's.
GATEWAY_ID_PATTERN = r"central-[a-z0-9][a-z0-9.-]{0,55}"
NODE_ID_PATTERN = rf"(?!central(?:-|\Z)){NODE_ID}"
_RESERVED = re.compile(r"central(?:-.*)?", re.DOTALL)
_B64URL_32 = re.compile(r"[A-Za-z0-9_-]{43}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")
_SOURCE = re.compile(rf"reader:({LOCAL_ID}):(\d{{1,2}})")
_SCREEN = re.compile(r"(\d{3,4})x(\d{3,4})")


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_timezone(name: str) -> str:
    """An IANA zone name known to tzdata (``Europe/Stockholm``)."""
    if name not in _zones():
        raise ValueError(f"{quote(name)} is not a known time zone{suggest(name, _zones())}")
    return name


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_broker_url(text: str) -> BrokerURL:
    """``mqtts://host[:port]`` (8883), ``mqtt://host[:port]`` (1883, loopback
    only) or ``unix:///absolute/path``."""
    form = "mqtts://host:port, mqtt://host:port or unix:///path"
    if any(not c.isprintable() or c.isspace() for c in text):
        raise ValueError(f"{quote(text)} is not a broker URL ({form})")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"{quote(text)} is not a broker URL ({form})") from None
    if parts.scheme not in ("mqtts", "mqtt", "unix") or "://" not in text:
        raise ValueError(f"{quote(text)} is not a broker URL ({form})")
    if parts.query or parts.fragment:
        raise ValueError(f"{quote(text)}: a broker URL has no ?query or #fragment")
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or "\x00" in parts.path:
            raise ValueError(f"{quote(text)}: a unix socket URL is unix:///absolute/path")
        return BrokerURL("unix", path=posixpath.normpath(parts.path))
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{quote(text)}: a broker URL holds no user name or password "
            "(the user is the node id; the password goes in broker.password_file)"
        )
    host = parts.hostname or ""
    if not host or not (_HOST.fullmatch(host) or _is_ip(host)):
        raise ValueError(f"{quote(text)}: needs a host name ({form})")
    if parts.path not in ("", "/"):
        raise ValueError(f"{quote(text)}: a broker URL has no path")
    if parts.scheme == "mqtt" and not _is_loopback(host):
        raise ValueError(
            f"{quote(text)}: plain mqtt:// is only allowed to loopback "
            "(PROTOCOL.md §2); use mqtts://"
        )
    if port == 0:
        raise ValueError(f"{quote(text)}: port 0 is not a port")
    default = 8883 if parts.scheme == "mqtts" else 1883
    return BrokerURL(parts.scheme, host, port or default)


def is_reserved_node_id(name: str) -> bool:
    """True for `central` and every `central-...`: names no node may have,
    because they are (or may become) the broker identities of central's
    gateways (``GATEWAY_ID_PATTERN``)."""
    return _RESERVED.fullmatch(name) is not None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_central_key(text: str) -> CentralKey:
    """A raw 32-byte Ed25519 public key as unpadded base64url (43 characters),
    or a PEM ``PUBLIC KEY`` block holding an Ed25519 key."""
    if text.lstrip().startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode("utf-8"))
        except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeError):
            raise ValueError("is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("is a PEM public key, but not an Ed25519 one")
        return CentralKey(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    if not _B64URL_32.fullmatch(text):
        raise ValueError(
            f"{quote(text)} is not an Ed25519 public key "
            "(43 characters of unpadded base64url, or a PEM block)"
        )
    try:
        raw = base64.urlsafe_b64decode(text + "=")
        Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise ValueError(f"{quote(text)} is not an Ed25519 public key") from None
    if b64url(raw) != text:
        raise ValueError(f"{quote(text)} is not canonical base64url (check the last character)")
    return CentralKey(raw)


def parse_port(text: str) -> str:
    """A serial port: an absolute device path or a pyserial URL (``loop://``,
    ``socket://host:port``, ``rfc2217://host:port``...). Returned normalized."""
    if not text.isprintable() or any(c.isspace() for c in text):
        raise ValueError(f"{quote(text)} is not a serial port")
    if text.startswith("/"):
        path = posixpath.normpath(text)
        if path == "/":
            raise ValueError(f"{quote(text)} is not a serial port")
        return path
    m = re.fullmatch(r"([A-Za-z0-9+.-]+)://(.*)", text)
    if m is None:
        raise ValueError(
            f"{quote(text)} is not a serial port: write a device path (/dev/ttyUSB0) "
            "or a pyserial URL (loop://, socket://host:port, rfc2217://host:port)"
        )
    scheme, rest = m.group(1), m.group(2)
    if scheme not in SERIAL_URL_SCHEMES:
        raise ValueError(
            f"{quote(text)}: {scheme}:// is not a pyserial URL scheme "
            f"({', '.join(SERIAL_URL_SCHEMES)}){suggest(scheme, SERIAL_URL_SCHEMES)}"
        )
    if scheme in ("socket", "rfc2217") and not re.fullmatch(r"[^:/?#]+:\d{1,5}([/?].*)?", rest):
        raise ValueError(f"{quote(text)}: {scheme}:// needs host:port")
    return text


def parse_input_source(text: str) -> InputSource:
    """``reader:<reader id>:<n>``: input n (from 0) of an OSDP reader. The
    ``reader:`` prefix leaves room for other input devices; the relay boards
    supported today have no inputs."""
    m = _SOURCE.fullmatch(text)
    if m is None:
        hint = "; relay boards have no inputs" if text.startswith("output:") else ""
        raise ValueError(f"{quote(text)} is not an input source (reader:<reader id>:<input>){hint}")
    return InputSource(m.group(1), int(m.group(2)))


def parse_screen(text: str) -> ScreenSize:
    """``WIDTHxHEIGHT`` in pixels, each 240..7680 (``1080x1920`` is portrait full HD)."""
    m = _SCREEN.fullmatch(text)
    if m is None or not all(240 <= int(g) <= 7680 for g in m.groups()):
        raise ValueError(f"{quote(text)} is not a screen size (WIDTHxHEIGHT, each 240..7680)")
    return ScreenSize(int(m.group(1)), int(m.group(2)))
