"""Secret files: their formats, how they are loaded, how they are written.

Rules this module guarantees:
- A secret is loaded only from a regular file that group and others have no
  access to (mode & 0o077 == 0); anything else raises ``SecretError`` naming
  the file and the fix. A secret's content never appears in an error.
- Formats (one file per secret, all text, all written with mode 0600):
  - node key: Ed25519 private key, PEM PKCS#8 unencrypted (``openssl pkey`` reads it);
  - credential key K (PROTOCOL.md "Credential digests"): 32 bytes as 64 hex digits;
  - reader key: OSDP secure channel base key (SCBK), 16 bytes as 32 hex digits;
  - broker password: one line of printable ASCII;
  - TLS client key: PEM PKCS#8 (an EC P-256 key, made by ``provision --csr``).
- ``write_secret`` is atomic and never replaces a file unless asked: the data
  goes to a new temp file (O_EXCL, 0600) in the same directory, is fsynced, and
  is then hard-linked into place (fails if the name exists) or, with
  ``replace``, renamed over it; the directory is fsynced after. Missing parent
  directories are created with mode 0700, each fsynced into its parent, so a
  power cut at any moment leaves either no file or the whole file, never a
  part (tests/system/test_provision_power_cut.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

CREDENTIAL_KEY_BYTES = 32
READER_KEY_BYTES = 16
_MAX_SECRET = 64 * 1024


class SecretError(ValueError):
    """A secret file is missing, open to others, or not in its format.
    ``str()`` is ``PATH PROBLEM``; ``problem`` alone reads after the path."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path} {problem}")


def unreadable(path: Path, exc: OSError) -> SecretError:
    """The ``SecretError`` for a file that could not be read: missing, or why not."""
    if isinstance(exc, FileNotFoundError):
        return SecretError(path, "does not exist")
    return SecretError(path, f"cannot be read: {exc.strerror or exc}")


def check_private(path: Path) -> None:
    """Raise ``SecretError`` unless ``path`` is a regular file with no group or
    other permission bits."""
    try:
        st = path.stat()
    except OSError as exc:
        raise unreadable(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise SecretError(path, "is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SecretError(
            path,
            f"has mode {mode:04o}: group and others must have no access; run chmod 600 {path}",
        )


def read_private(path: Path) -> bytes:
    """The bytes of a secret file after ``check_private``."""
    check_private(path)
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_SECRET + 1)
    except OSError as exc:
        raise unreadable(path, exc) from None
    if len(data) > _MAX_SECRET:
        raise SecretError(path, "is too large for a key file")
    return data


def _hex_key(path: Path, data: bytes, size: int, what: str) -> bytes:
    text = data.strip()
    if not re.fullmatch(rb"[0-9A-Fa-f]{%d}" % (2 * size), text):
        raise SecretError(path, f"is not {what}: expected {2 * size} hex digits")
    return bytes.fromhex(text.decode("ascii"))


def load_node_key(path: Path) -> Ed25519PrivateKey:
    """The node's Ed25519 signing key (PEM PKCS#8). Raises ``SecretError``."""
    data = read_private(path)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SecretError(path, "is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SecretError(path, "is not an Ed25519 private key")
    return key


def load_credential_key(path: Path) -> bytes:
    """The 32-byte credential key K (64 hex digits). Raises ``SecretError``."""
    return _hex_key(path, read_private(path), CREDENTIAL_KEY_BYTES, "a credential key")


def load_reader_key(path: Path) -> bytes:
    """A reader's 16-byte OSDP SCBK (32 hex digits). Raises ``SecretError``."""
    return _hex_key(path, read_private(path), READER_KEY_BYTES, "an OSDP reader key (SCBK)")


def load_password(path: Path) -> str:
    """The broker password: the file's one line. Raises ``SecretError``."""
    data = read_private(path).strip()
    if not data or not re.fullmatch(rb"[\x21-\x7e]{1,256}", data):
        raise SecretError(path, "is not a password: expected one line of printable ASCII")
    return data.decode("ascii")


def load_tls_key(path: Path) -> EllipticCurvePrivateKey | Ed25519PrivateKey:
    """The TLS client key (PEM). Raises ``SecretError``."""
    data = read_private(path)
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SecretError(path, "is not an unencrypted PEM private key") from None
    if not isinstance(key, EllipticCurvePrivateKey | Ed25519PrivateKey):
        raise SecretError(path, "is not an EC or Ed25519 private key")
    return key


def parse_credential_import(path: Path, data: bytes) -> bytes:
    """A municipality's credential key as handed over: 64 hex digits, base64 or
    base64url of 32 bytes (padded or not), or the raw 32 bytes."""
    if len(data) == CREDENTIAL_KEY_BYTES:
        return data
    text = data.strip()
    if re.fullmatch(rb"[0-9A-Fa-f]{64}", text):
        return bytes.fromhex(text.decode("ascii"))
    if re.fullmatch(rb"[A-Za-z0-9+/_-]{43}=?", text):
        try:
            raw = base64.urlsafe_b64decode(
                text.rstrip(b"=").replace(b"+", b"-").replace(b"/", b"_") + b"="
            )
        except (ValueError, binascii.Error):
            raw = b""
        if len(raw) == CREDENTIAL_KEY_BYTES:
            return raw
    raise SecretError(
        path, "is not a 32-byte credential key (64 hex digits, base64, base64url or 32 raw bytes)"
    )


def encode_node_key(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def encode_hex_key(key: bytes) -> bytes:
    return key.hex().encode("ascii") + b"\n"


def new_password() -> str:
    """A random broker password (32 base64url characters, 192 bits)."""
    return secrets.token_urlsafe(24)


def _make_private_dirs(directory: Path) -> None:
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d, 0o700)
            os.chmod(d, 0o700)  # the umask may have taken bits away; never added
            _fsync_dir(d.parent)  # the new directory's entry survives a power cut


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_secret(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` with mode 0600, atomically. Returns False, and
    writes nothing, if ``path`` exists and ``replace`` is false. Raises ``OSError``."""
    directory = path.parent
    _make_private_dirs(directory)
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    done = False
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        taken = True
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                taken = False
            os.unlink(tmp)
        # One directory fsync makes the new name and the temp file's removal
        # durable together: a power cut leaves no stray temp file behind.
        _fsync_dir(directory)
        done = True
        return taken
    finally:
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
