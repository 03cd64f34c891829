"""Charts drawn on the server as inline SVG: horizontal bars, columns and 100 % stacked bars.

They scale with the page (``viewBox``, ``width: 100%``), need no script, and label every bar with its published
value (``≤ 20`` for the smallest bin).
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#d69e2e", "#718096", "#e53e3e", "#3182ce",
           "#975a16", "#553c9a")


def fmt_count(value: int | None, bin_size: int) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    if value <= bin_size:
        return f"≤ {bin_size}"
    return f"{value:,}"


def fmt_number(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def _svg(width: int, height: int, body: list[str], title: str, cls: str) -> Markup:
    return Markup(
        f'<svg class="chart {cls}" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(body) + "</svg>"
    )


def hbars(items: list[tuple[str, int]], bin_size: int, title: str, *, color: str = PALETTE[0]) -> Markup:
    """One horizontal bar per (label, published count)."""
    if not items:
        return Markup('<p class="empty">No data.</p>')
    width, label_w, value_w, row_h = 440, 176, 58, 24
    top = max((v for _, v in items), default=0) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = i * row_h
        w = (width - label_w - value_w) * value / top
        short = label if len(label) <= 21 else label[:20] + "…"
        body.append(
            f'<g class="bar" data-value="{value}"><text x="{label_w - 6}" y="{y + 17}" text-anchor="end">{escape(short)}'
            f'<title>{escape(label)}</title></text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{color}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 17}" class="value">{escape(fmt_count(value, bin_size))}</text></g>'
        )
    return _svg(width, row_h * len(items), body, title, "hbars")


def columns(items: list[tuple[str, int]], bin_size: int, title: str, *, color: str = PALETTE[0], every: int | None = None) -> Markup:
    """Vertical columns (years, histogram bins); labels thinned to fit."""
    if not items:
        return Markup('<p class="empty">No data.</p>')
    width, height, bottom, left, top_pad = 640, 220, 44, 8, 22
    n = len(items)
    slot = (width - left) / n
    top = max((v for _, v in items), default=0) or 1
    every = every or max(1, -(-n // 12))
    body = []
    for i, (label, value) in enumerate(items):
        h = (height - bottom - top_pad) * value / top
        x = left + i * slot
        body.append(
            f'<g class="bar" data-value="{value}"><rect x="{x + 1:.1f}" y="{height - bottom - h:.1f}" width="{max(slot - 2, 1):.1f}" '
            f'height="{h:.1f}" fill="{color}"><title>{escape(label)}: {escape(fmt_count(value, bin_size))}</title></rect>'
        )
        if n <= 16:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom - h - 4:.1f}" text-anchor="middle" '
                        f'class="value">{escape(fmt_count(value, bin_size))}</text>')
        if i % every == 0:
            body.append(f'<text x="{x + slot / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="axis">{escape(label)}</text>')
        body.append("</g>")
    body.append(f'<line x1="{left}" x2="{width}" y1="{height - bottom}" y2="{height - bottom}" class="axis-line"/>')
    return _svg(width, height, body, title, "columns")


def stacked(rows: list[tuple[str, list[tuple[str, int]]]], bin_size: int, title: str, segments: list[str]) -> Markup:
    """One 100 % bar per row (a stratum), split by segment (an answer); shares of the published counts."""
    if not rows:
        return Markup('<p class="empty">No data.</p>')
    width, label_w, row_h, legend_h = 640, 170, 28, 22
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(segments)}
    legend_rows = -(-len(segments) // 3)
    body = []
    for j, seg in enumerate(segments):
        lx = (j % 3) * (width / 3)
        ly = (j // 3) * legend_h
        short = seg if len(seg) <= 30 else seg[:29] + "…"
        body.append(f'<rect x="{lx:.1f}" y="{ly + 5}" width="12" height="12" fill="{colors[seg]}"/>'
                    f'<text x="{lx + 16:.1f}" y="{ly + 15}" class="legend">{escape(short)}<title>{escape(seg)}</title></text>')
    y0 = legend_rows * legend_h + 6
    for i, (label, parts) in enumerate(rows):
        y = y0 + i * row_h
        total = sum(v for _, v in parts) or 1
        short = label if len(label) <= 26 else label[:25] + "…"
        body.append(f'<text x="{label_w - 6}" y="{y + 18}" text-anchor="end">{escape(short)}<title>{escape(label)}</title></text>')
        x = float(label_w)
        for seg, value in parts:
            w = (width - label_w - 4) * value / total
            body.append(f'<rect class="segment" x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{colors[seg]}">'
                        f'<title>{escape(label)} · {escape(seg)}: {escape(fmt_count(value, bin_size))} '
                        f'({100 * value / total:.0f} %)</title></rect>')
            x += w
    return _svg(width, y0 + row_h * len(rows), body, title, "stacked")
