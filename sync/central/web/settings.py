"""The web page's settings, and the store each worker thread reads through.

Rules this module guarantees:
- ``WebSettings`` holds every knob with a safe default: loopback only, secure
  cookies, sessions ending after 2 h idle or 12 h in all, the login throttle
  of ``guard.Throttle``, argon2's RFC 9106 low-memory profile.
- ``Stores`` hands each thread a store: one shared ``PostgresStore`` (its pool
  is thread-safe), or one ``SQLiteStore`` per thread (a SQLite connection is
  used by one thread at a time). ``close`` closes every one it opened.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..evidence.settings import Evidence
from ..store import Store, engine_of, open_store
from .guard import Throttle


@dataclass(frozen=True, slots=True)
class WebSettings:
    store_url: str
    host: str = "127.0.0.1"
    port: int = 8080  # 0: a free port (``serve`` reports which)
    tz: str = "Europe/Stockholm"  # how times are shown and filters read
    # central.toml's [evidence] and [municipalities]: the reports' grant rule,
    # periods and strikes (``CentralConfig.evidence_settings``)
    evidence: Evidence = field(default_factory=Evidence)
    session_idle_s: int = 2 * 3600
    session_max_s: int = 12 * 3600
    throttle: Throttle = field(default_factory=Throttle)
    secure_cookies: bool = True
    argon2_profile: str = "default"
    # addresses of a reverse proxy whose X-Forwarded-For/-Proto to believe
    # (docs/central.md "Web page"); None: nobody's
    forwarded_allow_ips: str | None = None
    live_every_ms: int = 4000  # how often pages with live content refresh it

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def cookie_name(self) -> str:
        # __Host-: the browser sends it only to this host, over a secure origin, path /
        return "__Host-hallvakt" if self.secure_cookies else "hallvakt"

    @property
    def login_cookie_name(self) -> str:
        return "__Host-hallvakt-login" if self.secure_cookies else "hallvakt-login"


class Stores:
    """A store per thread for SQLite, one shared for PostgreSQL (module rules)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._shared: Store | None = None
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()
        if engine_of(url) == "postgresql":
            self._shared = open_store(url, create=False, application_name="hallvakt-web")
            self._opened.append(self._shared)
        else:
            open_store(url, create=False).close()  # exists and migrated, or fail now

    def get(self) -> Store:
        if self._shared is not None:
            return self._shared
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.url, create=False)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for s in opened:
            s.close()


def path_or_none(value: str | None) -> Path | None:
    return None if not value else Path(value)
