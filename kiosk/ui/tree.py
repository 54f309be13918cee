"""Screens described as plain values, shown on kept widgets.

A screen is a function from the model's state to a tree of specs (``Txt``,
``Btn``, ``Box`` made by ``col``, ``row``, ``grid``, ``flow``, and ``Gap``,
``Qr``, ``Own``); a ``Tree``
shows it on widgets it keeps from one render to the next.

Rules this module guarantees:
- A spec's widget is found by its key (its ``key``, or its place under its
  parent) and kept: a render that changes the words of one label changes
  that label only, and builds nothing. A widget is built only for a key
  seen for the first time or a spec of another kind; a key no longer shown
  is dropped (the screen's widgets are exactly the last spec's).
- A spec equal to the last one given to its widget (the same words, roles,
  sizes, in the same style) is not applied again: nothing is redrawn for it.
  Callbacks never count in that comparison and are always taken.
- Specs hold only values and callbacks into the model: the screen functions
  stay free of widget code (ARCHITECTURE.md point 9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .layout import Column, Flow, Grid, Row, Space, show
from .theme import MIN_TARGET_MM, PRIMARY_TARGET_MM
from .widgets import Press, QrCode, Style, Text


@dataclass(frozen=True, slots=True)
class Txt:
    """Words: body size times ``factor`` (or ``size`` pixels, not scaled)."""

    words: str
    role: str = "screen"
    factor: float = 1.0
    bold: bool = False
    halign: str = "left"
    size: int | None = None
    lines: int = 0  # at most this many lines, shortened (0: all)
    flex: float | None = None  # share a column's height, words centred in it
    fit: bool = False  # as wide as its words on one line (in a row: what it needs)
    key: str = ""


@dataclass(frozen=True, slots=True)
class Btn:
    """A button: at least 9 mm, ``primary`` at least 15 mm, ``height_mm`` if given."""

    words: str
    press: Callable[[], object] = field(compare=False)
    name: str
    role: str = "button"
    factor: float = 1.0
    spoken: str | None = None
    surface: str = "screen"
    primary: bool = False
    fit: bool = False
    height_mm: float | None = None
    flex: float | None = None
    size: int | None = None
    key: str = ""


@dataclass(frozen=True, slots=True)
class Box:
    """A column (``kind`` "col"), row ("row"), grid ("grid", ``cols``) or
    flow ("flow") of children on a ground of ``role``."""

    kind: str
    children: tuple[Any, ...]
    role: str = "screen"
    gap: float = 2.0
    pad: float | None = 0.0
    framed: bool = False
    flex: float | None = None  # share the parent column's height
    width: float | None = None  # in a row: a weight (None: 1), or...
    width_px: int | None = None  # ...a fixed width
    cols: int = 1
    row_mm: float = 0.0
    key: str = ""


def col(*children: Any, **kw: Any) -> Box:
    """A column of ``children`` (None children are left out)."""
    return Box("col", tuple(c for c in children if c is not None), **kw)


def row(*children: Any, **kw: Any) -> Box:
    return Box("row", tuple(c for c in children if c is not None), **kw)


def grid(cols: int, *children: Any, **kw: Any) -> Box:
    return Box("grid", tuple(children), cols=cols, **kw)


def flow(*children: Any, **kw: Any) -> Box:
    return Box("flow", tuple(children), **kw)


@dataclass(frozen=True, slots=True)
class Gap:
    """Empty room: ``mm`` tall, or a share of the column (``flex``)."""

    mm: float = 0.0
    flex: float | None = None
    key: str = ""


@dataclass(frozen=True, slots=True)
class Qr:
    matrix: tuple[tuple[int, ...], ...]
    side: int
    key: str = ""


@dataclass(frozen=True, slots=True)
class Own:
    """A widget of its own kind (the timeline): ``make()`` builds it once,
    ``update(widget, style)`` runs on every render."""

    key: str
    make: Callable[[], Any] = field(compare=False)
    update: Callable[[Any, Style], None] = field(compare=False)
    flex: float | None = None


BOXES: dict[str, type[Any]] = {"col": Column, "row": Row, "grid": Grid, "flow": Flow}


class Tree:
    """The kept widgets of one screen (or one step of a flow)."""

    def __init__(self) -> None:
        self.pool: dict[str, tuple[Any, Any]] = {}  # key -> (widget, spec last applied)
        self.style_key: tuple[object, ...] = ()
        self.built = 0

    def mount(self, spec: Any, st: Style) -> Any:
        """The root widget of ``spec``, its whole tree brought in line."""
        if st.key() != self.style_key:
            self.style_key = st.key()
            for key, (w, _) in list(self.pool.items()):
                self.pool[key] = (w, None)  # a new style: every spec applies again
        seen: set[str] = set()
        root = self._show(spec, "r", st, seen)
        for key in [k for k in self.pool if k not in seen]:
            del self.pool[key]
        return root

    def widgets(self) -> list[Any]:
        return [w for w, _ in self.pool.values()]

    def _show(self, spec: Any, path: str, st: Style, seen: set[str]) -> Any:
        key = spec.key or path
        if key in seen:
            raise ValueError(f"two specs with the key {key!r}")
        seen.add(key)
        w, last = self.pool.get(key, (None, None))
        kind = (type(spec), getattr(spec, "kind", None))
        if w is None or getattr(w, "spec_kind", None) != kind:
            w, last = self._make(spec, st), None
            w.spec_kind = kind
            self.built += 1
        if isinstance(spec, Own):
            w.size_hint_y = spec.flex
            spec.update(w, st)
        elif spec != last:
            _apply(w, spec, st)
        elif isinstance(spec, Btn):
            w.press = spec.press
        self.pool[key] = (w, spec)
        if isinstance(spec, Box):
            kids = [self._show(c, f"{key}/{i}", st, seen) for i, c in enumerate(spec.children)]
            for k in kids:
                if k.parent is not None and k.parent is not w:
                    k.parent.remove_widget(k)
            show(w, kids)
        return w

    @staticmethod
    def _make(spec: Any, st: Style) -> Any:
        if isinstance(spec, Txt):
            return Text(st)
        if isinstance(spec, Btn):
            return Press(st)
        if isinstance(spec, Box):
            return BOXES[spec.kind]()
        if isinstance(spec, Gap):
            return Space()
        if isinstance(spec, Qr):
            return QrCode()
        if isinstance(spec, Own):
            return spec.make()
        raise TypeError(f"not a spec: {spec!r}")


def _flex(w: Any, flex: float | None) -> None:
    w.size_hint_y = flex
    if flex is None and hasattr(w, "natural_h"):
        w.height = w.natural_h


def _apply(w: Any, spec: Any, st: Style) -> None:
    if isinstance(spec, Txt):
        w.size_hint_y = spec.flex
        w.set(st, spec.words, spec.role, spec.size or st.font(spec.factor), spec.bold,
              spec.halign, spec.lines, spec.fit)  # fmt: skip
        _flex(w, spec.flex)
    elif isinstance(spec, Btn):
        w.size_hint_y = spec.flex
        w.set(
            st, spec.words, spec.press, spec.role, spec.size or st.font(spec.factor),
            name=spec.name or spec.words,
            spoken=spec.spoken if spec.spoken is not None else spec.words,
            surface=spec.surface, least_mm=PRIMARY_TARGET_MM if spec.primary else MIN_TARGET_MM,
            fit=spec.fit, height_mm=spec.height_mm,
        )  # fmt: skip
        _flex(w, spec.flex)
    elif isinstance(spec, Box):
        w.style_box(st, spec.role, spec.gap, spec.pad, spec.framed)
        w.cols, w.row_px = spec.cols, st.px(spec.row_mm) if spec.row_mm else 0
        if spec.width_px is not None:
            w.size_hint_x, w.width = None, spec.width_px
        else:
            w.size_hint_x = spec.width or 1
        _flex(w, spec.flex)
        w._trigger_layout()
    elif isinstance(spec, Gap):
        w.size_hint_y = spec.flex
        w.natural_h = st.px(spec.mm) if spec.mm else 0
        _flex(w, spec.flex)
    elif isinstance(spec, Qr):
        w.set(spec.matrix, spec.side)
