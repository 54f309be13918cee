"""Draw again only the part of the window that changed.

Kivy draws the whole window for every frame. With software GL (llvmpipe,
one rasterizer thread) that is every pixel of 1080x1920 each time: tens of
milliseconds for a minute turning on the clock. When the platform keeps the
last frame in the buffer drawn into, the kiosk draws only the rectangles
that changed, each with GL's scissor test (which software GL honours by
skipping every pixel outside it).

Rules this module guarantees:
- Partial drawing is used only where the platform keeps the frame: an EGL
  pixel buffer (SDL's offscreen driver; EGL 1.5 §3.10.1: a swap leaves a
  pixel buffer as it is), an EGL window surface that accepts
  ``EGL_BUFFER_PRESERVED``, or one that tells each buffer's age
  (``EGL_EXT_buffer_age``: what changed over that many frames is drawn).
  Anywhere else, and with ``HALLVAKT_KIOSK_REDRAW=full``, every frame is
  whole, as Kivy draws it.
- What changed is found by comparing, frame to frame, every drawn widget's
  look (its words' texture, colours, focus) and place in the window: a
  widget that changed, appeared or went away damages where it was and where
  it is, a little wider (the focus ring is drawn outside a button). The
  timeline damages its now-line's band when only the minute moved.
- The first frame, a resize and a new clear colour draw the whole window.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

from kivy.core.window import Window
from kivy.graphics.opengl import GL_SCISSOR_TEST, glDisable, glEnable, glScissor
from kivy.uix.scrollview import ScrollView

from .dayview import DayView
from .layout import Stack
from .widgets import Painted, QrCode, run_before_frame

Rect = tuple[int, int, int, int]  # x, y, width, height in window pixels
MARGIN = 8  # pixels around a damaged widget (outlines, the focus ring outside it)
MAX_PASSES = 4
# Drawing a rectangle again walks every instruction of the window once more:
# about what filling this many pixels costs in software GL (measured on Today
# with 280 bookings: ~1.8 ms a pass; ~1 ms per 100,000 pixels).
PASS_COST_PX = 200_000
# Damage over this share of the window is drawn whole: a clear of the whole
# window is faster in software GL than a scissored one, and nothing is lost.
WHOLE_SHARE = 0.5

EGL_DRAW, EGL_EXTENSIONS = 0x3059, 0x3055
EGL_SWAP_BEHAVIOR, EGL_BUFFER_PRESERVED, EGL_BUFFER_AGE = 0x3093, 0x3094, 0x313D


def _sdl_driver() -> str:
    """The SDL video driver Kivy's window runs on ("" when unknown)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libSDL2" in line and "/" in line}
    except OSError:
        return ""
    for path in paths:
        try:
            sdl = ctypes.CDLL(path)
            sdl.SDL_GetCurrentVideoDriver.restype = ctypes.c_char_p
            name: bytes | None = sdl.SDL_GetCurrentVideoDriver()
        except (OSError, AttributeError):
            continue
        return (name or b"").decode()
    return ""


class Egl:
    """The current EGL display and draw surface, if the window uses EGL."""

    def __init__(self) -> None:
        self.lib: Any = None
        self.dpy: int | None = None
        self.surf: int | None = None
        name = ctypes.util.find_library("EGL")
        if name is None:
            return
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            return
        lib.eglGetCurrentDisplay.restype = ctypes.c_void_p
        lib.eglGetCurrentSurface.restype = ctypes.c_void_p
        lib.eglGetCurrentSurface.argtypes = [ctypes.c_int]
        lib.eglQuerySurface.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int)]  # fmt: skip
        lib.eglSurfaceAttrib.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                         ctypes.c_int]  # fmt: skip
        lib.eglQueryString.restype = ctypes.c_char_p
        lib.eglQueryString.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.lib, self.dpy = lib, lib.eglGetCurrentDisplay()
        self.surf = lib.eglGetCurrentSurface(EGL_DRAW) if self.dpy else None

    @property
    def current(self) -> bool:
        return bool(self.dpy and self.surf)

    def preserve(self) -> bool:
        return bool(self.lib.eglSurfaceAttrib(self.dpy, self.surf, EGL_SWAP_BEHAVIOR,
                                              EGL_BUFFER_PRESERVED))  # fmt: skip

    def has(self, extension: str) -> bool:
        names: bytes = self.lib.eglQueryString(self.dpy, EGL_EXTENSIONS) or b""
        return extension.encode() in names.split()

    def buffer_age(self) -> int:
        age = ctypes.c_int(0)
        if not self.lib.eglQuerySurface(self.dpy, self.surf, EGL_BUFFER_AGE, ctypes.byref(age)):
            return 0
        return age.value


def platform_mode() -> tuple[str, Egl | None]:
    """ "kept" (the last frame stays), "age" (buffers of known age) or "full"."""
    if os.environ.get("HALLVAKT_KIOSK_REDRAW", "") == "full":
        return "full", None
    if _sdl_driver() == "offscreen":
        return "kept", None
    egl = Egl()
    if not egl.current:
        return "full", None
    if egl.preserve():
        return "kept", egl
    if egl.has("EGL_EXT_buffer_age"):
        return "age", egl
    return "full", None


def _look(w: Any) -> tuple[object, ...] | None:
    """What a widget draws, but its place; None for a widget that draws nothing."""
    if isinstance(w, Painted | Stack | QrCode):
        look: tuple[object, ...] | None = w.look()
        return look
    if isinstance(w, DayView):
        return ("day",)  # what changed inside it, it says itself (take_damage)
    if isinstance(w, ScrollView):
        return ("scroll", w.scroll_y, w.bar_color[3] if w.bar_color else 0, id(w))
    return None


def _ink(w: Any) -> Rect | None:
    """Where a widget's words are drawn (window pixels), a little wider."""
    if not isinstance(w, Painted) or w.tex is None:
        return None
    x, y = w.to_window(*w._words.pos)
    tw, th = w._words.size
    return (int(x) - 2, int(y) - 2, int(tw) + 4, int(th) + 4)


def _union(a: Rect, b: Rect) -> Rect:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _area(r: Rect) -> int:
    return max(0, r[2]) * max(0, r[3])


def passes(rects: list[Rect], limit: int = MAX_PASSES) -> list[Rect]:
    """``rects`` as at most ``limit`` rectangles covering them, drawn at the
    least cost: the pair whose union wastes the fewest pixels is joined,
    again and again; of the ways along that road, the one with the fewest
    pixels plus ``PASS_COST_PX`` for each rectangle. Many rectangles, or
    ones that cover most of their bounding box, are drawn as that box."""
    out = list(dict.fromkeys(r for r in rects if _area(r)))
    if not out:
        return []
    box = out[0]
    for r in out[1:]:
        box = _union(box, r)
    if len(out) > 3 * limit or sum(_area(r) for r in out) >= _area(box) // 2:
        return [box]
    best_cost, best = -1.0, out
    while out:
        if len(out) <= limit:
            cost = sum(_area(r) for r in out) + PASS_COST_PX * len(out)
            if best_cost < 0 or cost < best_cost:
                best_cost, best = cost, out
        if len(out) == 1:
            break
        pick: tuple[int, int, int] | None = None
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                waste = _area(_union(out[i], out[j])) - _area(out[i]) - _area(out[j])
                if pick is None or waste < pick[0]:
                    pick = (waste, i, j)
        assert pick is not None
        _, i, j = pick
        out = [r for k, r in enumerate(out) if k not in (i, j)] + [_union(out[i], out[j])]
    return best


class Redraw:
    """The damage of one window's frames, and the drawing of only that."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.mode = "full"
        self.egl: Egl | None = None
        self._last: dict[int, tuple[Any, tuple[object, ...], Rect, Rect | None]] = {}
        self._window: tuple[object, ...] = ()
        self._history: list[list[Rect] | None] = []  # "age": each frame's damage, newest last
        self.frames = self.partial = 0
        self.drawn_px = 0  # pixels drawn by the last frame (what software GL paid for)
        self.last: tuple[list[Rect], list[Rect]] = ([], [])  # the last damage, and its passes

    def start(self) -> None:
        """Ask the platform (after the window exists) and take over drawing."""
        self.mode, self.egl = platform_mode()
        Window.bind(on_draw=self._on_draw)

    def whole(self) -> None:
        """Draw the next frame whole (tests compare it with the partial ones)."""
        self._window = ()

    def damage(self) -> list[Rect] | None:
        """What changed since the last frame (None: everything)."""
        window = (Window.size, tuple(Window.clearcolor))
        whole = window != self._window or not self._last
        self._window = window
        now: dict[int, tuple[Any, tuple[object, ...], Rect, Rect | None]] = {}
        rects: list[Rect] = []
        for w in self.root.walk(restrict=True):
            look = _look(w)
            if look is None:
                continue
            x, y = w.to_window(w.x, w.y)
            rect = (int(x) - MARGIN, int(y) - MARGIN, int(w.width) + 2 * MARGIN,
                    int(w.height) + 2 * MARGIN)  # fmt: skip
            ink = _ink(w)
            now[id(w)] = (w, look, rect, ink)
            old = self._last.get(id(w))
            if old is None or old[0] is not w:
                rects.append(rect)
            elif old[2] != rect:
                rects += [old[2], rect]
            elif old[1] != look:
                if old[1][1:] == look[1:] and old[3] is not None and ink is not None:
                    rects += [old[3], ink]  # new words, nothing else: where the words are
                else:
                    rects.append(rect)
            if isinstance(w, DayView):
                inside = w.take_damage()
                rects += [rect] if inside is None else inside
                bands = (w.now_band(), w.mark_band())
                was = getattr(w, "_bands_drawn", (None, None))
                for old_band, band in zip(was, bands, strict=True):
                    if band != old_band:
                        rects += [r for r in (old_band, band) if r is not None]
                w._bands_drawn = bands
        for key, entry in self._last.items():
            if key not in now or now[key][0] is not entry[0]:
                rects.append(entry[2])
        self._last = now
        return None if whole else rects

    def _on_draw(self, window: Any) -> bool:
        run_before_frame()
        if self.mode == "full":
            self.frames += 1
            self.drawn_px = int(window.width) * int(window.height)
            return False  # Kivy's own: clear, draw everything
        rects = self.damage()
        if self.mode == "age" and self.egl is not None:
            age = self.egl.buffer_age()
            self._history.append(rects)
            del self._history[:-8]
            if rects is not None:
                if age < 1 or age > len(self._history):
                    rects = None
                else:
                    for earlier in self._history[-age:-1]:
                        if earlier is None:
                            rects = None
                            break
                        rects = rects + earlier
        self.frames += 1
        W, H = int(window.width), int(window.height)
        if rects is None:
            self.drawn_px = W * H
            return False  # Kivy's own: clear, draw everything
        clipped = []
        for x, y, w, h in rects:
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(W, x + w), min(H, y + h)
            if x1 > x0 and y1 > y0:
                clipped.append((x0, y0, x1 - x0, y1 - y0))
        todo = passes(clipped)
        self.last = (clipped, todo)
        if sum(_area(r) for r in todo) >= W * H * WHOLE_SHARE:
            self.drawn_px = W * H
            return False  # most of it: Kivy's own clear and draw cost less
        self.partial += 1
        self.drawn_px = sum(_area(r) for r in todo)
        for r in todo:
            glEnable(GL_SCISSOR_TEST)
            glScissor(*r)
            window.clear()
            window.render_context.draw()
        glDisable(GL_SCISSOR_TEST)
        return True
