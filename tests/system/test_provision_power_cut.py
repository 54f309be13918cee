"""``hallvakt provision`` across a real power cut (issue 13 §6).

The node's /etc/hallvakt is an ext4 file system on a loop device
(tests/support/powercut.py). The installer's node.toml is there and synced;
``hallvakt provision --csr`` runs as a process of its own and exits; the
power is cut at once, before the kernel would have written anything back on
its own (a never-synced canary proves each cut lost what was not synced),
and the copy of the disk is mounted as the next boot would. Every secret
must be there whole: it loads, it is the one provisioning wrote, it is 0600.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_config.secrets import (
    load_credential_key,
    load_node_key,
    load_reader_key,
    load_tls_key,
)
from tests.support import powercut
from tests.support.config import EXAMPLES
from tests.support.e2e import hallvakt_argv

pytestmark = pytest.mark.skipif(
    powercut.available() is not None, reason=f"power cut: {powercut.available()}"
)
LOADERS = {
    "node.key": load_node_key,
    "credential.key": load_credential_key,
    "reader-entre-in.key": load_reader_key,
    "tls.key": load_tls_key,
}


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[powercut.PowerCutFs]:
    fs = powercut.PowerCutFs(tmp_path / "disk.img", tmp_path / "etc")
    fs.create()
    try:
        yield fs
    finally:
        fs.unmount()


def test_provisioned_secrets_survive_a_power_cut_whole(fs: powercut.PowerCutFs) -> None:
    config = fs.mountpoint / "node.toml"
    shutil.copy(EXAMPLES / "small-hall.toml", config)
    fs.sync()  # the installer's node.toml is on disk before provisioning
    proc = subprocess.run(
        [*hallvakt_argv(), "provision", "--config", str(config), "--csr"],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    secrets = fs.mountpoint / "secrets"
    written = {p.name: p.read_bytes() for p in secrets.iterdir()}
    assert sorted(written) == sorted(LOADERS)
    canary = fs.canary()

    fs.cut()

    assert not canary.exists() or canary.read_bytes() != b"unsynced" * 512, (
        "the cut kept an unsynced write: it proves nothing"
    )
    assert stat.S_IMODE(os.stat(secrets).st_mode) == 0o700
    after = sorted(p.name for p in secrets.iterdir())
    assert after == sorted(LOADERS), after  # no temp files
    for name, load in LOADERS.items():
        path = secrets / name
        assert path.read_bytes() == written[name], f"{name} is not what provisioning wrote"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        load(path)
