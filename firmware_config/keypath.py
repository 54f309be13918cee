"""Where a value sits in node.toml: a key path and its spelling in messages.

The lowest module of the config package: the schema, its rules and the checks
all name places by a ``KeyPath``, and none of them is needed to spell one.
"""

from __future__ import annotations

import json
import re

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def format_path(path: KeyPath) -> str:
    """``("readers", 2, "address")`` -> ``readers[2].address`` (odd keys quoted as in TOML)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out = f"{out}.{text}" if out else text
    return out
