"""Fixtures for the node configuration tests (helpers: tests.support.config).

- ``base``: a deep copy of ``tests.support.config.BASE``, a valid config document.
- ``central``: a test CA that signs node certificate requests as central would.
- ``provisioned(example)``: copy an example config to a temp dir, provision it
  with a CSR, have ``central`` sign it, and return the config path: ready for
  ``config check``.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from firmware_config.config import load_config
from firmware_config.provision import provision
from tests.support.config import BASE, EXAMPLES, Central, install_certificates


@pytest.fixture
def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


@pytest.fixture(scope="session")
def central() -> Central:
    return Central()


@pytest.fixture
def provisioned(tmp_path: Path, central: Central) -> Callable[[str], Path]:
    def make(example: str) -> Path:
        target = tmp_path / example
        target.mkdir()
        config = target / "node.toml"
        shutil.copy(EXAMPLES / f"{example}.toml", config)
        done = provision(load_config(config, files=False), csr=True)
        assert done.registration.csr_pem is not None
        install_certificates(config, central, done.registration.csr_pem)
        return config

    return make
