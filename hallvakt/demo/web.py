"""The web page in ``hallvakt demo``: its demo account, and its URL from its log.

The demo's central gets one admin account, ``demo`` with the password the
demo's panel prints (a demo is local and throwaway: never use it elsewhere).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sync.central.store import open_store
from sync.central.web import accounts

DEMO_USER = "demo"
DEMO_PASSWORD = "hallvakt-demo"  # printed by the demo's panel; loopback only
_URL = re.compile(r"web page on (http://[^\s]+/)")


def add_demo_account(store_url: str) -> None:
    """The demo account in the demo's store (kept if it exists)."""
    with open_store(store_url, create=False) as store:
        if accounts.get(store, DEMO_USER) is None:
            accounts.add(
                store,
                accounts.hasher(),
                DEMO_USER,
                "Demo",
                "admin",
                DEMO_PASSWORD,
                datetime.now(UTC).replace(microsecond=0),
            )


def url_in_log(text: str) -> str | None:
    """The URL ``hallvakt central web`` printed, or None yet."""
    found = _URL.search(text)
    return found.group(1) if found else None
