"""The door's journal: records the database could not take, until it can.

When a write of the door controller fails (the disk is full, another process
holds the write lock, an I/O error), its records go to this small append-only
file beside the database; ``merge_into`` writes them into the database, in
order, once it takes writes again.

Rules this module guarantees:
- The file's space is reserved when it is opened (``posix_fallocate`` of
  ``capacity`` bytes), and records are written into that space in place: a
  full disk does not stop the journal once it exists. A batch that no longer
  fits raises ``JournalFull`` and writes nothing.
- ``append`` returns only once the batch is on the device (``fdatasync``).
  A batch is one write: its records and an end marker after them.
- Every record is framed with its length and a CRC-32 over the journal's
  generation and the record, so a torn write, a record of an earlier
  generation or garbage ends the journal there and is never merged.
- Nothing is lost or merged twice: ``merge_into`` writes the records not yet
  merged and moves ``door_journal.merged`` for this generation in one
  transaction; only then is the journal reset to a new, empty generation. A
  crash between the two merges nothing again (the count says so).
- A header that cannot be read (a torn reset) starts a new generation: a reset
  happens only after a merge committed, so nothing unmerged is dropped.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from .door_records import DURABLE, DoorRecord, from_json, to_json, write_records
from .store import Replica, ReplicaError

CAPACITY = 2 * 1024 * 1024  # about 5,000 access events
MAGIC = b"HVDJ1\n"
_HEADER = 64  # magic, 16-byte generation, padding
_FRAME = struct.Struct("<II")  # length, crc32
_END = b"\0" * _FRAME.size


class JournalError(ReplicaError):
    """The journal cannot be opened or written (the cause is chained)."""


class JournalFull(JournalError):
    """The batch does not fit in the journal's reserved space."""


def journal_path(database: str | Path) -> Path:
    """Where the journal of the database at ``database`` lives (beside it)."""
    return Path(f"{database}-door-journal")


@dataclass(frozen=True, slots=True)
class Pending:
    generation: str
    records: tuple[DoorRecord, ...]


class Journal:
    """One open journal file. Not thread-safe: one writer thread owns it."""

    def __init__(self, path: Path, fd: int, capacity: int) -> None:
        self.path, self._fd, self.capacity = path, fd, capacity
        self.generation = b""
        self._records: list[DoorRecord] = []
        self._end = _HEADER

    @classmethod
    def open(cls, path: str | Path, capacity: int = CAPACITY) -> Journal:
        """Open (creating and reserving ``capacity`` bytes) the journal at ``path``.

        Raises ``JournalError`` when it cannot be created or its space reserved.
        """
        path = Path(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the journal {path}: {exc}") from exc
        try:
            size = os.fstat(fd).st_size
            capacity = max(capacity, size)
            if size < capacity:
                os.posix_fallocate(fd, 0, capacity)
            journal = cls(path, fd, capacity)
            journal._load()
        except OSError as exc:
            os.close(fd)
            raise JournalError(f"cannot reserve {capacity} bytes for {path}: {exc}") from exc
        return journal

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -----------------------------------------------------------------

    def _load(self) -> None:
        header = os.pread(self._fd, _HEADER, 0)
        if len(header) < _HEADER or not header.startswith(MAGIC):
            self._reset()  # new file, or a torn reset: nothing unmerged is in it
            return
        self.generation = header[len(MAGIC) : len(MAGIC) + 16]
        offset, records = _HEADER, []
        while offset + _FRAME.size <= self.capacity:
            length, crc = _FRAME.unpack(os.pread(self._fd, _FRAME.size, offset))
            if length == 0 or offset + _FRAME.size + length > self.capacity:
                break
            payload = os.pread(self._fd, length, offset + _FRAME.size)
            if zlib.crc32(self.generation + payload) != crc:
                break
            try:
                records.append(from_json(json.loads(payload)))
            except ValueError:
                break  # cannot happen under a good CRC; never merge what we cannot read
            offset += _FRAME.size + length
        self._records, self._end = records, offset

    def pending(self) -> Pending:
        """The records not yet reset away, oldest first (merged ones included)."""
        return Pending(self.generation.hex(), tuple(self._records))

    def __len__(self) -> int:
        return len(self._records)

    # --- writing -------------------------------------------------------------------

    def append(self, records: tuple[DoorRecord, ...] | list[DoorRecord]) -> None:
        """Append ``records`` (durable ones; others are left out) and sync.

        Raises ``JournalFull`` when they do not fit, ``JournalError`` when the
        write or the sync fails; then nothing is appended.
        """
        keep = [r for r in records if isinstance(r, DURABLE)]
        if not keep:
            return
        chunks = []
        for rec in keep:
            payload = json.dumps(to_json(rec), separators=(",", ":")).encode()
            chunks.append(_FRAME.pack(len(payload), zlib.crc32(self.generation + payload)))
            chunks.append(payload)
        data = b"".join(chunks)
        if self._end + len(data) + len(_END) > self.capacity:
            raise JournalFull(
                f"{self.path}: {len(keep)} records ({len(data)} bytes) do not fit"
                f" ({self.capacity - self._end} bytes left)"
            )
        try:
            _write_all(self._fd, data + _END, self._end)
            os.fdatasync(self._fd)
        except OSError as exc:
            raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
        self._records.extend(keep)
        self._end += len(data)

    def _reset(self) -> None:
        """Start a new, empty generation (after a merge committed)."""
        generation = os.urandom(16)
        header = (MAGIC + generation).ljust(_HEADER, b"\0")
        _write_all(self._fd, header + _END, 0)
        os.fdatasync(self._fd)
        self.generation, self._records, self._end = generation, [], _HEADER

    def merge_into(self, rep: Replica) -> int:
        """Write the records not yet merged into ``rep``, in order, then reset.

        Returns how many records were written. Raises what the database raises
        (``sqlite3.Error``…) with nothing merged, or ``JournalError`` when the
        reset fails (the merge stands; the next merge writes nothing twice).
        """
        if not self._records:
            return 0
        gen = self.generation.hex()
        with rep.write():
            row = rep.conn.execute(
                "SELECT merged FROM door_journal WHERE generation = ?", [gen]
            ).fetchone()
            done = 0 if row is None else int(row[0])
            todo = self._records[done:]
            write_records(rep, todo)
            rep.conn.execute("DELETE FROM door_journal WHERE generation != ?", [gen])
            rep.conn.execute(
                "INSERT INTO door_journal VALUES (?, ?) ON CONFLICT (generation)"
                " DO UPDATE SET merged = excluded.merged",
                [gen, len(self._records)],
            )
        try:
            self._reset()
        except OSError as exc:
            raise JournalError(f"cannot reset the journal {self.path}: {exc}") from exc
        return len(todo)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        if n <= 0:
            raise OSError("short write")
        data, offset = data[n:], offset + n
