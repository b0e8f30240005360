"""Plain HTML for the post-trade reports: one self-contained file per report (inline CSS,
charts as inline SVG drawn here), no scripts, no timestamps, so the same record always
gives the same bytes and the file opens anywhere, years later, from the archive.

- `page(title, body, *, subtitle, incomplete)`: the document; an incomplete day (no
  `SystemStop`) carries a red banner saying so on every page;
- `table(headers, rows, *, numeric, anchors)`: a table; cells are escaped here;
- `bars(labels, values, *, title, unit)`: a horizontal bar chart (SVG);
- `link(text, href)`, `esc(text)`, `section(title, *parts, anchor)`.
Numbers are formatted by the caller (`num`, `money`, `px`): a report decides its digits.
"""

# determinism: pure, text in and text out

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from post_trade.report import px_str

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#1d2430;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
#d5dae1;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5b6472;margin-bottom:16px}
.banner{background:#fde2e1;border:1px solid #e0605a;color:#7a1712;padding:8px 12px;
margin:12px 0;font-weight:600}
.ok{color:#1e7d32}.bad{color:#b3261e;font-weight:600}.muted{color:#5b6472}
table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #d5dae1;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f1f4f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr:target{background:#fff6cc}code{font-size:12px}
"""


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def link(text: object, href: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def num(x: int | float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def px(fixed: int) -> str:
    """A fixed-point price (1/10,000) as dollars with 4 decimals, as the CSV files have it."""
    return px_str(fixed)


def money(dollars: float) -> str:
    return f"{dollars:,.2f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *,
          numeric: Iterable[int] = (), anchors: Sequence[str] | None = None,
          raw: Iterable[int] = ()) -> str:
    """A table. `numeric`: column indexes right-aligned; `raw`: columns holding HTML
    already (links); `anchors`: an id per row, so a flag can link to it."""
    num_cols, raw_cols = set(numeric), set(raw)
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers),
           "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        rid = f' id="{esc(anchors[i])}"' if anchors is not None else ""
        out.append(f"<tr{rid}>")
        for j, cell in enumerate(row):
            text = str(cell) if j in raw_cols else esc(cell)
            out.append(f'<td class="n">{text}</td>' if j in num_cols else f"<td>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def bars(labels: Sequence[str], values: Sequence[float], *, title: str = "",
         unit: str = "", width: int = 640) -> str:
    """A horizontal bar chart as inline SVG (negative values extend left of the axis)."""
    n = len(labels)
    if n == 0:
        return '<p class="muted">(nothing to chart)</p>'
    row_h, label_w, pad = 20, 150, 60
    top = 24 if title else 6
    h = top + n * row_h + 8
    span = max((abs(v) for v in values), default=0.0) or 1.0
    has_neg = any(v < 0 for v in values)
    plot_w = width - label_w - pad
    zero = label_w + (plot_w // 2 if has_neg else 0)
    scale = (plot_w // 2 if has_neg else plot_w) / span
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
           f'font-size="12" font-family="sans-serif">']
    if title:
        out.append(f'<text x="0" y="15" font-weight="600">{esc(title)}</text>')
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        y = top + i * row_h
        w = abs(v) * scale
        x = zero if v >= 0 else zero - w
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{esc(lab)}</text>')
        out.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                   f'fill="{"#3f72af" if v >= 0 else "#c8553d"}"/>')
        tx = x + w + 4 if v >= 0 else x - 4
        anchor = "start" if v >= 0 else "end"
        out.append(f'<text x="{tx:.1f}" y="{y + 14}" text-anchor="{anchor}">'
                   f'{esc(f"{v:,.4g}")}{esc(unit)}</text>')
    out.append(f'<line x1="{zero}" y1="{top}" x2="{zero}" y2="{h - 8}" stroke="#5b6472"/>')
    out.append("</svg>")
    return "".join(out)


def section(title: str, *parts: str, anchor: str = "") -> str:
    aid = f' id="{esc(anchor)}"' if anchor else ""
    return f"<h2{aid}>{esc(title)}</h2>" + "".join(parts)


def page(title: str, body: str, *, subtitle: str = "", incomplete: bool = False) -> str:
    banner = ('<div class="banner">INCOMPLETE: the journal has no SystemStop; this report '
              'covers the day only up to its last frame.</div>' if incomplete else "")
    sub = f'<div class="sub">{esc(subtitle)}</div>' if subtitle else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>{sub}{banner}{body}</body></html>\n")
