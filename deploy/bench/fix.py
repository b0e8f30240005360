"""`tape bench fix`: orders through the whole platform over real FIX sessions.

A day is set up in a temporary folder: ref data for 2013-10-08 with a `BENCH`
client whose limits let it send tens of thousands of orders, a sequencer on an
embedded media driver, the OMS and the algo container (its DMA path), the
venue simulator (not scripted: it acknowledges every order; with no market
data on the stream nothing fills, so every child rests on its book), the
venue gateway and the client gateway, each its own process, as in production.
The bench is the client: a QuickFIX initiator in this process, on loopback,
sending FIX 4.4 NewOrderSingles (DMA, 100 IBM at 170, to ARCX) built as text
the fast way (`fixmsg.compose`).

In the same run:
- **baseline**: the same client against `deploy.bench.fix_echo`, a bare
  QuickFIX acceptor that answers each order with an execution report (New) on
  its receiving thread: QuickFIX's own floor, sockets and file store included;
- **latency**: orders at a fixed rate (default 1,000 a second); each order's
  time from the send call to its first execution report (New) arriving at the
  client, at p50, p99 and p99.9 (numpy's linear interpolation);
- **throughput**: a burst of orders sent as fast as the client can with at
  most `window` unanswered, timed from the first send to the later of the
  last New report at the client and the last venue acknowledgement on the
  stream, so the figure covers the whole path: client gateway, sequencer,
  OMS, algo container, venue gateway, venue simulator and back. Every order
  must be acknowledged by the client (`lost` counts those that were not) and
  by the venue (`venue_lost`); a reject counts as a loss.

The headline figures run the sequencer with `--fsync none`: one fdatasync
costs about 0.3 ms on these machines (2 ms at p99), and an order's New report
crosses the sequencer twice, so with group commit (the production policy,
`group_*` figures, measured in the same run unless `--no-group`) the disk sets
the latency, not the platform. Every process's poll loop idles by the day's
transport setting (`--idle`, default `backoff`; `yield_then_sleep` trades CPU
for latency). The CPU each process spent per order of the burst
(`cpu_us_per_order`, from /proc) says where the throughput goes. With `--keep`
the folder stays, with each order's send and New wall times in `orders.csv`,
to lay beside the journal's telemetry (`tape journal latency`).

Both measured loops do the same client work against the platform as against
the echo, so `latency_ratio` (p50 over the baseline's p50) and
`throughput_ratio` (orders/s over the baseline's) say what the platform's
hops cost on top of QuickFIX. Targets: `orders_per_s` >= 3,000 with nothing
lost, `p50_us` <= 600 and `p99_us` <= 2,000 at 1,000 orders/s
(`target_met`); a missed target is reported, not an error (exit 0). A
failure to start the day, or an order not answered, exits 1.
"""

# determinism: edge module, benchmark tooling: processes, sockets, wall-clock timing

from __future__ import annotations

import gc
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import quickfix as fix
import typer

from deploy.bench.fix_echo import BEGIN, CLIENT_ID, ECHO_ID, settings_text
from deploy.procs import ProcError, ProcGroup, remove_aeron_dir, run, tape_argv
from fix_gateways.fixmsg import SOH, compose, message
from fix_gateways.session import Callbacks, write_settings
from sequencer import sources

DATE = "2013-10-08"
GATEWAY_ID = "TAPE"
TARGET_ORDERS_PER_S = 3_000.0
TARGET_P50_US = 600.0
TARGET_P99_US = 2_000.0
_RECV_SRC_TYPE = struct.Struct("<24xqIH")  # recv_ns, source_id, type_id of a frame

Progress = Callable[[str, int, int], None]

# The bench client's QuickFIX engines and applications: destroying one runs the
# engine's stop, which can crash the process (see `session.logout_all`), so they
# live until the process ends with `exit_now`.
_KEEP_ALIVE: list[Any] = []


class BenchError(Exception):
    """The day would not start, or orders were not answered: no figures."""


# ------------------------------------------------------------------ the client


class Client:
    """The bench's FIX client: a Handler for `session.Callbacks`. QuickFIX calls
    `on_message` on its thread; the first New report of each order gives its latency."""

    def __init__(self) -> None:
        self.sent_at: dict[str, int] = {}
        # order -> (wall ns sent, wall ns of its New): kept with --keep, to lay beside
        # the journal's telemetry (also wall time) and split the latency by hop
        self.walls: dict[str, list[int]] = {}
        self.record_walls = False
        self.latencies: list[int] = []
        self.news = 0
        self.rejects = 0
        self.reject_text = ""
        self.last_news_ns = 0  # wall time of the latest New report
        self.logged_on = threading.Event()
        self.sid: Any = None

    def on_logon(self, sid: Any) -> None:
        self.sid = sid
        self.logged_on.set()

    def on_logout(self, sid: Any) -> None:
        self.logged_on.clear()

    def on_message(self, msg: Any, sid: Any) -> None:
        now = time.perf_counter_ns()
        if msg.getHeader().getField(35) != "8":
            return
        exec_type = msg.getField(150)
        if exec_type == "0":
            cl = msg.getField(11)
            t = self.sent_at.pop(cl, None)
            if t is not None:
                self.latencies.append(now - t)
                if self.record_walls:
                    self.walls[cl].append(time.time_ns())
                self.news += 1
                self.last_news_ns = time.time_ns()
        elif exec_type == "8":
            self.rejects += 1
            if not self.reject_text and msg.isSetField(58):
                self.reject_text = msg.getField(58)

    def answered(self) -> int:
        return self.news + self.rejects


_ORDER = (f"{SOH}55=IBM{SOH}54=1{SOH}38=100{SOH}40=2{SOH}44=170{SOH}59=0{SOH}"
          f"60=20131008-13:30:00.000{SOH}7000=DMA{SOH}7010=ARCX{SOH}")


def send_orders(client: Client, prefix: str, n: int, *, rate: float | None = None,
                window: int = 1000, progress: Progress | None = None) -> int:
    """Send `n` orders, at `rate` a second or (None) as fast as the window allows.
    Returns the wall time of the first send. The sender sleeps rather than spins:
    QuickFIX's receiving thread needs the GIL to deliver the answers."""
    sid = client.sid
    send = fix.Session.sendToTarget
    clock = time.perf_counter_ns
    start_wall = time.time_ns()
    start = clock()
    period = 0 if rate is None else int(1e9 / rate)
    base = client.answered()
    for i in range(n):
        cl = f"{prefix}{i}"
        msg = message(compose(BEGIN, "D", f"11={cl}{_ORDER}"))
        if period:
            due = start + i * period
            while (left := due - clock()) > 0:
                time.sleep(left / 1e9)
        else:
            while i - (client.answered() - base) >= window:
                time.sleep(0.0002)
        if client.record_walls:
            client.walls[cl] = [time.time_ns()]
        client.sent_at[cl] = clock()
        if not send(msg, sid):
            raise BenchError(f"QuickFIX would not send order {cl}")
        if i % 500 == 0:
            gc.freeze()  # the client's own collections must not stall its measuring
            if progress is not None:
                progress(prefix, i, n)
    return start_wall


def wait_answers(client: Client, target: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while client.answered() < target:
        if time.monotonic() > deadline:
            raise BenchError(f"only {client.answered():,} of {target:,} orders were answered "
                             f"within {timeout_s:.0f} s")
        time.sleep(0.002)


def start_client(root: Path, port: int, acceptor_id: str) -> tuple[Client, Any]:
    client = Client()
    app = Callbacks(client)
    settings = write_settings(root / "client.cfg", settings_text("initiator", root, port, None,
                                                                 acceptor_id))
    engine = fix.SocketInitiator(app, fix.MemoryStoreFactory(), settings)
    engine.start()
    if not client.logged_on.wait(20):
        raise BenchError(f"the bench client could not log on to port {port}")
    return client, (engine, app)


def percentiles_us(ns: list[int]) -> dict[str, float]:
    a = np.asarray(ns, dtype=np.float64) / 1000.0
    p50, p99, p999 = np.percentile(a, [50.0, 99.0, 99.9])
    return {"p50_us": round(float(p50), 1), "p99_us": round(float(p99), 1),
            "p999_us": round(float(p999), 1), "max_us": round(float(a.max()), 1)}


# ------------------------------------------------------------------ processes


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _refdata_config(root: Path) -> Path:
    """The shipped ref data config, copied, with a BENCH client and firm limits wide
    enough for the bench's orders (every one of them rests at the venue)."""
    from importlib import resources

    src = Path(str(resources.files("refdata") / "defaults"))
    dst = root / "refdata-config"
    shutil.copytree(src, dst)
    path = dst / "clients.csv"
    wide = ",false,false,false,10000000,1000000000.00,1000000000000.00,10000000,1000,*"
    lines = [("*,firm" + wide) if line.startswith("*,") else line
             for line in path.read_text().splitlines()]
    lines.append(f"{CLIENT_ID},Bench client{wide}")
    path.write_text("\n".join(lines) + "\n")
    return dst / "refdata.toml"


def _fix_config(path: Path, gateway_id: str, client_port: int, venue_port: int) -> Path:
    path.write_text(f"""
[client_gateway]
sender_comp_id = "{gateway_id}"
[[client_gateway.sessions]]
client = "{CLIENT_ID}"
comp_id = "{CLIENT_ID}"
fix_version = "4.4"
port = {client_port}

[venue_gateway]
reconnect_s = 1
[[venue_gateway.sessions]]
destination = "DMA-ARCX"
venue = "ARCX"
port = {venue_port}
target_comp_id = "ARCX"
fix_version = "4.4"
""")
    return path


@dataclass
class Platform:
    root: Path
    aeron_dir: str
    fsync: str
    gateway_id: str
    sequencer_config: Path | None = None
    procs: ProcGroup = field(init=False)

    def __post_init__(self) -> None:
        self.procs = ProcGroup(self.root / "logs", stop_timeout=10.0)

    @property
    def day(self) -> Path:
        return self.root / "day"

    def start(self, client_port: int, progress: Progress) -> None:
        day = self.day
        progress("building ref data", 0, 7)
        try:
            r = run(tape_argv("refdata", "build", "--date", DATE, "--out", str(day / "refdata"),
                              "--config", str(_refdata_config(self.root))), timeout=600)
        except subprocess.TimeoutExpired:
            raise BenchError("tape refdata build took more than 600 s") from None
        if r.returncode != 0:
            raise BenchError(f"tape refdata build failed: {r.stderr[-2000:]}")
        config = _fix_config(self.root / "fix.toml", self.gateway_id, client_port,
                             _free_port())
        progress("starting the sequencer", 1, 7)
        seq = self.procs.spawn("sequencer", tape_argv(
            "sequencer", "run", "--day", str(day), "--aeron-dir", self.aeron_dir,
            "--driver", "embedded", "--time-mode", "sim", "--session-date", DATE,
            "--fsync", self.fsync,
            *(["--config", str(self.sequencer_config)] if self.sequencer_config else [])))
        seq.wait_file(day / "sequencer.status.json", timeout=60, what="the sequencer's status")
        for i, app in enumerate(("oms", "algo")):
            progress(f"starting the {app} app", 2 + i, 7)
            p = self.procs.spawn(app, tape_argv("app", "run", app, "--day", str(day)))
            p.wait_file(day / "apps" / f"{app}.status.json", timeout=60,
                        what=f"the {app} app's status")
        progress("starting the venue simulator", 4, 7)
        self.procs.spawn("venue_sim", tape_argv("venue-sim", "--config", str(config), "--root",
                                                str(self.root / "venue-sim"))).wait_ready(60)
        progress("starting the venue gateway", 5, 7)
        self.procs.spawn("venue_gw", tape_argv("gateway", "venue", "--day", str(day),
                                               "--config", str(config))).wait_ready(60)
        progress("starting the client gateway", 6, 7)
        self.procs.spawn("client_gw", tape_argv("gateway", "client", "--day", str(day),
                                                "--config", str(config))).wait_ready(60)

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user and system) each process has used so far."""
        out = {p.name: s for p in self.procs.procs if (s := p.cpu_seconds()) is not None}
        out["bench_client"] = time.process_time()
        return out

    def stop(self) -> None:
        try:
            self.procs.close()
        finally:
            remove_aeron_dir(self.aeron_dir)


class VenueAcks:
    """Follows the day's journal for the venue gateway's acknowledgements."""

    def __init__(self, day: Path) -> None:
        from sequencer.journal import JournalReader
        from sequencer.messages import TYPE_ID
        from sequencer.messages.executions import VenueAck, VenueReject

        self.reader = JournalReader(day / "journal", 1)
        self.ack, self.reject = TYPE_ID[VenueAck], TYPE_ID[VenueReject]
        self.acks = 0
        self.rejects = 0
        self.last_ack_ns = 0

    def poll(self) -> None:
        unpack = _RECV_SRC_TYPE.unpack_from
        while batch := self.reader.read_raw(65536):
            for raw in batch:
                recv, src, typ = unpack(raw)
                if src != sources.VENUE_GATEWAY:
                    continue
                if typ == self.ack:
                    self.acks += 1
                    self.last_ack_ns = recv
                elif typ == self.reject:
                    self.rejects += 1

    def wait(self, target: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if self.acks + self.rejects >= target:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"the venue acknowledged {self.acks:,} of {target:,} orders "
                                 f"within {timeout_s:.0f} s")
            time.sleep(0.05)


# ------------------------------------------------------------------ the run


def measure(client: Client, tag: str, rate: float, seconds: float, burst: int, window: int,
            progress: Progress, between: Callable[[], None] | None = None,
            acks: VenueAcks | None = None,
            cpu: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """Warm-up, the fixed-rate latency run, then the throughput burst."""
    warm = min(500, max(50, int(rate)))
    send_orders(client, f"{tag}W", warm, rate=rate)
    wait_answers(client, warm, 60)
    if acks is not None:
        acks.wait(warm, 60)
    n = max(1, int(rate * seconds))
    client.latencies.clear()
    base = client.answered()
    send_orders(client, f"{tag}L", n, rate=rate, progress=progress)
    wait_answers(client, base + n, 60)
    lat = percentiles_us(client.latencies)
    samples = len(client.latencies)
    if between is not None:
        between()
    time.sleep(0.5)  # let the venue side of the latency run drain
    if acks is not None:
        acks.wait(warm + n, 120)
    base = client.answered()
    base_news, base_rejects = client.news, client.rejects
    cpu_before = cpu() if cpu is not None else {}
    start = send_orders(client, f"{tag}T", burst, window=window, progress=progress)
    wait_answers(client, base + burst, 300)
    end = client.last_news_ns
    venue_lost = 0
    if acks is not None:
        acks.wait(warm + n + burst, 300)
        end = max(end, acks.last_ack_ns)
        venue_lost = acks.rejects
    secs = (end - start) / 1e9
    cpu_after = cpu() if cpu is not None else {}
    # CPU each process spent per order of the burst: where the throughput goes.
    per_order = {name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / burst * 1e6, 1)
                 for name in cpu_after}
    return {**lat, "cpu_us_per_order": per_order, "samples": samples,
            "orders_per_s": round(burst / secs, 1), "burst_s": round(secs, 3),
            "lost": burst - (client.news - base_news) + (client.rejects - base_rejects),
            "venue_lost": venue_lost, "reject_text": client.reject_text}


def run_bench(rate: float, seconds: float, burst: int, window: int, policies: list[str],
              progress: Progress, keep: Path | None = None,
              sequencer_config: Path | None = None, idle: str = "backoff") -> dict[str, Any]:
    """The baseline, then the platform once per fsync policy (the first is the headline)."""
    root = Path(tempfile.mkdtemp(prefix="tape-bench-fix-")) if keep is None else keep
    root.mkdir(parents=True, exist_ok=True)
    echo: ProcGroup | None = None
    platform: Platform | None = None
    runs: dict[str, dict[str, Any]] = {}
    try:
        # The baseline first, on a quiet machine, then the platform.
        port = _free_port()
        echo = ProcGroup(root / "logs", stop_timeout=10.0)
        echo.spawn("echo", [sys.executable, "-m", "deploy.bench.fix_echo", "--port", str(port),
                            "--root", str(root / "echo")]).wait_ready(30)
        client, held = start_client(root / "client-echo", port, ECHO_ID)
        _KEEP_ALIVE.append(held)
        progress("baseline", 0, 1)
        base = measure(client, "B", rate, seconds, burst, window, progress)
        echo.close()
        for i, policy in enumerate(policies):
            # Each platform's gateway has its own CompID: the bench client's sessions
            # share QuickFIX's registry in this process.
            gateway_id = f"TAPE{i}" if i else GATEWAY_ID
            proot = root / f"fsync-{policy}"
            proot.mkdir(parents=True, exist_ok=True)
            config = sequencer_config
            if config is None:
                config = proot / "sequencer.toml"
                config.write_text(f'[transport]\nidle = "{idle}"\n')
            platform = Platform(proot, f"/dev/shm/tape-bench-fix-{os.getpid()}-{i}", policy,
                                gateway_id, config)
            port = _free_port()
            platform.start(port, progress)
            client, held = start_client(root / f"fsync-{policy}" / "client", port, gateway_id)
            _KEEP_ALIVE.append(held)
            client.record_walls = keep is not None
            acks = VenueAcks(platform.day)
            runs[policy] = measure(client, f"P{i}", rate, seconds, burst, window, progress,
                                   between=platform.procs.check_alive, acks=acks,
                                   cpu=platform.cpu_s)
            if client.record_walls:
                with (root / f"fsync-{policy}" / "orders.csv").open("w") as f:
                    f.write("cl_ord_id,sent_wall_ns,new_wall_ns\n")
                    f.writelines(f"{cl},{','.join(map(str, w))}\n"
                                 for cl, w in client.walls.items())
            platform.procs.check_alive()
            platform.stop()
            platform = None
    finally:
        if echo is not None:
            echo.close()
        if platform is not None:
            platform.stop()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    res = runs[policies[0]]
    met = (res["orders_per_s"] >= TARGET_ORDERS_PER_S and res["lost"] == 0
           and res["venue_lost"] == 0 and res["p50_us"] <= TARGET_P50_US
           and res["p99_us"] <= TARGET_P99_US)
    out = {
        "orders_per_s": res["orders_per_s"],
        "p50_us": res["p50_us"], "p99_us": res["p99_us"], "p999_us": res["p999_us"],
        "max_us": res["max_us"],
        "baseline_orders_per_s": base["orders_per_s"],
        "baseline_p50_us": base["p50_us"], "baseline_p99_us": base["p99_us"],
        "baseline_p999_us": base["p999_us"],
        "latency_ratio": round(res["p50_us"] / base["p50_us"], 2),
        "throughput_ratio": round(res["orders_per_s"] / base["orders_per_s"], 3),
        "fsync": policies[0],
        "idle": "from --sequencer-config" if sequencer_config else idle,
        "rate_per_s": rate, "latency_orders": res["samples"],
        "burst_orders": burst, "burst_s": res["burst_s"], "window": window,
        "lost": res["lost"], "venue_lost": res["venue_lost"],
        "target_orders_per_s": TARGET_ORDERS_PER_S, "target_p50_us": TARGET_P50_US,
        "target_p99_us": TARGET_P99_US, "target_met": met,
        "cpu_us_per_order": res["cpu_us_per_order"],
    }
    for policy in policies[1:]:
        r = runs[policy]
        out |= {f"{policy}_orders_per_s": r["orders_per_s"], f"{policy}_p50_us": r["p50_us"],
                f"{policy}_p99_us": r["p99_us"], f"{policy}_p999_us": r["p999_us"],
                f"{policy}_lost": r["lost"] + r["venue_lost"]}
    return out


def bench_fix(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    rate: Annotated[float, typer.Option(help="Orders a second in the latency run.")] = 1000.0,
    seconds: Annotated[float, typer.Option(help="Length of the latency run.")] = 10.0,
    orders: Annotated[int, typer.Option(help="Orders in the throughput burst.")] = 20_000,
    window: Annotated[int, typer.Option(
        help="Most orders unanswered at once in the burst.")] = 1_000,
    fsync: Annotated[str, typer.Option(
        help="The sequencer's journal fsync policy for the headline figures: none | group "
             "| always.")] = "none",
    also_group: Annotated[bool, typer.Option(
        "--group/--no-group",
        help="Also run the platform with group commit (the production policy) and report "
             "group_* figures.")] = True,
    idle: Annotated[str, typer.Option(
        help="The day's idle strategy (every process's poll loop): backoff (the default) | "
             "yield_then_sleep | sleeping | yielding | busy_spin.")] = "backoff",
    sequencer_config: Annotated[Path | None, typer.Option(
        help="A sequencer config (TOML) for the day instead (transport, group commit); "
             "--idle is then ignored.")] = None,
    keep: Annotated[Path | None, typer.Option(
        help="Run in this folder and keep it (day, logs, FIX stores) for a look.")] = None,
) -> None:
    """Orders over FIX through the client gateway, sequencer, OMS, algo container,
    venue gateway and venue simulator, against a bare QuickFIX echo measured alongside."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table as RichTable

    from fix_gateways.session import exit_now

    err = Console(stderr=True)
    if rate <= 0 or seconds <= 0 or orders < 1 or window < 1:
        err.print("[red]error:[/red] --rate, --seconds, --orders and --window must be positive")
        raise typer.Exit(2)
    if idle not in ("backoff", "yield_then_sleep", "sleeping", "yielding", "busy_spin"):
        err.print(f"[red]error:[/red] --idle: no idle strategy {idle!r}")
        raise typer.Exit(2)
    if fsync not in ("group", "always", "none"):
        err.print(f"[red]error:[/red] --fsync must be group, always or none, not {fsync!r}")
        raise typer.Exit(2)
    sys.setswitchinterval(0.0002)  # the client's two threads hand the GIL over promptly
    with Progress(TextColumn("bench fix: {task.description}"), BarColumn(),
                  TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
                  console=err, transient=True) as prog:
        task = prog.add_task("starting", total=1)

        def progress(what: str, done: int, total: int) -> None:
            prog.update(task, description=what, completed=done, total=total)

        policies = [fsync, *(["group"] if also_group and fsync != "group" else [])]
        try:
            res = run_bench(rate, seconds, orders, window, policies, progress, keep,
                            sequencer_config, idle)
        except (BenchError, ProcError) as e:
            prog.stop()
            err.print(f"[red]error:[/red] {e}")
            exit_now(1)
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        exit_now(0)
    t = RichTable(title=f"tape bench fix ({res['latency_orders']:,} orders at "
                        f"{rate:,.0f}/s, a burst of {orders:,})")
    t.add_column("path")
    t.add_column("orders/s", justify="right")
    t.add_column("p50 µs", justify="right")
    t.add_column("p99 µs", justify="right")
    t.add_column("p99.9 µs", justify="right")
    t.add_row("QuickFIX echo (baseline)", f"{res['baseline_orders_per_s']:,.0f}",
              f"{res['baseline_p50_us']:,.0f}", f"{res['baseline_p99_us']:,.0f}",
              f"{res['baseline_p999_us']:,.0f}")
    t.add_row(f"platform end to end, fsync {res['fsync']}", f"{res['orders_per_s']:,.0f}",
              f"{res['p50_us']:,.0f}", f"{res['p99_us']:,.0f}", f"{res['p999_us']:,.0f}")
    for policy in policies[1:]:
        t.add_row(f"platform end to end, fsync {policy}",
                  f"{res[f'{policy}_orders_per_s']:,.0f}", f"{res[f'{policy}_p50_us']:,.0f}",
                  f"{res[f'{policy}_p99_us']:,.0f}", f"{res[f'{policy}_p999_us']:,.0f}")
    t.add_row("target", f">= {TARGET_ORDERS_PER_S:,.0f}", f"<= {TARGET_P50_US:,.0f}",
              f"<= {TARGET_P99_US:,.0f}", "")
    Console().print(t)
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in res["cpu_us_per_order"].items())
    print(f"CPU per order in the burst (µs): {cpu}")
    print(f"ratios to the baseline: latency {res['latency_ratio']}x, throughput "
          f"{res['throughput_ratio']}; lost {res['lost']}, venue lost {res['venue_lost']}; "
          f"target {'met' if res['target_met'] else 'MISSED'}")
    exit_now(0)
