"""The `tape` command: one entry point, subcommands contributed by each package."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from blotter.cli import app as blotter_app
from deploy.backtest.cli import backtest_cmd
from fix_gateways.cli import app as gateway_app
from fix_gateways.cli import venue_sim_cmd
from fix_gateways.client_sim import clients_cmd
from marketdata.cli import marketdata_app
from oms.cli import app as oms_app
from post_trade.cli import app as post_trade_app
from post_trade.db.cli import app as db_app
from refdata.cli import app as refdata_app
from refdata.plot import curve_cmd
from sequencer import cli as sequencer_cli
from sequencer.runtime import cli as runtime_cli

app = typer.Typer(
    name="tape",
    help="Tape: a deterministic sequenced-stream trading platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(sequencer_cli.journal_app, name="journal")
app.add_typer(sequencer_cli.sequencer_app, name="sequencer")
app.command("inject")(sequencer_cli.inject_cmd)
app.command("driver")(sequencer_cli.driver_cmd)
app.command("messages")(sequencer_cli.messages_cmd)
app.add_typer(runtime_cli.app_app, name="app")
app.command("replay")(runtime_cli.replay_cmd)
app.add_typer(marketdata_app, name="marketdata")
refdata_app.command("curve")(curve_cmd)
app.add_typer(refdata_app, name="refdata")
app.add_typer(oms_app, name="oms")
app.add_typer(gateway_app, name="gateway")
app.command("venue-sim")(venue_sim_cmd)
app.command("clients")(clients_cmd)
app.command("backtest")(backtest_cmd)
app.add_typer(db_app, name="db")
app.add_typer(post_trade_app, name="post-trade")
app.add_typer(blotter_app, name="blotter")

#: Commands whose modules are heavy to import, by group: the benchmarks (QuickFIX and the
#: OMS day generator among them) and the operations commands (pydantic models,
#: prometheus_client). A `tape X` process for a command X of no group, or of another
#: group, does without them: each would cost every process of a day, and every test
#: that starts one, up to a second.
_BENCH = frozenset({"bench"})
_OPS = frozenset({"archive", "deploy", "status", "metrics", "day"})
#: The commands registered above, always.
_ALWAYS = frozenset({
    "journal", "sequencer", "inject", "driver", "messages", "app", "replay", "marketdata",
    "refdata", "oms", "gateway", "venue-sim", "backtest", "db", "demo", "post-trade",
    "clients", "blotter",
})


def _needed(group: frozenset[str]) -> bool:
    """Imported by a `tape X` process for a known command X outside `group`: not needed.
    Imported anywhere else (tests, `tape --help`, a command of the group): needed."""
    started_as_tape = Path(sys.argv[0]).name in ("tape", "__main__.py")
    others = (_ALWAYS | _BENCH | _OPS) - group
    return not (started_as_tape and sys.argv[1:2] and sys.argv[1] in others)


if _needed(_BENCH):
    from deploy.bench import bench_app

    app.add_typer(bench_app, name="bench")

if _needed(_OPS):
    from deploy.archive import archive_app
    from deploy.day import day_app
    from deploy.metrics import metrics_cmd
    from deploy.status import status_cmd
    from deploy.units import deploy_app

    app.add_typer(archive_app, name="archive")
    app.add_typer(deploy_app, name="deploy")
    app.add_typer(day_app, name="day")
    app.command("status")(status_cmd)
    app.command("metrics")(metrics_cmd)


@app.command("demo")
def demo(
    keep: bool = typer.Option(False, help="Keep the day folder instead of a temporary one."),
    tour: bool = typer.Option(False, help="Then the walk through the parts one by one "
                                          "(inject, a bad file refused, FIX, replay, "
                                          "backtest)."),
) -> None:
    """Run the demo: a whole unattended trading day (tape day run) with three clients over
    FIX, then its summary; --tour adds the walk through the parts."""
    from deploy.demo import run_demo

    raise typer.Exit(run_demo(keep=keep, tour=tour))


def main() -> None:
    app()
