"""Opening the node database file: its directory, and a cheap look at the file.

Rules this module guarantees:
- ``prepare_directory``: the database's directory exists afterwards, or
  ``ReplicaUnavailable`` says in one line why not. With ``create`` a missing
  directory is made with mode 0700 (the three node processes run as one user;
  deploy/systemd's ``StateDirectoryMode=0700`` makes the same); without it
  (``hallvakt status``) nothing is created.
- ``check_size`` and ``probe_roots`` run on every open and costs well under a millisecond
  whatever the file's size: the header's page count against the file's size
  (when no write-ahead log holds newer pages), and the first row of every table
  and index (so a damaged root page is found). A file that fails raises
  ``ReplicaDamaged`` naming what is wrong. The full ``quick_check`` reads the
  whole file (about 1 s per GB) and runs once per boot instead
  (``sync.replica.integrity``).
- ``check_size`` reads the header only when this process has the file open
  nowhere else: closing a descriptor drops every POSIX lock the process
  holds on the file, SQLite's included (https://sqlite.org/howtocorrupt.html,
  2.2), and without its shared lock another process's last close may
  checkpoint and delete the log a connection here still writes to. A
  second connection (the link's integrity thread, a test's) is opened
  after the first one checked the file.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import struct
from pathlib import Path

from .errors import ReplicaDamaged, ReplicaUnavailable

DIR_MODE = 0o700
_PARTIAL = re.compile(r"\)\s+WHERE\s+(.+)$", re.IGNORECASE | re.DOTALL)


def prepare_directory(path: str | Path, *, create: bool) -> None:
    """Make sure the directory of the database at ``path`` exists (module rules)."""
    if str(path) == ":memory:":
        return
    folder = Path(path).absolute().parent
    if folder.is_dir():
        return
    if folder.exists():
        raise ReplicaUnavailable(f"node database {path}: {folder} is not a directory")
    if not create:
        raise ReplicaUnavailable(
            f"node database {path}: the directory {folder} does not exist"
            " (no node process has run here yet: `hallvakt sync` creates it)"
        )
    try:
        folder.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        pass  # another node process made it just now
    except OSError as exc:
        raise ReplicaUnavailable(
            f"node database {path}: the directory {folder} does not exist and cannot be"
            f" created ({exc.strerror or exc})"
        ) from None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def probe_roots(conn: sqlite3.Connection) -> None:
    """Read the first row of every table and index: a damaged root page (or a
    page past the end of a cut file) raises ``ReplicaDamaged`` on a
    ``GuardedConnection``. One read transaction: the schema it lists is the
    one it reads, even while the link drops a snapshot's staging tables."""
    if conn.in_transaction:
        _probe(conn)
        return
    conn.execute("BEGIN")
    try:
        _probe(conn)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _probe(conn: sqlite3.Connection) -> None:
    objects = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'index')"
        " AND rootpage > 0 ORDER BY rootpage"
    ).fetchall()
    for kind, name, table, sql in objects:
        if kind == "table":
            conn.execute(f"SELECT * FROM {_quote(name)} NOT INDEXED LIMIT 1").fetchall()
            continue
        partial = _PARTIAL.search(sql or "")  # a partial index serves only its own WHERE
        where = f" WHERE {partial.group(1)}" if partial else ""
        conn.execute(
            f"SELECT 1 FROM {_quote(table)} INDEXED BY {_quote(name)}{where} LIMIT 1"
        ).fetchall()


def _open_here(path: Path) -> bool:
    """Whether a descriptor of this process refers to the file at ``path``
    (``/proc/self/fd``; False where that cannot be read, or no such file)."""
    try:
        want = os.stat(path)
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/self/fd/{fd}")
            if (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino):
                return True
    return False


def check_size(path: str | Path) -> None:
    """Raise ``ReplicaDamaged`` for a file shorter than its header's page count:
    it was cut short (https://sqlite.org/fileformat2.html#the_database_header).
    Call it before opening: SQLite may extend the file."""
    if str(path) == ":memory:":
        return
    path = Path(path)
    try:
        wal = path.with_name(path.name + "-wal").stat().st_size
    except FileNotFoundError:
        wal = 0
    if wal > 32:
        return  # newer pages may be in the log; the root page probes still run
    if _open_here(path):
        return  # checked when it was opened; reading it now would drop its locks
    try:
        with path.open("rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return  # SQLite itself reports what it cannot read
    if len(header) < 100:
        return
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    counter, pages, valid_for = (
        struct.unpack(">I", header[24:28])[0],
        struct.unpack(">I", header[28:32])[0],
        struct.unpack(">I", header[92:96])[0],
    )
    if pages and counter == valid_for and size < pages * page_size:
        raise ReplicaDamaged(
            f"node database {path}: the file is cut short ({size} bytes, its header says"
            f" {pages} pages of {page_size})"
        )
