"""The demo day, as it stands: the day's ref data built, a sequencer on an embedded
media driver in `sim` time (the market's clock), the sample app and the market
monitor on the stream, a sample file injected, an order's life in the OMS by
hand, then the FIX path: the DMA stub, the venue simulator, the venue and client
gateways, and a DEMO client order over FIX that the venue simulator fills against
a recorded day of IBM played by the ticker plant (the simulator when the recorded
data is absent); the day stopped, replayed and verified bit for bit, the journal
summarised and shown from its database (`tape db run` followed the day into
DAY/db/tape.duckdb); VWAP orders backtested on the recorded day (`tape backtest`, into
DAY/backtest); a volume curve drawn."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from rich.console import Console

console = Console()


def _tape(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy", *args], text=True, check=check)


def _wait_for_outputs(day: Path, echoes: int, timeout_s: float = 20.0) -> None:
    """Wait until the app's answers to the injected notes are on the stream."""
    from sequencer.journal import read_all
    from sequencer.messages import TYPE_ID
    from sequencer.messages.control import Echo

    echo = TYPE_ID[Echo]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(1 for f in read_all(day) if f.type_id == echo) >= echoes:
            return
        time.sleep(0.1)
    console.print("[yellow]the app's answers did not arrive in time")


DEMO_DATE = "2013-10-08"
DEMO_SYMBOL = "IBM"


def _wait_caught_up(day: Path, app: str, timeout_s: float = 60.0) -> None:
    """Wait until `app` has handled everything sequenced so far."""
    import json

    last = json.loads((day / "sequencer.status.json").read_text())["last_seq"]
    path = day / "apps" / f"{app}.status.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and json.loads(path.read_text()).get("seq", 0) >= last:
            return
        time.sleep(0.1)
    console.print(f"[yellow]{app} did not catch up in time")


def _start_fix(day: Path) -> list[subprocess.Popen[bytes]]:
    """The DMA stub, the venue simulator (following the day's market data), the venue
    gateway and the client gateway, on the shipped deploy/configs/fix.toml; each waited
    for until it says it is ready."""
    import json

    procs = [subprocess.Popen([sys.executable, "-m", "deploy", "app", "run", "algo", "--day",
                               str(day)])]
    for argv in (["venue-sim", "--day", str(day)], ["gateway", "venue", "--day", str(day)],
                 ["gateway", "client", "--day", str(day)]):
        p = subprocess.Popen([sys.executable, "-m", "deploy", *argv], stdout=subprocess.PIPE)
        procs.append(p)
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith(b"{") and "ready" in json.loads(line):
                console.print(f"{' '.join(argv[:2])}: {line.decode().strip()}",
                              highlight=False)
                break
    return procs


def _wait_for_report(day: Path, cl_ord_id: str, timeout_s: float = 30.0) -> None:
    """Wait until the OMS has answered the client's order `cl_ord_id`."""
    from sequencer.journal import read_all
    from sequencer.messages import TYPE_ID, decode
    from sequencer.messages.executions import ExecutionReport

    er = TYPE_ID[ExecutionReport]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for f in read_all(day):
            if f.type_id == er and getattr(decode(er, f.payload), "cl_ord_id", "") == cl_ord_id:
                return
        time.sleep(0.2)
    console.print(f"[yellow]no execution report for {cl_ord_id} in time")


def run_demo(keep: bool = False) -> int:
    from marketdata.recorded import default_data_dir, tick_file

    day = Path(tempfile.mkdtemp(prefix="tape-demo-day-"))
    aeron_dir = f"/dev/shm/tape-demo-{os.getpid()}"
    sample = resources.files("deploy") / "samples" / "demo_messages.jsonl"
    data = default_data_dir() / "us_equities_2013-10"
    recorded = tick_file(data, DEMO_SYMBOL, DEMO_DATE, "quote").exists()
    console.rule("[bold]Tape demo day")
    console.print(f"day folder {day}\naeron dir  {aeron_dir}\nsession    {DEMO_DATE}, "
                  f"{'recorded' if recorded else 'simulated'} market data for {DEMO_SYMBOL}",
                  highlight=False)
    console.rule("the day's ref data set")
    if _tape("refdata", "build", "--date", DEMO_DATE, "--out", str(day / "refdata"),
             check=False).returncode:
        return 1
    seq = subprocess.Popen(
        [sys.executable, "-m", "deploy", "sequencer", "run", "--day", str(day),
         "--aeron-dir", aeron_dir, "--driver", "embedded", "--fsync", "group",
         "--time-mode", "sim", "--session-date", DEMO_DATE],
    )
    app: subprocess.Popen[bytes] | None = None
    monitor: subprocess.Popen[bytes] | None = None
    oms: subprocess.Popen[bytes] | None = None
    db: subprocess.Popen[bytes] | None = None
    procs: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while not (day / "sequencer.status.json").exists():
            if seq.poll() is not None or time.monotonic() > deadline:
                console.print("[red]the sequencer did not start")
                return 1
            time.sleep(0.05)
        console.rule("the sample app 'counter', the market monitor and the OMS join the stream")
        app = subprocess.Popen([sys.executable, "-m", "deploy", "app", "run", "counter",
                                "--day", str(day)])
        monitor = subprocess.Popen([sys.executable, "-m", "deploy", "app", "run",
                                    "market_monitor", "--day", str(day)])
        oms = subprocess.Popen([sys.executable, "-m", "deploy", "app", "run", "oms",
                                "--day", str(day)])
        console.rule("the database writer follows the day into DAY/db/tape.duckdb")
        db = subprocess.Popen([sys.executable, "-m", "deploy", "db", "run", "--day", str(day)])
        console.rule("inject the sample file")
        with resources.as_file(sample) as path:
            _tape("inject", str(path), "--day", str(day))
        _wait_for_outputs(day, 2)
        _tape("journal", "cat", str(day), "--type", "Echo")
        console.rule("a bad file is refused whole")
        bad = day / "bad_inject.csv"
        bad.write_text("type,author,text\nOperatorNote,ops,fine\nOperatorNote,,\nNoSuchType,x,y\n")
        _tape("inject", str(bad), "--day", str(day), check=False)
        console.rule("an order's life in the OMS (client, algo and venue messages by hand "
                     "until the gateways and the algo engine join)")
        orders = resources.files("deploy") / "samples" / "demo_orders.jsonl"
        with resources.as_file(orders) as opath:
            _tape("inject", str(opath), "--day", str(day))
        _wait_caught_up(day, "oms")
        for kind in ("ExecutionReport", "ChildOrderSent", "ChildRequestRejected"):
            _tape("journal", "cat", str(day), "--type", kind)
        console.rule("FIX: the DMA stub, the venue simulator and both gateways join; the "
                     "DEMO client sends an order over its FIX session")
        fix_procs = _start_fix(day)
        procs += fix_procs
        # The clearing firm's side of the drop copy, logged on before any fill is copied,
        # so that the day's reconciliation has every copy the session sent.
        procs.append(subprocess.Popen([sys.executable, "-m", "deploy", "gateway", "drop-copy",
                                       "--session", "CLEARING", "--wait", "600"]))
        order = subprocess.Popen([sys.executable, "-m", "deploy", "gateway", "order",
                                  "--session", "DEMO", "--symbol", DEMO_SYMBOL, "--side", "buy",
                                  "--qty", "500", "--price", "181", "--venue", "ARCX",
                                  "--cl-ord-id", "DEMO-1", "--wait", "120"])
        procs.append(order)
        _wait_for_report(day, "DEMO-1")
        console.rule(f"the ticker plant: {DEMO_DATE} for {DEMO_SYMBOL} on the market's clock; "
                     "the venue simulator fills the order against it")
        feed = ["--feed", "recorded"] if recorded else ["--feed", "sim"]
        _tape("marketdata", "run", "--day", str(day), *feed, "--symbols", DEMO_SYMBOL,
              "--subscribe", DEMO_SYMBOL)
        try:
            order.wait(timeout=120)
        except subprocess.TimeoutExpired:
            console.print("[yellow]the demo order was still working")
        _wait_caught_up(day, "market_monitor")
        _tape("journal", "cat", str(day), "--type", "Alert", "--to", "1000000")
        console.rule("stop the day")
        _tape("sequencer", "stop", "--day", str(day), "--reason", "demo over")
        r = subprocess.run(
            [sys.executable, "-m", "deploy", "inject", str(path), "--day", str(day)],
            text=True, capture_output=True, check=False,
        )
        console.print(f"inject after SystemStop exits {r.returncode}: {r.stderr.strip()}",
                      highlight=False)
        _tape("sequencer", "status", "--day", str(day))
        try:
            db.wait(timeout=60)  # it stops at the day's SystemStop, all of the day written
        except subprocess.TimeoutExpired:
            console.print("[yellow]the database writer was still writing")
    finally:
        for p in (*reversed(procs), app, monitor, oms, db, seq):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(aeron_dir, ignore_errors=True)
    console.rule("tape journal stats")
    _tape("journal", "stats", str(day))
    console.rule("the day in its database: tape db views, the blotter, a query")
    rc = _tape("db", "views", str(day), check=False).returncode
    rc |= _tape("db", "views", str(day), "blotter", check=False).returncode
    rc |= _tape("db", "query", str(day), "SELECT type, count(*) AS frames FROM v_frames "
                "GROUP BY type ORDER BY frames DESC LIMIT 8", check=False).returncode
    console.rule("the day's post-trade records: supervision, CAT, clearing, time sync, quality")
    # The host's clock state, logged for the time sync report (a machine without time
    # synchronisation says so there; it does not fail the demo).
    _tape("post-trade", "clock-check", "--day", str(day), check=False)
    rc |= _tape("post-trade", str(day), check=False).returncode
    rc |= _tape("post-trade", "check-cat", str(day), check=False).returncode
    console.print(f"the supervisor's report: {day / 'post_trade' / 'activity' / 'activity.html'}",
                  highlight=False)
    console.rule("tape journal verify")
    rc |= _tape("journal", "verify", str(day), check=False).returncode
    console.rule("tape replay --verify: today's code on the day's journal, bit for bit")
    rc |= _tape("replay", str(day), "--app", "counter", "--app", "market_monitor", "--app",
                "oms", "--app", "algo", "--verify", check=False).returncode
    if recorded:
        console.rule(f"tape backtest: VWAP orders on the recorded {DEMO_DATE}, scored against "
                     "the market's interval VWAP")
        bt_orders = resources.files("deploy") / "samples" / "backtest_orders.csv"
        with resources.as_file(bt_orders) as bpath:
            rc |= _tape("backtest", "--date", DEMO_DATE, "--orders", str(bpath), "--out",
                        str(day / "backtest"), check=False).returncode
    console.rule(f"the volume curve {DEMO_SYMBOL} traded against")
    (day / "reports").mkdir(exist_ok=True)
    rc |= _tape("refdata", "curve", DEMO_SYMBOL, "--date", DEMO_DATE, "--refdata",
                str(day / "refdata"), "--out", str(day / "reports" / "volume_curve.png"),
                check=False).returncode
    if not keep:
        shutil.rmtree(day, ignore_errors=True)
    else:
        console.print(f"kept {day}")
    return rc
