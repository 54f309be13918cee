"""The kiosk keeps its widgets: the real app in Kivy's offscreen window (the
driver and demo database of test_render.py), probed between steps.

- Today's cards and the frame around it are the same widget objects after the
  clock has moved on, and show the new time, now/next and free slots; slot
  buttons that are gone were hidden, the rest kept.
- A walk-in booked by touch shows another screen and, back on Today, the
  same cards with the new booking and one free slot fewer.
- A text-size and a contrast change restyle the kept widgets: font sizes
  scaled, colours those of the high-contrast theme; buttons still >= 9 mm.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from kiosk.model import TEXT_SCALES
from kiosk.ui.theme import HIGH, rgba

_spec = importlib.util.spec_from_file_location(
    "kiosk_render_helpers", Path(__file__).with_name("test_render.py")
)
assert _spec is not None and _spec.loader is not None
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)  # demo_db() and drive() of the render tests


def plain(probe: dict[str, Any]) -> list[dict[str, Any]]:
    """The labels that are not buttons, top down."""
    return [w for w in probe["widgets"] if w["name"] is None]


def named(probe: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [w for w in probe["widgets"] if (w["name"] or "").startswith(prefix)]


def ids(widgets: list[dict[str, Any]]) -> list[int]:
    return [w["id"] for w in widgets]


def test_today_is_updated_in_place_as_time_passes(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    render.demo_db(db)
    result = render.drive(tmp_path, db, [
        ["probe", "11:00"],
        ["advance", 2 * 3600],  # the kiosk's next ticks see the minutes turn
        ["probe", "13:00"],
        ["advance", 15 * 60],
        ["probe", "13:15"],
    ])  # fmt: skip
    start, later, last = (result["probes"][t] for t in ("11:00", "13:00", "13:15"))
    assert start["screen"] == later["screen"] == last["screen"] == "today"
    # The same frame, title and cards: not one label built again; the
    # offline banner (no word from central for 2 h) shown under the header ...
    banner = plain(later)[2]
    assert banner["text"].startswith("⚠")
    assert ids(plain(later)) == ids(plain(last))
    assert ids(plain(later)) == [*ids(plain(start))[:2], banner["id"], *ids(plain(start))[2:]]
    assert ids(named(later, "lang:") + named(later, "textsize")) == ids(
        named(start, "lang:") + named(start, "textsize")
    )
    # ... showing the new time and free slots.
    texts = {t: [w["text"] for w in plain(result["probes"][t])] for t in ("11:00", "13:00")}
    assert any(t.endswith("11:00") for t in texts["11:00"])
    assert any(t.endswith("13:00") for t in texts["13:00"])
    assert [w["text"] for w in plain(last)] != texts["13:00"]
    before = {w["name"]: w["id"] for w in named(start, "slot:")}
    after = {w["name"]: w["id"] for w in named(later, "slot:")}
    assert "slot:hall.b:11:00" in before and "slot:hall.b:11:00" not in after
    assert 0 < len(after) < len(before)
    assert set(after.values()) <= set(before.values())  # pooled buttons, renamed
    assert all(w["name"].endswith(w["text"][-5:]) for w in named(later, "slot:"))


def test_another_screen_and_back_to_the_same_cards(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    cards = render.demo_db(db)
    result = render.drive(tmp_path, db, [
        ["probe", "today"],
        ["touch", "slot:hall.b:13:00"],
        ["probe", "walkin"],
        ["touch", "next"],
        ["tap", cards["leader"]],
        ["touch", "confirm"],
        ["touch", "done"],
        ["probe", "back"],
    ])  # fmt: skip
    today, walkin, back = (result["probes"][s] for s in ("today", "walkin", "back"))
    assert (today["screen"], walkin["screen"], back["screen"]) == ("today", "walkin", "today")
    assert any(w["text"] == "Boka Sektion B" for w in walkin["widgets"])
    kept = set(ids(plain(today)))
    assert not named(walkin, "slot:")
    assert not kept & set(ids(plain(walkin))[2:])  # only the header is shared
    assert ids(plain(back)) == ids(plain(today))
    booked = [w["text"] for w in plain(back) if "13:00–14:00" in w["text"]]
    assert booked and booked != [w["text"] for w in plain(today) if "13:00–14:00" in w["text"]]
    slots = {w["name"] for w in named(back, "slot:")}
    assert "slot:hall.b:13:00" not in slots and "slot:hall.b:14:00" in slots


def test_text_size_and_contrast_restyle_kept_widgets(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    render.demo_db(db)
    result = render.drive(tmp_path, db, [
        ["probe", "normal"],
        ["touch", "textsize"],
        ["probe", "bigger"],
        ["touch", "contrast"],
        ["probe", "high"],
        ["check"],
    ])  # fmt: skip
    normal, bigger, high = (result["probes"][s] for s in ("normal", "bigger", "high"))
    assert ids(plain(bigger)) == ids(plain(normal)) == ids(plain(high))
    assert ids(named(high, "slot:")) == ids(named(normal, "slot:"))
    for a, b in zip(normal["widgets"], bigger["widgets"], strict=True):
        assert b["font"] == pytest.approx(a["font"] * TEXT_SCALES[1])
    place, *_ = plain(high)
    assert place["fg"] == pytest.approx(list(rgba(HIGH["header"][0])))
    assert place["fill"] == pytest.approx(list(rgba(HIGH["header"][1])))
    title = next(w for w in plain(high) if w["text"] == "Stora hallen")
    assert title["fg"] == pytest.approx(list(rgba(HIGH["card"][0])))
    assert title["fill"] == pytest.approx(list(rgba(HIGH["card"][1])))
    for slot in named(high, "slot:"):
        assert slot["bg"] == pytest.approx(list(rgba(HIGH["button_free"][1])))
        assert slot["fg"] == pytest.approx(list(rgba(HIGH["button_free"][0])))
    chosen = named(high, "lang:sv")[0]
    assert chosen["bg"] == pytest.approx(list(rgba(HIGH["selected"][1])))
    assert result["small"] == []  # restyled buttons grew with their text
