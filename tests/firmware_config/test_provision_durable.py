"""``hallvakt provision`` writes durably (issue 13 §6): every secret goes to a
temp file that is fsynced before it takes its name (a link, or a rename with
``--force``), the directory is fsynced after, and each directory it creates is
fsynced into its parent; the temp file is removed before that directory
fsync; secrets are 0600, their directories 0700. The system-level proof, a
real power cut on ext4, is tests/system/test_provision_power_cut.py."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from hallvakt.cli import main
from tests.support.config import EXAMPLES

SECRETS = ("node.key", "credential.key", "reader-entre-in.key", "tls.key")


class Journal:
    """The file system calls of one run, in order: (call, path[, path])."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, ...]] = []
        real_fsync, real_link, real_replace = os.fsync, os.link, os.replace
        real_mkdir, real_unlink = os.mkdir, os.unlink

        def fsync(fd: int) -> None:
            self.calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def link(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
            real_link(src, dst, *a, **kw)
            self.calls.append(("link", os.fspath(src), os.fspath(dst)))

        def replace(src: Any, dst: Any, *a: Any, **kw: Any) -> None:
            real_replace(src, dst, *a, **kw)
            self.calls.append(("replace", os.fspath(src), os.fspath(dst)))

        def mkdir(path: Any, *a: Any, **kw: Any) -> None:
            real_mkdir(path, *a, **kw)
            self.calls.append(("mkdir", os.fspath(path)))

        def unlink(path: Any, *a: Any, **kw: Any) -> None:
            real_unlink(path, *a, **kw)
            self.calls.append(("unlink", os.fspath(path)))

        for name, fn in (
            ("fsync", fsync),
            ("link", link),
            ("replace", replace),
            ("mkdir", mkdir),
            ("unlink", unlink),
        ):
            monkeypatch.setattr(os, name, fn)

    def index(self, *call: str) -> int:
        return self.calls.index(call)

    def named(self, path: Path) -> tuple[int, str]:
        """Where ``path`` took its name, and from which temp file."""
        for i, c in enumerate(self.calls):
            if c[0] in ("link", "replace") and c[2] == str(path):
                return i, c[1]
        raise AssertionError(f"{path} never took its name through link or rename")


def check_durable(journal: Journal, path: Path) -> None:
    at, tmp = journal.named(path)
    assert Path(tmp).parent == path.parent and tmp != str(path)
    assert journal.index("fsync", tmp) < at, f"{path}: its content was not fsynced first"
    # the temp file is gone (a link leaves it; a rename moves it) before the
    # directory is fsynced: a power cut leaves no stray temp file either
    gone = journal.calls.index(("unlink", tmp)) if ("unlink", tmp) in journal.calls else at
    dir_syncs = [i for i, c in enumerate(journal.calls) if c == ("fsync", str(path.parent))]
    assert any(i > gone for i in dir_syncs), f"{path}: its directory was not fsynced after"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not Path(tmp).exists()


def test_provision_fsyncs_every_secret_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "etc" / "node.toml"
    config.parent.mkdir()
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    journal = Journal(monkeypatch)
    assert main(["provision", "--config", str(config), "--csr"]) == 0
    capsys.readouterr()
    secrets = config.parent / "secrets"
    assert sorted(p.name for p in secrets.iterdir()) == sorted(SECRETS)
    for name in SECRETS:
        check_durable(journal, secrets / name)
    # the directory it made: 0700, and fsynced into its parent once made
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    made = journal.index("mkdir", str(secrets))
    assert journal.index("fsync", str(config.parent)) > made

    journal.calls.clear()  # --force replaces each by a rename, as durably
    assert main(["provision", "--config", str(config), "--csr", "--force"]) == 0
    capsys.readouterr()
    for name in SECRETS:
        check_durable(journal, secrets / name)
    assert all(c[0] != "link" for c in journal.calls)
