"""Execution quality as one of the day's reports: `post_trade.quality` (slippage of each
algo order against its interval and full-day VWAP, implementation shortfall against the
arrival mid and its parts, participation, markouts, fees; `docs/backtest.md` defines
them) run on any day, live or backtest, into `DAY/post_trade/quality/`:

- `quality.json`: the summary figures and one entry per order (`BacktestReport.as_dict`
  without the day folder's path, so the bytes do not depend on where the day lives);
- `quality.csv`: one row per order;
- `quality.html`: the table, a chart of slippage per order, and the per-order charts;
- `charts/ORDER.png`: the order's prices, running slippage and intervals, for the `MAX_CHARTS`
  largest orders (a day of thousands of orders gets its largest charted, not all).
"""

# determinism: edge module, offline tooling: writes the quality report of a day

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from post_trade import html
from post_trade.quality import (
    FRAME_TYPES,
    BacktestReport,
    build_report,
    plot_orders,
    summary_line,
)
from post_trade.record import DayRecord
from post_trade.report import ReportResult, write_csv, write_json, write_text

NAME = "quality"
KEEP = FRAME_TYPES  # what `read_day` keeps for this report (saves it a pass)
MAX_CHARTS = 6
MAX_ROWS = 200  # orders in the HTML table (the largest); all of them are in quality.csv
_COLUMNS = ("order_id", "client", "symbol", "side", "algo", "qty_shares", "done_shares",
            "avg_px_usd", "market_vwap_usd", "slippage_bps", "participation_pct",
            "passive_pct", "auction_pct", "final_status", "day_vwap_usd",
            "day_slippage_bps", "arrival_mid_usd", "is_bps", "is_delay_bps",
            "is_spread_bps", "is_impact_bps", "is_timing_bps", "opportunity_bps",
            "fees_usd", "fees_bps", "effective_spread_bps", "markout_60s_bps",
            "max_interval_participation_pct")
_HTML_COLUMNS = _COLUMNS[:14]  # the table a person reads; the rest are in the CSV
_COST_COLUMNS = ("order_id", "is_bps", "is_delay_bps", "is_spread_bps", "is_impact_bps",
                 "is_timing_bps", "opportunity_bps", "fees_bps", "markout_60s_bps")


def write(rec: DayRecord, out: Path) -> ReportResult:
    names = {s.id: s.name for s in rec.refdata.symbols}
    # the frames the record's pass kept for this report (else its own pass)
    rep = build_report(rec.day, names=names, frames=rec.kept or None, refdata=rec.refdata)
    doc = rep.as_dict()
    doc.pop("day", None)
    doc["complete"] = rec.complete
    orders: list[dict[str, Any]] = doc["orders"]
    files = [write_json(out / "quality.json", doc),
             write_csv(out / "quality.csv", _COLUMNS,
                       ([o.get(c) for c in _COLUMNS] for o in orders))]
    charted = sorted(rep.results, key=lambda r: (-r.qty, r.order_id))[:MAX_CHARTS]
    pngs = plot_orders(dataclasses.replace(rep, results=tuple(charted)), rec.day,
                       out / "charts") if charted else []
    files += pngs
    charts = [(r.order_id, p.name) for r, p in zip(charted, pngs, strict=True)]
    files.append(write_text(out / "quality.html", _html(rec, rep, orders, charts)))
    return ReportResult(name=NAME, files=files, summary=rep.summary(),
                        lines=[f"quality: {summary_line(rep)}"])


def _cell(v: Any) -> Any:
    if v is None:
        return "-"
    return round(v, 2) if isinstance(v, float) else v


def _html(rec: DayRecord, rep: BacktestReport, orders: list[dict[str, Any]],
          charts: list[tuple[str, str]]) -> str:
    s = rep.summary()
    head = html.table(("figure", "value"), [(k, "-" if v is None else
                                             (f"{v:.2f}" if isinstance(v, float) else v))
                                            for k, v in s.items()])
    shown = sorted(orders, key=lambda o: (-o["qty_shares"], o["order_id"]))[:MAX_ROWS]
    rows = [[_cell(o.get(c)) for c in _HTML_COLUMNS] for o in shown]
    costs = [[_cell(o.get(c)) for c in _COST_COLUMNS] for o in shown]
    slip = [(o["order_id"], o["slippage_bps"]) for o in shown[:40]
            if o.get("slippage_bps") is not None]
    chart = html.bars([a for a, _ in slip], [b for _, b in slip],
                      title="slippage against the interval VWAP (bps, + is a cost; the "
                            "largest orders)",
                      unit=" bps")
    links = "".join(f'<li><a href="charts/{html.esc(png)}">{html.esc(oid)}</a></li>'
                    for oid, png in charts)
    more = (f'<p class="muted">The {MAX_ROWS} largest of {len(orders):,} orders; every '
            "order is in quality.csv and quality.json.</p>" if len(orders) > MAX_ROWS else "")
    body = (head + html.section("Orders", more,
                                html.table(_HTML_COLUMNS, rows, numeric=range(5, 13)))
            + html.section("Costs against the arrival mid (bps, + is a cost; a "
                           "markout + is good)", html.table(_COST_COLUMNS, costs,
                                                            numeric=range(1, 9)))
            + html.section("Slippage", chart)
            + html.section("Charts", f"<ul>{links}</ul>" if links else
                           '<p class="muted">(no algo orders)</p>'))
    return html.page(f"Execution quality, {rec.session_date}", body,
                     subtitle=f"{len(orders)} algo orders", incomplete=not rec.complete)

