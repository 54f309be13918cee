"""Uploaded claims files, kept in the web process for the session that sent them.

The claims check (routes_reports) shows the association's file checked and
offers it as CSV and PDF. The downloads must build the same report from the
same file, without asking the grants officer to choose it again and without
sending it back and forth through the page. So the upload is kept here, in
memory, and the page carries only an opaque token for it.

Rules this module guarantees:
- ``put`` keeps a file for one session (its ``id_hash``) and returns a new
  random token (``secrets``, 24 bytes, URL-safe): the token names nothing on
  a disk, and no client input ever becomes a path (nothing here touches the
  file system).
- ``get`` returns the file only for the same session, before it expires
  (``ttl_s`` after it was kept); a token that is malformed, unknown, expired
  or another session's gives None, all alike (no oracle), and the tokens are
  compared in constant time.
- Bounded: a file is at most ``max_file`` bytes (``put`` raises
  ``ValueError`` above that); a session keeps at most ``per_session`` files
  (its oldest goes first); all sessions together at most ``max_total`` bytes
  (the oldest of all goes first). Expired files are dropped at every call.
- Thread-safe (page handlers run in a thread pool). One web process holds
  them (``hallvakt central web`` runs one); a restart forgets them: the page
  asks for the file again.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

TOKEN_BYTES = 24
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")  # token_urlsafe(24): 32 characters


@dataclass(frozen=True, slots=True)
class _Kept:
    owner: str
    data: bytes
    expires: float


class Uploads:
    """The kept files (module rules)."""

    def __init__(
        self,
        *,
        max_file: int,
        per_session: int = 4,
        max_total: int = 64 * 1024 * 1024,
        ttl_s: float = 1800.0,
    ) -> None:
        self.max_file, self.per_session = max_file, per_session
        self.max_total, self.ttl_s = max_total, ttl_s
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # token -> file, oldest first
        self._lock = threading.Lock()

    def put(self, owner: str, data: bytes, now: float) -> str:
        """Keep ``data`` for the session ``owner``; its token."""
        if len(data) > self.max_file:
            raise ValueError(f"a file of {len(data)} bytes is above {self.max_file}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        with self._lock:
            self._expire(now)
            mine = [t for t, k in self._kept.items() if k.owner == owner]
            for t in mine[: max(0, len(mine) - self.per_session + 1)]:
                del self._kept[t]
            while self._kept and self.total() + len(data) > self.max_total:
                self._kept.popitem(last=False)
            self._kept[token] = _Kept(owner, data, now + self.ttl_s)
        return token

    def get(self, owner: str, token: object, now: float) -> bytes | None:
        """The file kept under ``token`` for ``owner``, or None (module rules)."""
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            return None
        with self._lock:
            self._expire(now)
            kept = self._kept.get(token)
        if kept is None or not hmac.compare_digest(kept.owner, owner):
            return None
        return kept.data

    def total(self) -> int:
        return sum(len(k.data) for k in self._kept.values())

    def __len__(self) -> int:
        return len(self._kept)

    def _expire(self, now: float) -> None:
        for t in [t for t, k in self._kept.items() if k.expires <= now]:
            del self._kept[t]
