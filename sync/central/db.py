"""Central's store, under the name the rest of the project has always imported.

The store itself is ``sync.central.store`` (one interface, SQLite or
PostgreSQL by URL). ``Store.open(path_or_url)`` opens either.
"""

from __future__ import annotations

from .store import TABLES, Result, Store, StoreError, open_store

__all__ = ["TABLES", "Result", "Store", "StoreError", "open_store"]
