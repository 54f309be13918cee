"""docs/configuration.md documents every key, and its generated parts are current."""

from __future__ import annotations

import re

from firmware_config.docgen import DOC, EXAMPLES, key_paths, reference, render


def test_the_generated_blocks_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m firmware_config.docgen"


def test_every_key_has_a_row_with_an_example() -> None:
    ref = reference()
    sections = re.split(r"^### ", ref, flags=re.M)
    documented = set()
    for section in sections[1:]:
        title, _, body = section.partition("\n")
        paths = re.findall(r"`([^`]+)`", title) or [""]
        for row in re.findall(r"^\| `([^`]+)` \|(.*)\|$", body, flags=re.M):
            name, cells = row
            example = cells.split("|")[-1].strip()
            assert example, f"{name} has no example"
            documented |= {f"{p}.{name}" if p else name for p in paths}
    assert documented == set(key_paths())


def test_the_doc_shows_both_examples_verbatim() -> None:
    text = DOC.read_text(encoding="utf-8")
    for example in EXAMPLES.glob("*.toml"):
        assert example.read_text(encoding="utf-8").rstrip("\n") in text
