"""Benchmarks: `tape bench NAME`, each a readable table, or with `--json` one JSON
object on one line whose figure names carry their unit (`_per_s`, `_us`, `_s`,
`_ratio`). Every figure that judges speed comes with a raw baseline measured in
the same run, because these machines vary from day to day.

- `sequencer`: throughput and round trip per fsync policy, against raw pyaeron
  (its roles run as `python -m deploy.bench.sequencer ROLE`);
- `runtime`: replay dispatch of a no-op and a stateful app, against a raw
  decode loop;
- `marketdata`: a recorded day through plant, sequencer and a subscriber,
  against a parse-only loop;
- `oms`: the generated day of `oms_day` (a million client, algo and venue
  messages around a live OMS) replayed through the OMS, against the no-op app;
- `fix`: orders over FIX through both gateways and the whole stack, against a
  bare QuickFIX echo (`fix_echo`);
- `backtest`: a recorded day with twenty VWAP orders, against the
  ticker-plant-only run;
- `db`: the recorded day and the OMS bench's order day loaded into DuckDB and
  PostgreSQL, against a decode-only pass; the live writer's lag;
- `post-trade`: every post-trade report of the same two days, against a
  decode-only pass;
- `day`: the demo's whole unattended day (`tape day run`), stage by stage, against one
  `tape` process's start; `--kills N` runs it again under N kill -9s, checked.

`bench_app` is the `tape bench` command group.
"""

from __future__ import annotations

import typer

from blotter.bench import bench_blotter
from deploy.bench.backtest import bench_backtest
from deploy.bench.day import bench_day
from deploy.bench.db import bench_db
from deploy.bench.fix import bench_fix
from deploy.bench.hosts import bench_hosts
from deploy.bench.marketdata import bench_marketdata
from deploy.bench.oms import bench_oms
from deploy.bench.post_trade import bench_post_trade
from deploy.bench.runtime import bench_runtime
from deploy.bench.sequencer import bench_sequencer

bench_app = typer.Typer(help="Benchmarks: figures as ratios of a raw baseline run alongside.",
                        no_args_is_help=True)
bench_app.command("sequencer")(bench_sequencer)
bench_app.command("runtime")(bench_runtime)
bench_app.command("marketdata")(bench_marketdata)
bench_app.command("oms")(bench_oms)
bench_app.command("fix")(bench_fix)
bench_app.command("backtest")(bench_backtest)
bench_app.command("db")(bench_db)
bench_app.command("post-trade")(bench_post_trade)
bench_app.command("day")(bench_day)
bench_app.command("blotter")(bench_blotter)
bench_app.command("hosts")(bench_hosts)

__all__ = ["bench_app"]
