"""The reference tables of docs/configuration.md, generated from the schema.

Rules this module guarantees:
- ``reference()`` renders every table of ``firmware_config.config.NODE``: each
  key with its type, default and meaning, and each table's rules. A table used
  at several places (the three door inputs) is rendered once.
- ``examples()`` renders every file of firmware_config/examples verbatim.
- ``python -m firmware_config.docgen [--check] [DOC]`` rewrites (or, with
  ``--check``, compares) the blocks between their markers in the doc; a test
  runs the comparison, so the doc cannot drift from the schema or examples.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import NODE
from .schema import Key, ListOf, MapOf, Table, Validator, format_path

MARK = "<!-- {} GENERATED {} (python -m firmware_config.docgen) -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
EXAMPLES = Path(__file__).resolve().parent / "examples"


def _nested(v: Validator[Any]) -> Table[Any] | None:
    if isinstance(v, Table):
        return v
    if isinstance(v, ListOf) and isinstance(v.item, Table):
        return v.item
    return None


def _type(v: Validator[Any]) -> str:
    if isinstance(v, Table):
        return "table"
    if isinstance(v, ListOf) and isinstance(v.item, Table):
        return "array of tables"
    if isinstance(v, ListOf):
        return f"array of {v.item.describe()}" + (", no repeats" if v.unique else "")
    if isinstance(v, MapOf):
        return f"table: {v.key.describe()} = {v.value.describe()}"
    return v.describe()


def toml_value(value: Any) -> str:
    """A raw value as TOML (strings, integers, booleans, arrays, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{format_path((k,))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return json.dumps(value, ensure_ascii=False)


def _default(value: Any) -> str:
    return "not set" if value is None else f"`{toml_value(value)}`"


def _example(key: Key, v: Validator[Any]) -> str:
    if _nested(v) is not None:
        return "see below"
    value = key.example if key.example is not None else key.default
    return "" if value is None else f"`{key.name} = {toml_value(value)}`"


def _tables(table: Table[Any], path: str) -> Iterator[tuple[Table[Any], str]]:
    yield table, path
    for key, v in table.keys.items():
        sub = _nested(v)
        if sub is not None:
            suffix = "[]" if isinstance(v, ListOf) else ""
            yield from _tables(sub, f"{path}.{key.name}{suffix}" if path else key.name + suffix)


def key_paths() -> list[str]:
    """Every key path of the schema, lists as ``doors[].lock.channel``."""
    out = []
    for table, path in _tables(NODE, ""):
        out += [f"{path}.{k.name}" if path else k.name for k in table.keys]
    return out


def reference() -> str:
    """The markdown reference of every table of node.toml."""
    groups: dict[int, tuple[Table[Any], list[str]]] = {}
    for table, path in _tables(NODE, ""):
        groups.setdefault(id(table), (table, []))[1].append(path)
    out: list[str] = []
    for table, paths in groups.values():
        title = ", ".join(f"`{p}`" for p in paths) if paths != [""] else "Top level"
        out += [f"### {title}", ""]
        if table.doc:
            out += [table.doc, ""]
        out += ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
        for key, v in table.keys.items():
            default = "**required**" if key.required else _default(key.default)
            out.append(
                f"| `{key.name}` | {_type(v)} | {default} | {key.doc} | {_example(key, v)} |"
            )
        if table.rules:
            out += ["", "Rules: " + "; ".join(r.describe() for r in table.rules) + "."]
        out.append("")
    return "\n".join(out)


def examples() -> str:
    """Every example config, verbatim, as a markdown section each."""
    out: list[str] = []
    for path in sorted(EXAMPLES.glob("*.toml"), reverse=True):  # small-hall, then arena
        text = path.read_text(encoding="utf-8")
        out += [
            f"### firmware_config/examples/{path.name}",
            "",
            "```toml",
            text.rstrip("\n"),
            "```",
            "",
        ]
    return "\n".join(out)


def splice(doc: str, name: str, block: str) -> str:
    """``doc`` with the text between the ``name`` markers replaced by ``block``."""
    begin, end = MARK.format("BEGIN", name), MARK.format("END", name)
    head, found_begin, rest = doc.partition(begin)
    _, found_end, tail = rest.partition(end)
    if not found_begin or not found_end:
        raise ValueError(f"the doc needs the markers {begin!r} and {end!r}")
    return f"{head}{begin}\n\n{block}\n{end}{tail}"


def render(doc: str) -> str:
    """``doc`` with both generated blocks brought up to date."""
    return splice(splice(doc, "REFERENCE", reference()), "EXAMPLES", examples())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_config.docgen")
    parser.add_argument("doc", nargs="?", type=Path, default=DOC)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"{args.doc}: generated blocks are stale; run python -m firmware_config.docgen")
            return 1
        return 0
    if new != text:
        args.doc.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
