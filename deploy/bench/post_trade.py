"""`tape bench post-trade`: every post-trade report of a day against a decode-only pass.

Two journals, as in `tape bench db`: the OMS bench's generated order day (`oms_day`, a
million messages of client, algo and venue traffic: the order-heavy case) and the
recorded 2013-10-08 day of `tape bench backtest` (four symbols, twenty VWAP orders,
about 2.6 million frames, mostly quotes: the market-data-heavy case). For each, in
the same run: the baseline reads and decodes every frame (CRC-checked, as the reports
read it), then `post_trade.report.run` reads the day and writes every report of the
day (activity, CAT, clearing, time sync, quality) into `DAY/post_trade`.

Figures: `post_trade_s` and `decode_s` summed over the days, `post_trade_ratio` their
quotient, and per day the same with the day's name in front. Target: all reports
within 8 times the decode-only pass (`post_trade_ratio` <= 8).
"""

# determinism: edge module, benchmark tooling: wall-clock timing, temporary files

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

TARGET_RATIO = 8.0


def run_bench(*, oms_messages: int, date: str, recorded: bool, keep: Path | None,
              quiet: bool) -> dict[str, Any]:
    from deploy.bench.db import _say, decode_pass, make_oms_day, make_recorded_day
    from post_trade.report import run

    root = keep or Path(tempfile.mkdtemp(prefix="tape-bench-post-trade-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        days = []
        if oms_messages:
            days.append(("orders", make_oms_day(root, oms_messages, quiet)))
        if recorded:
            days.append(("recorded", make_recorded_day(root, date, quiet)))
        fig: dict[str, Any] = {}
        total_pt = total_dec = 0.0
        for name, day in days:
            _say(quiet, f"bench post-trade: {name} day: decode only")
            rows, dec = decode_pass(day)
            _say(quiet, f"bench post-trade: {name} day: every report")
            t0 = time.perf_counter()
            res = run(day)
            pt = time.perf_counter() - t0
            fig[f"{name}_frames"] = rows // 2
            fig[f"{name}_decode_s"] = round(dec, 3)
            fig[f"{name}_post_trade_s"] = round(pt, 3)
            fig[f"{name}_post_trade_ratio"] = round(pt / dec, 2)
            fig[f"{name}_files"] = len(res.manifest["files"])
            total_pt += pt
            total_dec += dec
        fig["decode_s"] = round(total_dec, 3)
        fig["post_trade_s"] = round(total_pt, 3)
        fig["post_trade_ratio"] = round(total_pt / total_dec, 2) if total_dec else 0.0
        fig["target_ratio"] = TARGET_RATIO
        fig["target_met"] = bool(total_dec) and fig["post_trade_ratio"] <= TARGET_RATIO
        return fig
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def bench_post_trade(
    oms_messages: Annotated[int, typer.Option(
        "--oms-messages", min=0, help="Size of the generated order day (0: leave it out).")
    ] = 1_000_000,
    date: Annotated[str, typer.Option("--date", help="The recorded session.")] = "2013-10-08",
    recorded: Annotated[bool, typer.Option(
        "--recorded/--no-recorded", help="The recorded day too.")] = True,
    keep: Annotated[Path | None, typer.Option(help="Keep the day folders here.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
) -> None:
    """Every post-trade report over the OMS bench's million-message day and the recorded
    day, against a decode-only pass over the same journals (target: within 8 times)."""
    fig = run_bench(oms_messages=oms_messages, date=date, recorded=recorded, keep=keep,
                    quiet=json_)
    if json_:
        sys.stdout.write(json.dumps(fig, separators=(",", ":")) + "\n")
        return
    from deploy.bench.db import print_figures

    print_figures("tape bench post-trade", fig)
