"""The effective configuration, as ``hallvakt config show`` prints it.

Rules this module guarantees:
- Every key is shown with its effective value: defaults filled in, paths
  resolved against the config file's directory.
- No secret is ever shown: a config holds only the paths of secret files, and
  those files are not opened here. Central's pinned keys, which are public,
  are shown as their SHA-256 fingerprints.
- ``policy`` shows only the overridden keys; every other key is central's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import BrokerURL, CentralKey, InputSource, NodeConfig, PolicyOverrides, ScreenSize


def _plain(value: Any) -> Any:
    if isinstance(value, CentralKey):
        return value.fingerprint
    if isinstance(value, PolicyOverrides):
        return {k: v for k, v in _plain_fields(value).items() if v is not None}
    if isinstance(value, Path | BrokerURL | ScreenSize | InputSource):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _plain_fields(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def effective(cfg: NodeConfig) -> dict[str, Any]:
    """``cfg`` as JSON-ready data with no secret in it."""
    out: dict[str, Any] = _plain(cfg)
    return out
