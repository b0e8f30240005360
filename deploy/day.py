"""`tape day JOB`: the trading day as a chain of scheduler jobs (Jenkins runs one per
stage: deploy/jenkins/Jenkinsfile), each safe to run again.

    prepare     build and verify the day's ref data set; the day's plan (DAY/config/)
    start       supervisord brings the topology up in dependency order, each process
                waited for until healthy and caught up; clients and venues connected
    eod         the end-of-day cancel (`EndOfDay`): every open order cancelled back to its
                client, every child at its venue; wait until none is open
    stop        SystemStop; every app and the writer reach the last seq (apps write their
                last snapshot); the rest stopped in reverse order; the journal verified
    post-trade  the post-trade records (`tape post-trade DAY`, then `check-cat`)
    archive     the day packed write-once into the archive store (`tape archive pack`)
    run         all of them in order; with `--orders FILE` a recorded day's clients
                (`tape clients`) trade it, on the market's clock, as fast as it goes

The day is `--day DIR`, or `--date D` under `--root` (default `$TAPE_DAYS`, else
`./days`): `ROOT/D`. Exit codes a scheduler acts on: 0 done (a stage already done says
so and exits 0), 1 failed, 2 bad usage, including a stage run out of order (`eod` before
`start`, `archive` before `stop`: the message says what to run first) and a second
`start` on a running day. Every job ends with one summary line (`--json`: one JSON
object) and leaves `DAY/jobs/<stage>.json` (ok, summary, when) for the next stage and
for ops.

What the plan fixes at `prepare` (DAY/config/day.json): the session date, the mode
(`sim`: a recorded day on the market's clock, the venue simulator standing in for the
venues; `live`: the wall clock and real venues), the topology file, the Aeron directory,
the archive store and the retention; `DAY/config/fix.toml` is the day's copy of the FIX
sessions (the shipped one unless `--fix-config`). Later stages read them from there.
"""

# determinism: edge module, ops tooling: runs the day's processes and jobs

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from deploy.supervise import Supervisor, SupervisorError
from deploy.topology import DEFAULT_TOPOLOGY, Topology, load_topology
from deploy.watch import watch_cmd

STAGES = ("prepare", "start", "eod", "stop", "post-trade", "archive")

#: What each stage needs done first.
REQUIRES: dict[str, tuple[str, ...]] = {
    "prepare": (),
    "start": ("prepare",),
    "eod": ("start",),
    "stop": ("start",),
    "post-trade": ("stop",),
    "archive": ("stop", "post-trade"),
}

DEFAULT_FIX = DEFAULT_TOPOLOGY.parent / "fix.toml"

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class JobError(Exception):
    """A job that cannot be done: exit `code` (1 failed, 2 bad usage or out of order)."""

    def __init__(self, text: str, code: int = 1) -> None:
        super().__init__(text)
        self.code = code


# ---------------------------------------------------------------- the day's plan


@dataclass
class Plan:
    """What `prepare` fixes for the day (DAY/config/day.json)."""

    date: str
    mode: str  # sim | live
    topology: str
    aeron_dir: str
    archive: str
    retention_years: int
    data: str = ""  # a recorded day's data folder ("" the default)
    #: A sim day's market: the symbols the ticker plant plays whole (its clock is the
    #: day's clock: with nothing on the stream, time would not pass).
    symbols: list[str] = field(default_factory=list)

    @property
    def time_mode(self) -> str:
        return "sim" if self.mode == "sim" else "wall"

    @property
    def speed(self) -> str:
        return "fast" if self.mode == "sim" else "real"

    def optional(self) -> list[str]:
        """Optional processes this day runs: a sim day's venue simulator."""
        return ["venue_sim"] if self.mode == "sim" else []


def recorded_symbols(date: str, data: Path | None) -> list[str]:
    """The symbols with recorded quotes or trades on `date`."""
    from marketdata.recorded import default_data_dir, tick_file

    folder = data or default_data_dir() / "us_equities_2013-10"
    tick = folder / "tick"
    if not tick.is_dir():
        return []
    return sorted(p.name.upper() for p in tick.iterdir()
                  if any(tick_file(folder, p.name.upper(), date, k).exists()
                         for k in ("quote", "trade")))


def plan_path(day: Path) -> Path:
    return day / "config" / "day.json"


def load_plan(day: Path) -> Plan:
    try:
        d = json.loads(plan_path(day).read_text())
        return Plan(**d)
    except FileNotFoundError:
        raise JobError(f"{day} has no plan ({plan_path(day)}): run `tape day prepare` "
                       "first", 2) from None
    except (OSError, ValueError, TypeError) as e:
        raise JobError(f"{plan_path(day)}: unreadable plan: {e}") from None


def aeron_dir_for(day: Path) -> str:
    """A per-day Aeron directory under /dev/shm (one day's processes on their own)."""
    digest = hashlib.sha256(str(day.resolve()).encode()).hexdigest()[:12]
    return f"/dev/shm/tape-day-{digest}"


def host_aeron_dir(plan: Plan, host: str) -> str:
    """A host's Aeron directory: each host of a multi-host day has its own media driver
    (hosts that share a machine, as the network-namespace tests do, need their own)."""
    return f"{plan.aeron_dir}-{host}" if host else plan.aeron_dir


def host_env(plan: Plan, host: str) -> dict[str, str]:
    """What a process of `host` is told of its host (sequencer.config: HOST_ENV)."""
    from sequencer.config import AERON_DIR_ENV, HOST_ENV

    return {HOST_ENV: host, AERON_DIR_ENV: host_aeron_dir(plan, host)} if host else {}


def values(day: Path, plan: Plan, host: str = "") -> dict[str, str]:
    """The topology's placeholders for this day (and a host of it)."""
    return {"python": sys.executable, "day": str(day), "date": plan.date,
            "aeron_dir": host_aeron_dir(plan, host), "config_dir": str(day / "config"),
            "time_mode": plan.time_mode, "speed": plan.speed,
            "subscribe": ",".join(plan.symbols)}


def topology_of(plan: Plan) -> Topology:
    from sequencer.config import ConfigError

    try:
        return load_topology(Path(plan.topology))
    except ConfigError as e:
        raise JobError(str(e), 2) from None


SEQUENCER_CONFIG = "sequencer.toml"


def write_transport(day: Path, topo: Topology) -> Path:
    """DAY/config/sequencer.toml: the stream's channels as the topology places the
    processes (`Topology.transport`; nothing on a single-host day). A multi-host
    topology's sequencer reads it (`--config {config_dir}/sequencer.toml`)."""
    lines = ["# Written by `tape day prepare` from the day's topology: do not edit.",
             "[sequencer.transport]"]
    for key, v in topo.transport().items():
        lines.append(f"{key} = {json.dumps(v)}")
    path = day / "config" / SEQUENCER_CONFIG
    path.write_text("\n".join(lines) + "\n")
    return path


def _hosts_of(topo: Topology, host: str, stage: str) -> str:
    """`host` checked against the topology: required on a multi-host day, refused on a
    single-host one."""
    if topo.multi_host and not host:
        raise JobError(f"{stage}: this day runs across hosts "
                       f"({', '.join(h.name for h in topo.hosts)}): name this one with "
                       "--host (a multi-host day is started host by host, the "
                       "sequencer's first)", 2)
    if host and not topo.multi_host:
        raise JobError(f"{stage}: --host {host}: the day's topology declares no hosts "
                       "(a single-host day)", 2)
    if host:
        try:
            topo.host(host)
        except KeyError as e:
            raise JobError(f"{stage}: --host: {e.args[0]}", 2) from None
    return host


def fix_config_on_free_ports(src: Path, dst: Path) -> Path:
    """`src`'s FIX sessions with every port moved to a free one (sessions that shared a
    port still share one): a day beside another (a benchmark, a test, the demo) without
    the two meeting."""
    import re
    import socket

    text = src.read_text()
    moved: dict[str, str] = {}

    def free(m: re.Match[str]) -> str:
        old = m.group(2)
        if old not in moved:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                moved[old] = str(s.getsockname()[1])
        return f"{m.group(1)}{moved[old]}"

    dst.write_text(re.sub(r"(?m)^(\s*port\s*=\s*)(\d+)", free, text))
    return dst


# ---------------------------------------------------------------- stage records


def _record_path(day: Path, stage: str) -> Path:
    return day / "jobs" / f"{stage}.json"


def done(day: Path, stage: str) -> dict[str, Any] | None:
    """The record of `stage` when it finished well, else None."""
    try:
        d = json.loads(_record_path(day, stage).read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) and d.get("ok") else None


def _record(day: Path, stage: str, ok: bool, summary: str, **extra: Any) -> None:
    path = _record_path(day, stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"stage": stage, "ok": ok, "summary": summary,
           "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **extra}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _require(day: Path, stage: str) -> None:
    missing = [s for s in REQUIRES[stage] if done(day, s) is None]
    if missing:
        raise JobError(f"{stage} refused: run `tape day {missing[0]}` first "
                       f"({', '.join(missing)} not done for {day.name})", 2)


# ---------------------------------------------------------------- helpers


def _tape(*args: str, quiet: bool = False, timeout: float | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "deploy", *args], text=True,
                          capture_output=quiet, check=False, timeout=timeout)


def _say(text: str) -> None:
    err.print(f"[dim]{dt.datetime.now().strftime('%H:%M:%S')}[/dim] {text}")


def running(day: Path) -> bool:
    """Does the day's supervisord run?"""
    try:
        hosts = [h.name for h in topology_of(load_plan(day)).hosts]
    except JobError:
        hosts = []
    return any(Supervisor(day, h).pid() is not None for h in hosts or [""])


def _journal_last(day: Path) -> tuple[int, bool]:
    """(last seq, SystemStop sequenced) from the sequencer's status."""
    try:
        st = json.loads((day / "sequencer.status.json").read_text())
    except (OSError, ValueError):
        return 0, False
    return int(st.get("last_seq", 0)), st.get("state") == "stopped"


# ---------------------------------------------------------------- prepare


def prepare(day: Path, *, date: str, mode: str, topology: Path | None, fix_config: Path | None,
            archive: Path | None, retention_years: int, data: Path | None,
            symbols: list[str]) -> str:
    rec = done(day, "prepare")
    if rec is not None:
        r = _tape("refdata", "verify", str(day / "refdata"), quiet=True)
        if r.returncode == 0:
            return f"already prepared: {rec['summary']}"
        _say("the ref data set no longer verifies: building it again")
    if running(day):
        raise JobError(f"{day} is running: a day's ref data is not rebuilt under it", 2)
    topo_path = (topology or DEFAULT_TOPOLOGY).resolve()
    if mode == "sim":
        recorded = recorded_symbols(date, data)
        if not recorded:
            raise JobError(f"no recorded market data for {date}"
                           + (f" in {data}" if data else "") + ": a sim day needs it", 2)
        unknown = [s for s in symbols if s not in recorded]
        if unknown:
            raise JobError(f"--symbols: {', '.join(unknown)} not recorded on {date} "
                           f"(recorded: {', '.join(recorded)})", 2)
        symbols = symbols or recorded
    plan = Plan(date=date, mode=mode, topology=str(topo_path), aeron_dir=aeron_dir_for(day),
                archive=str((archive or day.parent / "archive").resolve()),
                retention_years=retention_years, data=str(data.resolve()) if data else "",
                symbols=symbols)
    topology_of(plan)  # a bad topology is refused before anything is built
    (day / "config").mkdir(parents=True, exist_ok=True)
    fix_src = (fix_config or DEFAULT_FIX).resolve()
    from fix_gateways.config import load_fix_config
    from sequencer.config import ConfigError

    try:
        load_fix_config(fix_src)
    except ConfigError as e:
        raise JobError(str(e), 2) from None
    shutil.copyfile(fix_src, day / "config" / "fix.toml")
    write_transport(day, topology_of(plan))
    tmp = plan_path(day).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(plan), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, plan_path(day))
    _say(f"building the ref data set for {date}")
    args = ["refdata", "build", "--date", date, "--out", str(day / "refdata")]
    if data:
        args += ["--data", str(data)]
    r = _tape(*args, quiet=True)
    if r.returncode:
        raise JobError(f"ref data build failed (exit {r.returncode}): "
                       f"{(r.stderr or r.stdout).strip()[-2000:]}")
    r = _tape("refdata", "verify", str(day / "refdata"), quiet=True)
    if r.returncode:
        raise JobError(f"the ref data set does not verify: {(r.stdout + r.stderr).strip()}")
    summary = f"prepared {date} ({mode} day): ref data built and verified, plan in config/"
    _record(day, "prepare", True, summary)
    return summary


# ---------------------------------------------------------------- start


def start(day: Path, *, market: bool = True, host: str = "") -> str:
    """Bring the day up; `market=False` leaves the ticker plant for `open_market` (a sim
    day's clients log on before the recorded market starts to play). On a multi-host day
    `host` names the host whose processes this starts (each host runs its own
    supervisord, media driver and processes)."""
    _require(day, "start")
    if done(day, "stop") is not None:
        return "already done: the day was started and has stopped"
    plan = load_plan(day)
    topo = topology_of(plan)
    host = _hosts_of(topo, host, "start")
    sv = Supervisor(day, host)
    where = f" on host {host}" if host else ""
    if sv.pid() is not None:
        raise JobError(f"start refused: {day.name} is running{where} (supervisord pid "
                       f"{sv.pid()}); `tape status` shows it, `tape day stop` stops it", 2)
    mine = set(topo.on_host(host))
    names = [n for n in topo.selected(plan.optional()) if n in mine]
    vals = values(day, plan, host)
    sv.write_config(topo, names, vals, host_env(plan, host))
    t0 = time.monotonic()
    sv.launch()
    _say(f"supervisord{where} up (pid {sv.pid()}); starting {len(names)} processes")
    held = {n for n in names if topo.process(n).role == "marketdata" and not market}
    _start_all(sv, topo, [n for n in names if n not in held], plan, host)
    ok_s = time.monotonic() - t0
    summary = (f"started {len(names) - len(held)} processes{where}, every one healthy, in "
               f"{ok_s:.1f} s")
    _record(day, f"start-{host}" if host else "start", True, summary,
            start_s=round(ok_s, 3), processes=len(names) - len(held))
    if host:  # the day counts as started once its sequencer's host is
        seq = topo.sequencer_host()
        if seq is not None and seq.name == host:
            _record(day, "start", True, summary, start_s=round(ok_s, 3))
    return summary


def _start_all(sv: Supervisor, topo: Topology, names: list[str], plan: Plan,
               host: str = "") -> None:
    """Start every process as soon as what it depends on is healthy (independent ones
    side by side: most of a start is each Python process importing its modules), in the
    topology's order among those ready together; fail naming the first that does not
    come up in its time."""
    chosen = set(names)
    deps = {n: [d for d in topo.process(n).depends_on if d in chosen] for n in names}
    healthy: set[str] = set()
    waiting: dict[str, tuple[int, float]] = {}  # started: stdout offset, deadline
    while len(healthy) < len(names):
        for n in names:
            if n not in healthy and n not in waiting and all(d in healthy for d in deps[n]):
                waiting[n] = (sv.out_offset(n), time.monotonic() + topo.process(n).health.timeout_s)
                sv.start(n)
        for n, (off, deadline) in list(waiting.items()):
            p = topo.process(n)
            ok, why = sv.health(p, off, host_aeron_dir(plan, host))
            if ok:
                healthy.add(n)
                del waiting[n]
                _say(f"{n}: healthy")
                continue
            info = sv.info(n)
            if info.state == "FATAL" or time.monotonic() > deadline:
                tail = sv.err_tail(n)
                raise JobError(f"process {n} did not come up within {p.health.timeout_s:g} s: "
                               f"{why}" + (f"\n{tail}" if tail else ""))
        time.sleep(0.05)


def open_market(day: Path) -> None:
    """Start the ticker plant (held back by `start(market=False)`)."""
    plan = load_plan(day)
    topo = topology_of(plan)
    for name in topo.selected(plan.optional()):
        p = topo.process(name)
        if p.role == "marketdata":
            _start_all(Supervisor(day, p.host), topo, [name], plan, p.host)


# ---------------------------------------------------------------- eod


class OpenOrders:
    """The day's open client orders, followed from the journal as it grows: accepted
    (an ExecutionReport of a new order) and not yet done (`ParentDone`)."""

    def __init__(self, day: Path) -> None:
        from sequencer.journal import JournalReader

        self._reader = JournalReader(day / "journal")
        self.open: dict[str, str] = {}  # order_id -> "client cl_ord_id symbol"
        self.done: set[str] = set()

    def poll(self) -> dict[str, str]:
        from sequencer.messages import TYPE_ID, decode
        from sequencer.messages.executions import ExecutionReport
        from sequencer.messages.orders import ParentDone

        er, pd = TYPE_ID[ExecutionReport], TYPE_ID[ParentDone]
        while True:
            batch = self._reader.read()
            if not batch:
                return self.open
            for f in batch:
                if f.type_id == er:
                    m = decode(er, f.payload)
                    assert isinstance(m, ExecutionReport)
                    if m.exec_type in ("new", "pending_new") and m.order_id not in self.done:
                        self.open[m.order_id] = f"{m.client} {m.cl_ord_id} {m.symbol}"
                elif f.type_id == pd:
                    m2 = decode(pd, f.payload)
                    assert isinstance(m2, ParentDone)
                    self.done.add(m2.order_id)
                    self.open.pop(m2.order_id, None)

    def close(self) -> None:
        self._reader.close()


def eod(day: Path, *, deadline_s: float) -> str:
    _require(day, "eod")
    rec = done(day, "eod")
    if done(day, "stop") is not None:
        if rec is not None:
            return f"already done: {rec['summary']}"
        raise JobError("eod refused: the day is stopped (no input is taken)", 2)
    if not running(day):
        raise JobError(f"eod refused: {day.name} is not running: run `tape day start` "
                       "first", 2)
    from sequencer.inject import InjectInterrupted, inject
    from sequencer.messages.admin import EndOfDay
    from sequencer.ownership import OwnershipError
    from sequencer.transport import TransportError

    try:
        # A sim day's sequencer may still be busy with the market's last burst.
        res = inject(day, [EndOfDay(reason="tape day eod")], timeout_s=120.0)
    except (OwnershipError, TransportError, InjectInterrupted) as e:
        raise JobError(f"eod: the EndOfDay could not be sequenced: {e}") from None
    _say(f"EndOfDay sequenced at seq {res.last_seq}; waiting for every order to close")
    follow = OpenOrders(day)
    try:
        end = time.monotonic() + deadline_s
        left = follow.poll()
        while left and time.monotonic() < end:
            time.sleep(0.2)
            left = follow.poll()
        closed = len(follow.done)
    finally:
        follow.close()
    if left:
        listing = "; ".join(f"{k} ({v})" for k, v in sorted(left.items())[:20])
        summary = (f"eod: {len(left)} orders still open after {deadline_s:g} s: {listing}"
                   + (" ..." if len(left) > 20 else ""))
        _record(day, "eod", False, summary, open=sorted(left))
        raise JobError(summary)
    summary = f"end of day: EndOfDay at seq {res.last_seq}; no order open ({closed} done)"
    _record(day, "eod", True, summary, seq=res.last_seq)
    return summary


# ---------------------------------------------------------------- stop


def stop(day: Path, *, deadline_s: float, host: str = "") -> str:
    """SystemStop (once), then this day's processes (a host's, on a multi-host day:
    stopped host by host, the sequencer's last) once every follower reached it."""
    _require(day, "stop")
    plan = load_plan(day)
    topo = topology_of(plan)
    host = _hosts_of(topo, host, "stop")
    stage = f"stop-{host}" if host else "stop"
    rec = done(day, stage)
    if rec is not None:
        return f"already stopped: {rec['summary']}"
    os.environ.update(host_env(plan, host))  # the inject below goes through this host
    sv = Supervisor(day, host)
    seq_host = topo.sequencer_host()
    journal_here = not host or (seq_host is not None and seq_host.name == host)
    t0 = time.monotonic()
    last, stopped = _journal_last(day)
    if not stopped:
        if sv.pid() is None:
            raise JobError(f"stop: {day.name} is not running and has no SystemStop: start it "
                           "(`tape day start`) to stop it cleanly", 1)
        from sequencer.inject import InjectInterrupted, inject
        from sequencer.messages.control import SystemStop
        from sequencer.ownership import OwnershipError
        from sequencer.transport import TransportError

        try:
            res = inject(day, [SystemStop(reason="tape day stop")], timeout_s=120.0)
            last = res.last_seq
        except InjectInterrupted:
            last, _ = _journal_last(day)  # stopped meanwhile: fine
        except (OwnershipError, TransportError) as e:
            raise JobError(f"stop: SystemStop could not be sequenced: {e}") from None
        _say(f"SystemStop sequenced at seq {last}")
    mine = set(topo.on_host(host))
    names = [n for n in topo.selected(plan.optional()) if n in mine]
    lagging = _wait_followers(day, topo, names, last, time.monotonic() + deadline_s)
    if sv.pid() is not None:
        for name in reversed(names):
            sv.stop(name)
        sv.shutdown()
    from sequencer.journal import verify

    stop_s = time.monotonic() - t0
    if journal_here:
        rep = verify(day / "journal")
        if not rep.clean:
            summary = f"stop: the journal does not verify: {rep}"
            _record(day, stage, False, summary)
            raise JobError(summary)
    if lagging:
        summary = f"stop: {', '.join(lagging)} did not reach seq {last} in {deadline_s:g} s"
        _record(day, stage, False, summary)
        raise JobError(summary)
    from deploy.procs import remove_aeron_dir

    # (and its owner lock): nobody on this host uses them any more
    remove_aeron_dir(host_aeron_dir(plan, host))
    where = f" on host {host}" if host else ""
    summary = (f"stopped at seq {last}{where}: every app and the writer reached it, "
               f"processes stopped" + (", journal verified" if journal_here else "")
               + f", in {stop_s:.1f} s")
    _record(day, stage, True, summary, last_seq=last, stop_s=round(stop_s, 3))
    if host and journal_here:
        _record(day, "stop", True, summary, last_seq=last, stop_s=round(stop_s, 3))
    return summary


def _wait_followers(day: Path, topo: Topology, names: list[str], last: int,
                    deadline: float) -> list[str]:
    """Wait until every app and the writer has handled seq `last`; the ones that did not."""
    want: dict[str, Path] = {}
    for n in names:
        p = topo.process(n)
        if p.role in ("app", "db") and p.health.path:
            want[n] = day / p.health.path
    behind = dict(want)
    while behind and time.monotonic() < deadline:
        for n, path in list(behind.items()):
            try:
                st = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            seq = st.get("seq", st.get("last_seq", 0))
            if isinstance(seq, int) and seq >= last:
                del behind[n]
        if behind:
            time.sleep(0.1)
    return sorted(behind)


# ---------------------------------------------------------------- post-trade, archive


def post_trade(day: Path) -> str:
    _require(day, "post-trade")
    last, _ = _journal_last(day)
    rec = done(day, "post-trade")
    if rec is not None and rec.get("last_seq") == last:
        return f"already done: {rec['summary']}"
    t0 = time.monotonic()
    r = _tape("post-trade", str(day), "--json", quiet=True)
    if r.returncode not in (0, 1):
        raise JobError(f"post-trade failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
    try:
        res = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        res = {}
    c = _tape("post-trade", "check-cat", str(day), quiet=True)
    secs = time.monotonic() - t0
    breaks = r.returncode != 0 or c.returncode != 0
    summary = (f"post-trade records in {day / 'post_trade'} in {secs:.1f} s"
               + ("; BREAKS found (see the recon and check-cat)" if breaks else ", no breaks"))
    _record(day, "post-trade", not breaks, summary, last_seq=last,
            post_trade_s=round(secs, 3), result=res)
    if breaks:
        raise JobError(summary + "\n" + (r.stderr + c.stdout + c.stderr).strip()[-3000:])
    return summary


def archive(day: Path) -> str:
    _require(day, "archive")
    rec = done(day, "archive")
    if rec is not None:
        return f"already archived: {rec['summary']}"
    plan = load_plan(day)
    from deploy.archive import ArchiveError, pack

    t0 = time.monotonic()
    try:
        res = pack(day, Path(plan.archive), retention_years=plan.retention_years)
    except ArchiveError as e:
        raise JobError(f"archive refused: {e}") from None
    secs = time.monotonic() - t0
    summary = res.summary() + f" ({secs:.1f} s)"
    # The record goes next to the day, not in it: the archived day is what was packed.
    _record(day, "archive", True, summary, archive_s=round(secs, 3), store=plan.archive)
    return summary


# ---------------------------------------------------------------- run


def run(day: Path, *, orders: Path | None, eod_deadline_s: float, stop_deadline_s: float,
        market_timeout_s: float, prep: dict[str, Any]) -> str:
    """Every stage in order; a stage already done is passed over."""
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    @contextmanager
    def timed(stage: str) -> Iterator[None]:
        s0 = time.monotonic()
        yield
        timings[stage] = round(time.monotonic() - s0, 3)

    with timed("prepare"):
        _say(prepare(day, **prep))
    plan = load_plan(day)
    outside: list[subprocess.Popen[bytes]] = []  # the clients and the clearing firm
    try:
        with timed("start"):
            sim_clients = orders is not None and plan.mode == "sim"
            _say(start(day, market=not sim_clients))
        clients: subprocess.Popen[bytes] | None = None
        if orders is not None and done(day, "eod") is None and done(day, "stop") is None:
            # The clearing firm's side of the drop copy first, so that the day's
            # reconciliation has every copy the session sent.
            outside.append(_start_outside(day, "clearing", [
                "gateway", "drop-copy", "--session", "CLEARING", "--wait", "86400",
                "--config", str(day / "config" / "fix.toml")], ready=None))
            clients = _start_outside(day, "clients", [
                "clients", "--orders", str(orders), "--day", str(day), "--config",
                str(day / "config" / "fix.toml"), "--json"], ready="ready")
            outside.append(clients)
            if sim_clients:
                open_market(day)
        with timed("wait-close"):
            if plan.mode == "sim" and done(day, "stop") is None:
                _say(wait_close(day, close="16:00", timeout_s=market_timeout_s))
        with timed("eod"):
            if done(day, "stop") is None:
                _say(eod(day, deadline_s=eod_deadline_s))
        if clients is not None:
            try:
                clients.wait(timeout=60)  # it ends once every order is done
            except subprocess.TimeoutExpired:
                clients.terminate()
        with timed("stop"):
            _say(stop(day, deadline_s=stop_deadline_s))
    finally:
        for p in outside:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    with timed("post-trade"):
        _say(post_trade(day))
    with timed("archive"):
        _say(archive(day))
    total = time.monotonic() - t0
    summary = _day_summary(day, total)
    _record(day, "run", True, summary, timings=timings, day_s=round(total, 3))
    return summary


def _start_outside(day: Path, name: str, args: list[str], ready: str | None
                   ) -> subprocess.Popen[bytes]:
    """A process of the day's counterparties (not the broker's: not supervised), its
    output in DAY/logs/<name>.out and .err; with `ready`, returns once it prints its
    ready line."""
    logs = day / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_path = logs / f"{name}.out"
    start_at = out_path.stat().st_size if out_path.exists() else 0
    with out_path.open("ab") as o, (logs / f"{name}.err").open("ab") as e:
        p = subprocess.Popen([sys.executable, "-m", "deploy", *args], stdout=o, stderr=e)
    if ready is None:
        return p
    from deploy.supervise import check_health
    from deploy.topology import Health

    rule = Health(kind="ready_line")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if check_health(rule, day, out_path, start_at, "")[0]:
            _say(f"{name}: logged on")
            return p
        if p.poll() is not None:
            break
        time.sleep(0.1)
    if p.poll() is None:
        p.kill()
    raise JobError(f"{name} did not log on (exit {p.wait()}; see {logs / f'{name}.err'})")


def _wait_market(day: Path, timeout_s: float) -> int:
    """A sim day: wait until the ticker plant has played the recorded day (it exits)."""
    plan = load_plan(day)
    topo = topology_of(plan)
    plants = [n for n in topo.selected(plan.optional()) if topo.process(n).role == "marketdata"]
    end = time.monotonic() + timeout_s
    for n in plants:
        sv = Supervisor(day, topo.process(n).host)  # its host's (a multi-host day)
        while time.monotonic() < end:
            info = sv.info(n)
            if info.state == "EXITED" and info.exitstatus == 0:
                break
            if info.state == "FATAL":
                raise JobError(f"the ticker plant gave up: {info.description}; "
                               f"{sv.err_tail(n)}")
            time.sleep(0.2)
        else:
            raise JobError(f"the ticker plant did not finish the recorded day in "
                           f"{timeout_s:g} s")
    # The close is when the apps have seen the market to its end, not when the plant has
    # sent it: the end-of-day cancel goes after every fill the market gave.
    last, _ = _journal_last(day)
    behind = _wait_followers(day, topo, [n for n in topo.selected(plan.optional())
                                         if topo.process(n).role == "app"],
                             last, end)
    if behind:
        raise JobError(f"{', '.join(behind)} did not catch up with the market (seq {last}) "
                       f"in {timeout_s:g} s")
    return last


def wait_close(day: Path, *, close: str, timeout_s: float) -> str:
    """Wait for the close: a sim day's recorded market has played (the ticker plant is
    done), a live day's clock (the sequencer's) has passed `close` exchange time."""
    _require(day, "eod")
    if done(day, "stop") is not None or done(day, "eod") is not None:
        return "already past the close"
    plan = load_plan(day)
    if plan.mode == "sim":
        last = _wait_market(day, timeout_s)
        summary = f"the recorded market has played; the apps have seen it (seq {last})"
        _record(day, "wait-close", True, summary)
        return summary
    import zoneinfo

    tz = zoneinfo.ZoneInfo("America/New_York")  # the US equity venues' clock
    close_at = dt.datetime.combine(dt.date.fromisoformat(plan.date),
                                   dt.time.fromisoformat(close), tzinfo=tz)
    close_ns = int(close_at.timestamp()) * 1_000_000_000
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            ts = int(json.loads((day / "sequencer.status.json").read_text())["last_ts"])
        except (OSError, ValueError, KeyError):
            ts = 0
        if ts >= close_ns:
            _record(day, "wait-close", True, f"the day's clock passed {close}")
            return f"the day's clock passed {close}"
        time.sleep(1.0)
    raise JobError(f"the close ({close}) did not come within {timeout_s:g} s")


def _day_summary(day: Path, total_s: float) -> str:
    """Orders, fills, exceptions and where things are, in one line."""
    try:
        s = json.loads((day / "clients" / "summary.json").read_text())
        t = s.get("total", s)
        orders = f"{t.get('orders', '?')} orders, {t.get('filled_orders', '?')} filled, " \
                 f"{t.get('shares_filled', '?')} shares, {t.get('rejected', '?')} rejected"
    except (OSError, ValueError, AttributeError):
        orders = "no client summary"
    plan = load_plan(day)
    return (f"day {plan.date} run in {total_s:.0f} s: {orders}; reports "
            f"{day / 'post_trade'}; archived in {plan.archive}")


# ---------------------------------------------------------------- the command


day_app = typer.Typer(help="The trading day's jobs, one per stage, as a scheduler runs "
                           "them: prepare, start, eod, stop, post-trade, archive, run.",
                      no_args_is_help=True)

day_app.command("watch")(watch_cmd)

DateOpt = Annotated[str | None, typer.Option("--date", help="The session date, YYYY-MM-DD.")]
DayDirOpt = Annotated[Path | None, typer.Option("--day", help="The day folder.")]
HostOpt = Annotated[str, typer.Option(
    "--host", envvar="TAPE_HOST", help="A multi-host day: this host's name in the topology "
    "(its processes only).")]
RootOpt = Annotated[Path | None, typer.Option(
    "--root", envvar="TAPE_DAYS",
    help="Where day folders live (ROOT/DATE; default $TAPE_DAYS, else ./days).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="The summary as one JSON object.")]
SymbolsOpt = Annotated[str | None, typer.Option(
    envvar="TAPE_SYMBOLS",
    help="A sim day's market: these symbols, comma separated (default: every symbol "
         "recorded that day).")]


def _symbols(text: str | None) -> list[str]:
    return sorted({s.strip().upper() for s in (text or "").split(",") if s.strip()})


def _day_of(date: str | None, day: Path | None, root: Path | None) -> tuple[Path, str]:
    if day is None and date is None:
        raise JobError("give --date D or --day DIR", 2)
    if date is not None:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise JobError(f"--date: expected YYYY-MM-DD, got {date!r}", 2) from None
    if day is None:
        base = root or Path(os.environ.get("TAPE_DAYS", "days"))
        day = base / str(date)
    day = day.resolve()
    if date is None:
        try:
            date = load_plan(day).date
        except JobError:
            date = day.name
            try:
                dt.date.fromisoformat(date)
            except ValueError:
                raise JobError(f"{day} has no plan and its name is not a date: give "
                               "--date", 2) from None
    return day, date


def _finish(stage: str, fn: Callable[[], str], json_: bool, day: Path) -> None:
    t0 = time.monotonic()
    try:
        summary = fn()
    except JobError as e:
        _end(stage, json_, day, False, str(e), time.monotonic() - t0)
        raise typer.Exit(e.code) from None
    except SupervisorError as e:
        _end(stage, json_, day, False, str(e), time.monotonic() - t0)
        raise typer.Exit(1) from None
    _end(stage, json_, day, True, summary, time.monotonic() - t0)


def _end(stage: str, json_: bool, day: Path, ok: bool, text: str, secs: float) -> None:
    if json_:
        print(json.dumps({"stage": stage, "day": str(day), "ok": ok, "summary": text,
                          "elapsed_s": round(secs, 3)}))
    elif ok:
        out.print(f"[green]{stage}:[/green] {text}")
    else:
        err.print(f"[red]{stage} failed:[/red] {text}")


@day_app.command("prepare")
def prepare_cmd(
    date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
    mode: Annotated[str, typer.Option(envvar="TAPE_MODE", help=(
        "sim (a recorded day on the market's clock, the venue simulator) | live"))] = "sim",
    topology: Annotated[Path | None, typer.Option(
        help="The topology file (default deploy/configs/day.toml).")] = None,
    fix_config: Annotated[Path | None, typer.Option(
        "--fix-config", envvar="TAPE_FIX_CONFIG",
        help="The FIX sessions (default deploy/configs/fix.toml).")] = None,
    archive_store: Annotated[Path | None, typer.Option(
        "--archive", envvar="TAPE_ARCHIVE",
        help="The archive store (default ROOT/archive).")] = None,
    retention_years: Annotated[int, typer.Option(
        help="Years the archive keeps the day.")] = 6,
    data: Annotated[Path | None, typer.Option(help="Recorded data folder.")] = None,
    symbols: SymbolsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Build and verify the day's ref data set; fix the day's plan."""
    d, dd = _resolve(date, day, root, json_, "prepare")
    _check_mode(mode, retention_years, json_, d)
    _finish("prepare", lambda: prepare(
        d, date=dd, mode=mode, topology=topology, fix_config=fix_config,
        archive=archive_store, retention_years=retention_years, data=data,
        symbols=_symbols(symbols)),
        json_, d)


def _resolve(date: str | None, day: Path | None, root: Path | None, json_: bool,
             stage: str) -> tuple[Path, str]:
    try:
        return _day_of(date, day, root)
    except JobError as e:
        _end(stage, json_, Path(str(day or date)), False, str(e), 0.0)
        raise typer.Exit(e.code) from None


def _check_mode(mode: str, years: int, json_: bool, day: Path) -> None:
    why = ("--mode: expected sim or live" if mode not in ("sim", "live") else
           "--retention-years: expected 1 or more" if years < 1 else "")
    if why:
        _end("prepare", json_, day, False, why, 0.0)
        raise typer.Exit(2)


@day_app.command("start")
def start_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
              hold_market: Annotated[bool, typer.Option(
                  "--hold-market", help="A sim day: leave the ticker plant stopped (and "
                  "with it the day's clock), so that clients, blotters and ops are in "
                  "place before the recorded market plays; `tape day open-market` starts "
                  "it.")] = False,
              host: HostOpt = "",
              json_: JsonOpt = False) -> None:
    """Bring up the day's topology under supervisord in dependency order; wait until every
    process is healthy and caught up. Fails naming the process that did not come up. A
    multi-host day is started host by host (`--host`), the sequencer's host first."""
    d, _ = _resolve(date, day, root, json_, "start")
    _finish("start", lambda: start(d, market=not hold_market, host=host), json_, d)


@day_app.command("open-market")
def open_market_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
                    json_: JsonOpt = False) -> None:
    """Start the ticker plant of a day started with `--hold-market`."""
    d, _ = _resolve(date, day, root, json_, "open-market")

    def go() -> str:
        if done(d, "start") is None:
            raise JobError("open-market refused: the day has not started (run start)", 2)
        plan = load_plan(d)
        topo = topology_of(plan)
        plant_hosts = {topo.process(n).host for n in topo.selected(plan.optional())
                       if topo.process(n).role == "marketdata"}
        if not any(Supervisor(d, h).pid() is not None for h in plant_hosts):
            raise JobError(f"open-market refused: {d.name} is not running"
                           + (f" on {', '.join(sorted(plant_hosts))}"
                              if topo.multi_host else ""), 2)
        open_market(d)
        return "the ticker plant is up: the recorded market plays"

    _finish("open-market", go, json_, d)


@day_app.command("eod")
def eod_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
            deadline: Annotated[float, typer.Option(
                help="Seconds to wait for every order to close.")] = 120.0,
            json_: JsonOpt = False) -> None:
    """The end-of-day cancel; wait until no order is open (exit 1 listing those still open
    at the deadline)."""
    d, _ = _resolve(date, day, root, json_, "eod")
    _finish("eod", lambda: eod(d, deadline_s=deadline), json_, d)


@day_app.command("wait-close")
def wait_close_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
                   close: Annotated[str, typer.Option(
                       help="The close, exchange time HH:MM (a live day).")] = "16:00",
                   timeout: Annotated[float, typer.Option(
                       help="Seconds to wait at most.")] = 12 * 3600.0,
                   json_: JsonOpt = False) -> None:
    """Wait for the close (the scheduler's stage between start and eod): a live day's
    clock past --close, or a recorded day's market played."""
    d, _ = _resolve(date, day, root, json_, "wait-close")
    _finish("wait-close", lambda: wait_close(d, close=close, timeout_s=timeout), json_, d)


@day_app.command("stop")
def stop_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
             deadline: Annotated[float, typer.Option(
                 help="Seconds for the apps and the writer to reach the last seq.")] = 120.0,
             host: HostOpt = "",
             json_: JsonOpt = False) -> None:
    """SystemStop; wait for every app and the writer; stop the processes in reverse
    order; verify the journal. A multi-host day is stopped host by host (`--host`), the
    sequencer's host last."""
    d, _ = _resolve(date, day, root, json_, "stop")
    _finish("stop", lambda: stop(d, deadline_s=deadline, host=host), json_, d)


@day_app.command("post-trade")
def post_trade_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
                   json_: JsonOpt = False) -> None:
    """The post-trade records of the stopped day (tape post-trade, check-cat)."""
    d, _ = _resolve(date, day, root, json_, "post-trade")
    _finish("post-trade", lambda: post_trade(d), json_, d)


@day_app.command("archive")
def archive_cmd(date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
                json_: JsonOpt = False) -> None:
    """Pack the stopped day write-once into the archive store (hash-chained manifest)."""
    d, _ = _resolve(date, day, root, json_, "archive")
    _finish("archive", lambda: archive(d), json_, d)


@day_app.command("run")
def run_cmd(
    date: DateOpt = None, day: DayDirOpt = None, root: RootOpt = None,
    orders: Annotated[Path | None, typer.Option(
        help="Client orders for the day's clients (tape clients).")] = None,
    mode: Annotated[str, typer.Option(envvar="TAPE_MODE", help="sim | live")] = "sim",
    fix_config: Annotated[Path | None, typer.Option(
        "--fix-config", envvar="TAPE_FIX_CONFIG", help="As for prepare.")] = None,
    archive_store: Annotated[Path | None, typer.Option(
        "--archive", envvar="TAPE_ARCHIVE", help="As for prepare.")] = None,
    retention_years: Annotated[int, typer.Option(help="As for prepare.")] = 6,
    eod_deadline: Annotated[float, typer.Option(help="Seconds for eod.")] = 120.0,
    stop_deadline: Annotated[float, typer.Option(help="Seconds for stop.")] = 120.0,
    market_timeout: Annotated[float, typer.Option(
        help="Seconds a sim day's market may take to play.")] = 600.0,
    symbols: SymbolsOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Every stage in order: prepare, start, (clients), eod, stop, post-trade, archive."""
    d, dd = _resolve(date, day, root, json_, "run")
    _check_mode(mode, retention_years, json_, d)
    if orders is not None and not orders.is_file():
        _end("run", json_, d, False, f"--orders: no such file {orders}", 0.0)
        raise typer.Exit(2)
    prep = {"date": dd, "mode": mode, "topology": None, "fix_config": fix_config,
            "archive": archive_store, "retention_years": retention_years, "data": None,
            "symbols": _symbols(symbols)}
    _finish("run", lambda: run(d, orders=orders, eod_deadline_s=eod_deadline,
                               stop_deadline_s=stop_deadline,
                               market_timeout_s=market_timeout, prep=prep), json_, d)
