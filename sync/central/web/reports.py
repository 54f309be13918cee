"""Reports on the web page: the evidence reports' entry point, and a folder of report files.

Rules this module guarantees:
- ``generator()`` is the evidence reports' entry point when this build has
  it (``sync.central.reports``, docs/central.md "Web page: reports"), else
  None: the page then says that reports are not part of this build yet and
  offers only the report folder.
- ``listing(folder)`` lists the regular files directly in the folder whose
  names are ``SAFE_NAME`` with a report suffix (.csv, .pdf); symbolic links
  and sub-folders are never listed.
- ``open_report(folder, name)`` returns the bytes of one listed file, or
  raises ``NotAReport`` for anything else: a name with a path separator,
  ``..``, a NUL, another suffix, a symbolic link (opened with ``O_NOFOLLOW``)
  or a path that resolves outside the folder. Nothing outside the folder is
  ever read.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,150}")
SUFFIXES = {".csv": "text/csv; charset=utf-8", ".pdf": "application/pdf"}
MAX_BYTES = 64 * 1024 * 1024
ENTRY_POINT = "sync.central.reports"


class NotAReport(LookupError):
    """No report file by that name in the folder."""


@dataclass(frozen=True, slots=True)
class ReportFile:
    name: str
    size: int
    mtime: int
    media_type: str


def generator() -> Any | None:
    """The evidence reports' module when this build has it, else None."""
    try:
        return importlib.import_module(ENTRY_POINT)
    except ModuleNotFoundError as exc:
        if exc.name not in (ENTRY_POINT, "sync.central"):
            raise  # the module is there but broken: say so loudly
        return None


def _checked(name: str) -> str:
    if not isinstance(name, str) or SAFE_NAME.fullmatch(name) is None or ".." in name:
        raise NotAReport(name)
    if Path(name).suffix.lower() not in SUFFIXES:
        raise NotAReport(name)
    return name


def listing(folder: Path | None) -> list[ReportFile]:
    """The report files in ``folder`` (module rules), newest first."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for entry in os.scandir(folder):
        try:
            _checked(entry.name)
        except NotAReport:
            continue
        if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
            continue
        st = entry.stat(follow_symlinks=False)
        out.append(
            ReportFile(
                entry.name, st.st_size, int(st.st_mtime), SUFFIXES[Path(entry.name).suffix.lower()]
            )
        )
    return sorted(out, key=lambda r: (-r.mtime, r.name))


def open_report(folder: Path | None, name: str) -> tuple[bytes, str]:
    """The content and media type of report ``name`` (module rules)."""
    if folder is None:
        raise NotAReport(name)
    name = _checked(name)
    base = folder.resolve()
    path = base / name
    if path.parent != base:
        raise NotAReport(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise NotAReport(name) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
            raise NotAReport(name)
        data = f.read(MAX_BYTES + 1)
    return data, SUFFIXES[path.suffix.lower()]
