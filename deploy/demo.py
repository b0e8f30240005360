"""`tape demo`: the demo.

By default a whole unattended trading day (`tape day run`): the recorded 2013-10-08 in
sim time at full speed, three clients (ALPHA, BETA, DEMO: their own FIX sessions,
accounts and limits) sending the orders of `deploy/samples/day_orders.csv` through the
client simulator (`tape clients`), the venue simulator trading them against the recorded
market, the end-of-day cancel, the stop, the post-trade records and the archive; then a
short summary of the day: orders, fills, slippage, exceptions, and where the reports,
charts and archive are.

With `--tour`, the older walk through the parts one by one (`run_tour`): the day's ref
data built, a sequencer on an embedded media driver in `sim` time (the market's clock),
the sample app and the market monitor on the stream, a sample file injected (and a bad
one refused whole), an order's life in the OMS by hand, then the FIX path: the DMA stub,
the venue simulator, the venue and client gateways, and a DEMO client order over FIX
that the venue simulator fills against a recorded day of IBM played by the ticker plant
(the simulator when the recorded data is absent); the day stopped, replayed and
verified bit for bit, the journal summarised and shown from its database (`tape db run`
followed the day into DAY/db/tape.duckdb); VWAP orders backtested on the recorded day
(`tape backtest`, into DAY/backtest); a volume curve drawn."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.procs import Proc, ProcError, ProcGroup, remove_aeron_dir, tape_argv

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


def _start_fix(day: Path, group: ProcGroup) -> None:
    """The DMA stub, the venue simulator (following the day's market data), the venue
    gateway and the client gateway, on the shipped deploy/configs/fix.toml; each waited
    for until it says it is ready."""
    group.spawn("algo", tape_argv("app", "run", "algo", "--day", str(day)))
    for argv in (["venue-sim", "--day", str(day)], ["gateway", "venue", "--day", str(day)],
                 ["gateway", "client", "--day", str(day)]):
        ready = group.spawn("-".join(argv[:2]), tape_argv(*argv)).wait_ready(timeout=120)
        console.print(f"{' '.join(argv[:2])}: {ready}", highlight=False)


def _lines_of(proc: Proc) -> list[str]:
    """What a finished process printed on stdout, as lines."""
    import queue

    out: list[str] = []
    while True:
        try:
            m = proc.messages.get_nowait()
        except queue.Empty:
            return out
        out.append(str(m["text"]) if set(m) == {"text"} else json.dumps(m))


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


def run_tour(keep: bool = False) -> int:
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
    group = ProcGroup(day / "logs" / "tour")
    try:
        seq = group.spawn("sequencer", tape_argv(
            "sequencer", "run", "--day", str(day), "--aeron-dir", aeron_dir, "--driver",
            "embedded", "--fsync", "group", "--time-mode", "sim", "--session-date", DEMO_DATE))
        try:
            seq.wait_file(day / "sequencer.status.json", timeout=30)
        except ProcError:
            console.print("[red]the sequencer did not start")
            return 1
        console.rule("the sample app 'counter', the market monitor and the OMS join the stream")
        for app_name in ("counter", "market_monitor", "oms"):
            group.spawn(app_name, tape_argv("app", "run", app_name, "--day", str(day)))
        console.rule("the database writer follows the day into DAY/db/tape.duckdb")
        db = group.spawn("db_writer", tape_argv("db", "run", "--day", str(day)))
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
        _start_fix(day, group)
        # The clearing firm's side of the drop copy, logged on before any fill is copied,
        # so that the day's reconciliation has every copy the session sent.
        group.spawn("drop-copy", tape_argv("gateway", "drop-copy", "--session", "CLEARING",
                                           "--wait", "600"))
        order = group.spawn("order", tape_argv(
            "gateway", "order", "--session", "DEMO", "--symbol", DEMO_SYMBOL, "--side", "buy",
            "--qty", "500", "--price", "181", "--venue", "ARCX", "--cl-ord-id", "DEMO-1",
            "--wait", "120"))
        _wait_for_report(day, "DEMO-1")
        console.rule(f"the ticker plant: {DEMO_DATE} for {DEMO_SYMBOL} on the market's clock; "
                     "the venue simulator fills the order against it")
        feed = ["--feed", "recorded"] if recorded else ["--feed", "sim"]
        _tape("marketdata", "run", "--day", str(day), *feed, "--symbols", DEMO_SYMBOL,
              "--subscribe", DEMO_SYMBOL)
        try:
            order.wait(timeout=120)
        except ProcError:
            console.print("[yellow]the demo order was still working")
        for line in _lines_of(order):
            console.print(f"order: {line}", highlight=False)
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
        except ProcError:
            console.print("[yellow]the database writer was still writing")
    finally:
        group.close()  # every process, in the reverse of its start
        remove_aeron_dir(aeron_dir)
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


#: The demo day's market: the recorded symbols but AIG, whose million quotes of the day
#: would double the day's run time for no new lesson.
DAY_SYMBOLS = "BAC,IBM,SPY"


def run_demo(keep: bool = False, tour: bool = False) -> int:
    """The whole day (and with `tour` the walk through the parts after it)."""
    rc = run_day(keep=keep)
    if tour:
        rc |= run_tour(keep=keep)
    return rc


def run_day(keep: bool = False) -> int:
    root = Path(tempfile.mkdtemp(prefix="tape-demo-"))
    day = root / DEMO_DATE
    orders = resources.files("deploy") / "samples" / "day_orders.csv"
    console.rule("[bold]Tape demo: a whole trading day, unattended")
    console.print(f"days under {root}\nsession {DEMO_DATE}, recorded market {DAY_SYMBOLS} "
                  "in sim time at full speed; clients ALPHA, BETA, DEMO over FIX",
                  highlight=False)
    t0 = time.monotonic()
    with resources.as_file(orders) as opath:
        r = _tape("day", "run", "--root", str(root), "--date", DEMO_DATE, "--symbols",
                  DAY_SYMBOLS, "--orders", str(opath), "--archive", str(root / "archive"),
                  check=False)
    took = time.monotonic() - t0
    if r.returncode:
        console.print(f"[red]the day failed (exit {r.returncode}); its folder: {day}")
        return r.returncode
    console.rule(f"the day in numbers ({took:.0f} s)")
    for line in day_summary(day):
        console.print(line, highlight=False)
    console.rule("tape status: every process of the day, done")
    _tape("status", "--day", str(day), check=False)
    if not keep:
        # The archive is write-once (immutable as root): lift that before removing it.
        subprocess.run(["chattr", "-R", "-i", str(root / "archive")], capture_output=True,
                       check=False)
        for p in (root / "archive").rglob("*"):
            with contextlib.suppress(OSError):
                p.chmod(0o700 if p.is_dir() else 0o600)
        shutil.rmtree(root, ignore_errors=True)
        console.print(f"(removed {root}; `tape demo --keep` keeps it)")
    else:
        console.print(f"kept {root}")
    return 0


def day_summary(day: Path) -> list[str]:
    """Orders, fills, slippage, exceptions, and where things are, from what the day left."""
    import json

    def load(rel: str) -> dict[str, Any]:
        try:
            d = json.loads((day / rel).read_text())
        except (OSError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    lines = []
    clients = load("clients/summary.json")
    t = clients.get("total", {})
    if t:
        lines.append(
            f"orders     {t.get('orders', 0)} from {len(clients.get('clients', {}))} clients "
            f"({t.get('replaces', 0)} amendments, {t.get('cancels', 0)} cancels), "
            f"{t.get('accepted', 0)} accepted, {t.get('rejected', 0)} refused")
        lines.append(f"fills      {t.get('filled_orders', 0)} orders filled, "
                     f"{t.get('shares_filled', 0):,} shares, "
                     f"${float(t.get('notional', 0) or 0):,.0f}")
    q = load("post_trade/quality/quality.json").get("summary", {})
    if q:
        def bps(v: Any) -> str:
            return "-" if v is None else f"{v:+.1f} bps"

        lines.append(f"slippage   mean {bps(q.get('mean_slippage_bps'))} against the interval "
                     f"VWAP (mean |x| {bps(q.get('mean_abs_slippage_bps'))}) over "
                     f"{q.get('orders', 0)} orders")
    flags = load("post_trade/activity/activity.json").get("flag_counts", {})
    if isinstance(flags, dict):
        found = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(flags.items()) if v)
        lines.append(f"exceptions {found or 'none'} (the supervisor's flags, each with its "
                     "rule and why, in the activity report)")
    jobs = {s: load(f"jobs/{s}.json") for s in ("start", "stop", "post-trade", "archive", "run")}
    lines.append("timings    " + ", ".join(
        f"{k} {v[key]:.1f} s" for k, v, key in (
            ("start", jobs["start"], "start_s"), ("stop", jobs["stop"], "stop_s"),
            ("post-trade", jobs["post-trade"], "post_trade_s"),
            ("archive", jobs["archive"], "archive_s"), ("day", jobs["run"], "day_s"))
        if key in v))
    lines.append(f"reports    {day / 'post_trade' / 'activity' / 'activity.html'}")
    lines.append(f"charts     {day / 'post_trade' / 'quality' / 'quality.html'}")
    lines.append(f"archive    {jobs['archive'].get('store', '')}")
    lines.append(f"logs       {day / 'logs'} (one JSON log per process)")
    lines.append(f"blotter    tape blotter --day {day} (with `tape demo --keep`: the day in a "
                 "browser, its slider replays it)")
    return lines
