"""The reports' charts: matplotlib figures rendered to PNG bytes (no window, no global state).

Rules this module guarantees:
- Figures are made with the object API on a fresh ``Figure`` (never pyplot's
  global state) and rendered by the Agg canvas, so charts are the same in a
  gateway, a CLI or a web worker, with no display.
- Colours are told apart without colour vision: the heatmap uses ``cividis``
  (readable in greyscale and with every common colour-vision deficiency), bars
  use the Okabe-Ito palette and also differ in hatching, and every chart's
  numbers are in the report's tables too (the chart is never the only place).
- Text is at least 8 pt at the size the PDF prints it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BLUE, ORANGE, GREY, GREEN = "#0072B2", "#E69F00", "#999999", "#009E73"
DPI = 150


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def heatmap(
    minutes: Sequence[Sequence[int]],
    used: Sequence[Sequence[int]],
    days: Sequence[str],
    title: str,
    label: str,
    share_label: str,
) -> bytes:
    """Two panels over weekday x hour: booked hours, and the share of them used."""
    fig = Figure(figsize=(7.2, 2.6))
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.12, top=0.82, wspace=0.25)
    hours = [h for h in range(24) if any(minutes[d][h] for d in range(7))] or list(range(7, 23))
    lo, hi = min(hours), max(hours) + 1
    booked = [[minutes[d][h] / 60 for h in range(lo, hi)] for d in range(7)]
    share = [
        [used[d][h] / minutes[d][h] if minutes[d][h] else float("nan") for h in range(lo, hi)]
        for d in range(7)
    ]
    axes = fig.subplots(1, 2, sharey=True)
    for ax, values, cmap, name, vmax in (
        (axes[0], booked, "cividis", label, None),
        (axes[1], share, "cividis", share_label, 1.0),
    ):
        im = ax.imshow(
            values, aspect="auto", cmap=cmap, vmin=0, vmax=vmax, extent=(lo, hi, 6.5, -0.5)
        )
        ax.set_yticks(range(7), labels=list(days), fontsize=8)
        ax.set_xticks(
            range(lo, hi + 1, 2), labels=[f"{h}" for h in range(lo, hi + 1, 2)], fontsize=8
        )
        ax.set_title(name, fontsize=9)
        cb = fig.colorbar(im, ax=ax, shrink=0.9)
        cb.ax.tick_params(labelsize=8)
        if vmax == 1.0:
            cb.set_ticks([0, 0.5, 1.0], labels=["0 %", "50 %", "100 %"])
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    title: str,
    unit: str,
) -> bytes:
    """Horizontal grouped bars, one group per label (at most ~25 labels)."""
    n = len(labels)
    fig = Figure(
        figsize=(7.2, max(1.6, 0.28 * n * max(1, len(series)) / 1.6 + 0.9)), layout="constrained"
    )
    ax = fig.subplots()
    k = max(1, len(series))
    width = 0.8 / k
    colours, hatches = (BLUE, ORANGE, GREEN, GREY), ("", "//", "..", "xx")
    for i, (name, values) in enumerate(series):
        ys = [j + (i - (k - 1) / 2) * width for j in range(n)]
        ax.barh(
            ys,
            values,
            height=width,
            label=name,
            color=colours[i % 4],
            hatch=hatches[i % 4],
            edgecolor="white",
            linewidth=0.4,
        )
    ax.set_yticks(range(n), labels=[_short(x) for x in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(unit, fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False, loc="lower right")
    return _png(fig)


def _short(text: str, n: int = 48) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
