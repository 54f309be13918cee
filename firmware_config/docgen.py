"""The reference tables of docs/configuration.md, generated from the schema.

Rules this module guarantees:
- ``reference()`` renders every table of ``firmware_config.model.NodeConfig``: each
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

from .keypath import format_path
from .model import NodeConfig
from .schema import describe, fields_of, nested_table, table_info, table_item

MARK = "<!-- {} GENERATED {} (python -m firmware_config.docgen) -->"
DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
EXAMPLES = Path(__file__).resolve().parent / "examples"


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


def _example(name: str, annotation: Any, example: Any, default: Any) -> str:
    if nested_table(annotation) is not None:
        return "see below"
    value = example if example is not None else default
    return "" if value is None else f"`{name} = {toml_value(value)}`"


def _tables(cls: type, path: str) -> Iterator[tuple[type, str]]:
    yield cls, path
    for f in fields_of(cls):
        sub = nested_table(f.annotation)
        if sub is not None:
            suffix = "[]" if table_item(f.annotation) else ""
            yield from _tables(sub, f"{path}.{f.name}{suffix}" if path else f.name + suffix)


def key_paths() -> list[str]:
    """Every key path of the schema, lists as ``doors[].lock.channel``."""
    out = []
    for cls, path in _tables(NodeConfig, ""):
        out += [f"{path}.{f.name}" if path else f.name for f in fields_of(cls)]
    return out


def reference() -> str:
    """The markdown reference of every table of node.toml."""
    groups: dict[type, list[str]] = {}
    for cls, path in _tables(NodeConfig, ""):
        groups.setdefault(cls, []).append(path)
    out: list[str] = []
    for cls, paths in groups.items():
        info = table_info(cls)
        assert info is not None
        title = ", ".join(f"`{p}`" for p in paths) if paths != [""] else "Top level"
        out += [f"### {title}", ""]
        if info.doc:
            out += [info.doc, ""]
        out += ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
        for f in fields_of(cls):
            k = f.key
            default = "**required**" if k.required else _default(k.default)
            example = _example(f.name, f.annotation, k.example, k.default)
            out.append(
                f"| `{f.name}` | {describe(f.annotation)} | {default} | {k.doc} | {example} |"
            )
        if info.rules:
            out += ["", "Rules: " + "; ".join(r.describe() for r in info.rules) + "."]
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
