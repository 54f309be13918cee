"""Words broken into at most N lines (the timeline's blocks, the cards): whole
words at spaces, never wider than the room, the last line cut with "…" when
words are left out. Measured here with a fixed-width stand-in for the font
(10 px a character), so the rule is checked without a window; the render tests
check the real font on the screen."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as hs

from kiosk.ui.words import ELLIPSIS, Words


class Fixed(Words):
    def _measured(self, words: str, px: int, bold: bool) -> tuple[int, int]:
        lines = words.split("\n")
        return 10 * max(len(line) for line in lines), 27 * len(lines)


def test_whole_words_then_an_ellipsis_at_the_end() -> None:
    w = Fixed()
    assert w.broken("Hyllie BK Taekwondo", 23, False, 180, 1) == "Hyllie BK Taekwon" + ELLIPSIS
    assert w.broken("Hyllie BK Taekwondo", 23, False, 120, 2) == "Hyllie BK\nTaekwondo"
    # the words left over shorten the last line at its end, never in the middle
    got = w.broken("IK Skurup Innebandy (drop-in, not yet confirmed)", 23, False, 200, 2)
    assert got == "IK Skurup Innebandy\n(drop-in, not yet c" + ELLIPSIS
    assert (
        w.broken("Supercalifragilistic club", 23, False, 100, 2)
        == "Supercali" + ELLIPSIS + "\nclub"
    )
    assert w.broken("Bokad", 23, False, 100, 3) == "Bokad"


words = hs.lists(hs.text("abcåäö-()", min_size=1, max_size=14), min_size=1, max_size=8)


@given(words, hs.integers(20, 300), hs.integers(1, 3))
def test_never_more_lines_nor_wider_than_the_room(parts: list[str], width: int, n: int) -> None:
    text = " ".join(parts)
    got = Fixed().broken(text, 23, False, width, n).split("\n")
    assert 1 <= len(got) <= n
    assert all(10 * len(line) <= width or line == ELLIPSIS for line in got)
    if not any(ELLIPSIS in line for line in got):  # nothing left out
        assert " ".join(got) == text
