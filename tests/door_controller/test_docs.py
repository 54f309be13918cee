"""docs/door.md shows the door table exactly as the code has it."""

from __future__ import annotations

from pathlib import Path

from door_controller.door_state import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "door.md"


def test_door_doc_embeds_the_current_table() -> None:
    assert markdown_table() in DOC.read_text(encoding="utf-8")
