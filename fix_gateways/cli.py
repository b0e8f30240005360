"""`tape gateway client|venue`: run a FIX gateway for a day.

Each prints one JSON line `{"ready": ...}` once its sessions are started (the
supervisor and the tests wait for it), then runs until stopped (SIGTERM or
Ctrl-C), the stream's `SystemStop`, or `--max-seconds`; at the end it prints
what it did, as JSON with `--json`.
"""

# determinism: edge module, a command line that starts gateway processes

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fix_gateways.order_tool import drop_copy_cmd, order_cmd
from sequencer.config import ConfigError

app = typer.Typer(help="FIX gateways: clients in (acceptor), venues out (initiator).",
                  no_args_is_help=True)
err = Console(stderr=True, highlight=False)

DayOpt = Annotated[Path, typer.Option("--day", help="The day folder (journal, stream.json).")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="The gateways' TOML file (default: deploy/configs/fix.toml).")]
MaxOpt = Annotated[float | None, typer.Option(
    "--max-seconds", help="Stop after this long (tests and demos).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The final counts as one JSON line.")]


def _day(day: Path, process: str) -> None:
    """The day must exist (no gateway creates one); the process logs under it."""
    from sequencer.logs import configure
    from sequencer.ownership import NoSuchDay, require_day

    try:
        require_day(day)
    except NoSuchDay as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    configure(day, process)


def _config(path: Path | None) -> tuple[object, Path]:
    from fix_gateways.config import load_fix_config

    try:
        return load_fix_config(path)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None


@app.command("client")
def client_cmd(day: DayOpt, config: ConfigOpt = None, max_seconds: MaxOpt = None,
               json_: JsonOpt = False) -> None:
    """Accept the clients' FIX sessions; requests onto the stream, reports back out."""
    from fix_gateways.client_gateway import ClientGatewayProcess
    from fix_gateways.config import FixConfig

    cfg, path = _config(config)
    assert isinstance(cfg, FixConfig)
    _day(day, "client_gateway")
    counts = ClientGatewayProcess(day, cfg.client_gateway, path.parent).run(max_seconds)
    _done("client gateway", asdict(counts), json_)


@app.command("venue")
def venue_cmd(day: DayOpt, config: ConfigOpt = None, max_seconds: MaxOpt = None,
              json_: JsonOpt = False) -> None:
    """Open a FIX session to each destination; child orders out, venue events in."""
    from fix_gateways.config import FixConfig
    from fix_gateways.venue_gateway import VenueGatewayProcess

    cfg, _path = _config(config)
    assert isinstance(cfg, FixConfig)
    _day(day, "venue_gateway")
    counts = VenueGatewayProcess(day, cfg.venue_gateway).run(max_seconds)
    _done("venue gateway", asdict(counts), json_)


def _done(what: str, counts: dict[str, object], json_: bool) -> None:
    from fix_gateways.session import exit_now

    if json_:
        print(json.dumps({"done": what, **counts}))
    else:
        err.print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    exit_now(0)  # QuickFIX's engine is not torn down: see fix_gateways.session.logout_all


def venue_sim_cmd(
    config: ConfigOpt = None,
    day: Annotated[Path | None, typer.Option(
        "--day", help="Follow this day's stream for market data (each venue its own "
                      "quotes and trades).")] = None,
    root: Annotated[Path | None, typer.Option(
        "--root", help="Folder for the simulator's FIX store and logs "
                       "(default: DAY/venue-sim, or a temporary folder).")] = None,
    scripted: Annotated[bool, typer.Option(
        "--scripted", help="Tests drive fills, holds and refusals with JSON commands on "
                           "stdin.")] = False,
    max_seconds: MaxOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Simulated venues behind one FIX acceptor: the venue gateway's sessions, mirrored.
    Our orders trade against the recorded market by the fill model of
    fix_gateways/venue_sim/market.py (the README quotes it)."""
    import tempfile

    from fix_gateways.config import FixConfig
    from fix_gateways.venue_sim.server import VenueSimServer

    cfg, _path = _config(config)
    assert isinstance(cfg, FixConfig)
    if not cfg.venue_gateway.sessions:
        err.print("[red]error:[/red] the config has no [[venue_gateway.sessions]] to host")
        raise typer.Exit(2)
    if day is not None:
        _day(day, "venue_sim")
    where = root or (day / "venue-sim" if day is not None else
                     Path(tempfile.mkdtemp(prefix="tape-venue-sim-")))
    server = VenueSimServer(cfg.venue_gateway, where, day=day, scripted_mode=scripted)
    counts = server.run(max_seconds)
    _done("venue simulator", asdict(counts), json_)


app.command("order")(order_cmd)
app.command("drop-copy")(drop_copy_cmd)
