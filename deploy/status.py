"""`tape status --day DAY`: every process of a day, up or down, from what it leaves behind.

Nothing here talks to a process: the day folder, `/proc` and the sequencer's day lock
say everything, so the command works on a day that is running, stopped or crashed, and
costs the processes nothing.

Where each process is found:

- the sequencer: `sequencer.status.json` (pid, last seq, publish lag, counters, written
  every half second); the live holder of `sequencer.lock` wins over a stale pid;
- each app: `apps/<app>.status.json` (seq, counts, written every half second). It
  records no pid: the app's process is looked for in `/proc` (a command line with
  `app run <app>` whose `--day` is this day);
- the database writer: `db/writer.status.json` (and `writer-<id>.status.json` for a
  PostgreSQL URL): pid, last seq, its own lag, outages, written every half second;
- the edge processes: the ticker plant `marketdata/plant.status.json` (state, seq,
  rows, published, the market time of its latest row, the symbols subscribed), the FIX
  gateways `fix/client_gateway.status.json` and `fix/venue_gateway.status.json` (state,
  each session logged on or not, seq, counts), the venue simulator
  `fix/venue_sim.status.json` (state, sessions, orders working, fills, the seq of its
  market data): pid and `updated_wall_ns`, written every half second, so their
  heartbeat is judged as the others' are, and a seq and a lag where the file has a seq.
  A process found running by the `/proc` scan wins over a dead pid in its file (a
  restart that has not written its status yet);
- processes that write no status file (the media driver; an edge process of a day run
  before they wrote one): found by their log file (`logs/<process>.log`) and by a
  `/proc` scan of command lines naming this day. Their heartbeat is the log's mtime,
  which moves only on events, so it is shown and never judged stale; a seq and a lag
  they do not have.

Up, stale, down, done. A pid is up when `/proc/<pid>` exists, is not a zombie, and is
the same process that wrote the status: its start time (from `/proc/<pid>/stat` and the
boot time) is not after the status was written (a pid reused by a later process fails
this). A process is "stale" when it is up but its status file is older than `stale_s`
(hung, or stuck in a long call), "down" when it is not up, "done" when it is not up
and the day is over (the sequencer says "stopped", or an app or the writer finished
at the day's SystemStop, an edge process whose status says "done"): a finished day is
healthy. The pid check is immediate, so a
killed process shows down at the next look; an app (no pid of its own in the file)
whose process is not found shows down once its half-second heartbeat is `stale_s` old.

CPU % is the process's CPU time (user + system, `/proc/<pid>/stat`) over its whole
life (a lifetime average: one look, no sampling delay); memory is its resident set
(`VmRSS` of `/proc/<pid>/status`).

Restarts: no status file counts them, so the process's log does: each start leaves a
known line (the sequencer's `journal_recovered`, the writer's "writing ..." or "... is
all in ...", and for any process a `process_started` or `starting` event); restarts =
starts - 1. Apps, the gateways, the plant and the simulator log no start line: their
restarts are unknown ("-"). Logs are read incrementally (each file from where the last
look stopped), so a long-running metrics endpoint re-reads nothing.

Healthy: up (or done) and not stale and the lag within `max_lag_frames`.
"""

# determinism: edge module, ops tooling: reads status files, /proc and the journal

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

SEQUENCER_STATUS = "sequencer.status.json"
APP_STATUS_SUFFIX = ".status.json"
#: The edge processes' status files (relative to the day folder), by process name.
EDGE_STATUS_FILES: dict[str, str] = {
    "ticker_plant": "marketdata/plant.status.json",
    "client_gateway": "fix/client_gateway.status.json",
    "venue_gateway": "fix/venue_gateway.status.json",
    "venue_sim": "fix/venue_sim.status.json",
    "watch": "watch/status.json",
    "journal_server": "journal_server.status.json",
}
#: The edge processes, by their log's name, and how their command line names them
#: (tokens that follow each other in argv).
EDGE_PROCESSES: dict[str, tuple[str, ...]] = {
    "ticker_plant": ("marketdata", "run"),
    "client_gateway": ("gateway", "client"),
    "venue_gateway": ("gateway", "venue"),
    "venue_sim": ("venue-sim",),
    "watch": ("day", "watch"),
    "journal_server": ("journal", "serve"),
}
#: Log files that are not a process's (appended by commands, not processes).
NOT_PROCESS_LOGS = frozenset({"clock_checks"})
DEFAULT_MAX_LAG_FRAMES = 100_000
#: btime is in whole seconds and start times in clock ticks: a process may look up to
#: this much younger than it is.
_START_SLACK_NS = 1_500_000_000

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

out = Console()
err = Console(stderr=True)


# ------------------------------------------------------------------ /proc


@dataclass(frozen=True)
class ProcInfo:
    """What /proc says of one live process."""

    pid: int
    start_wall_ns: int
    cpu_percent: float
    rss_bytes: int
    cmdline: tuple[str, ...]


def _boot_wall_ns() -> int:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1]) * 1_000_000_000
    return 0


def proc_info(pid: int) -> ProcInfo | None:
    """The live process `pid`, or None (no such process, a zombie, or unreadable)."""
    if pid <= 0:
        return None
    base = Path("/proc") / str(pid)
    try:
        stat = (base / "stat").read_text()
        status = (base / "status").read_text()
        cmd = (base / "cmdline").read_bytes()
        with open("/proc/uptime") as f:
            uptime_s = float(f.read().split()[0])
    except (OSError, ValueError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    rest = stat[stat.rfind(")") + 2:].split()
    if not rest or rest[0] in ("Z", "X"):  # a zombie has died: its parent has not reaped it
        return None
    utime, stime, start_ticks = int(rest[11]), int(rest[12]), int(rest[19])
    age_s = uptime_s - start_ticks / _CLK_TCK
    cpu = 100.0 * (utime + stime) / _CLK_TCK / age_s if age_s > 0 else 0.0
    rss = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
            break
    start_wall = _boot_wall_ns() + start_ticks * 1_000_000_000 // _CLK_TCK
    argv = tuple(a for a in cmd.decode(errors="replace").split("\0") if a)
    return ProcInfo(pid, start_wall, round(cpu, 2), rss, argv)


def _day_of(pid: int, argv: tuple[str, ...]) -> Path | None:
    """The day folder a command line names with --day, resolved from the process's cwd."""
    val = None
    for i, a in enumerate(argv):
        if a == "--day" and i + 1 < len(argv):
            val = argv[i + 1]
        elif a.startswith("--day="):
            val = a[len("--day="):]
    if val is None:
        return None
    p = Path(val)
    if not p.is_absolute():
        try:
            p = Path(os.readlink(f"/proc/{pid}/cwd")) / p
        except OSError:
            return None
    try:
        return p.resolve()
    except OSError:
        return None


def _has_run(argv: tuple[str, ...], words: tuple[str, ...]) -> int:
    """Index just after `words` appearing in a row in argv, or -1."""
    n = len(words)
    for i in range(len(argv) - n + 1):
        if argv[i:i + n] == words:
            return i + n
    return -1


def classify(argv: tuple[str, ...]) -> str | None:
    """Which process of a day a command line runs (its log's name), or None."""
    if _has_run(argv, ("sequencer", "run")) >= 0:
        return "sequencer"
    at = _has_run(argv, ("app", "run"))
    if at >= 0 and at < len(argv) and not argv[at].startswith("-"):
        return argv[at]
    if _has_run(argv, ("db", "run")) >= 0:
        return "db_writer"
    for name, words in EDGE_PROCESSES.items():
        if _has_run(argv, words) >= 0:
            return name
    return None


def scan_day_processes(day: Path) -> dict[str, list[int]]:
    """Live processes whose command line runs a process of `day` (--day), by name; the
    media driver by the Aeron directory the day's stream.json names."""
    want = day.resolve()
    aeron_dir = _aeron_dir(day)
    found: dict[str, list[int]] = {}
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        argv = tuple(a for a in raw.decode(errors="replace").split("\0") if a)
        if not argv:
            continue
        if aeron_dir and _runs_driver(argv):
            at = _has_run(argv, ("--aeron-dir",))
            if 0 <= at < len(argv) and argv[at] == aeron_dir:
                found.setdefault("driver", []).append(pid)
            continue
        name = classify(argv)
        if name is None or _day_of(pid, argv) != want:
            continue
        found.setdefault(name, []).append(pid)
    return found


def _runs_driver(argv: tuple[str, ...]) -> bool:
    """A standalone media driver: the one a sequencer spawns (`-m sequencer.driver`) or
    `tape driver` (the topology's `-m deploy driver`)."""
    if _has_run(argv, ("-m", "sequencer.driver")) >= 0:
        return True
    if _has_run(argv, ("-m", "deploy", "driver")) >= 0:
        return True
    return any(Path(a).name == "tape" and argv[i + 1] == "driver"
               for i, a in enumerate(argv[:-1]))


def _aeron_dir(day: Path) -> str | None:
    try:
        d = json.loads((day / "stream.json").read_text())
    except (OSError, ValueError):
        return None
    v = d.get("aeron_dir") if isinstance(d, dict) else None
    return str(v) if v else None


# ------------------------------------------------------------------ logs: restarts


def _is_start(name: str, line: dict[str, Any]) -> bool:
    """A line a process writes once per start, other than `process_started` (which every
    process writes from `sequencer.logs.configure`; these count only in logs without it)."""
    ev = line.get("event")
    if ev == "starting":
        return True
    if name == "sequencer":
        return ev == "journal_recovered"
    if name.startswith("db_writer") and ev == "db_writer":
        text = str(line.get("text", ""))
        return text.startswith("writing ") or " is all in " in text
    return False


#: Processes whose logs have a start line (others: restarts unknown).
_COUNTS_STARTS = ("sequencer", "db_writer")


class _LogStarts:
    """Start lines per log file, read incrementally: (inode, offset, count) per path."""

    def __init__(self) -> None:
        # path -> (inode, offset read to, process_started lines, other start lines)
        self._seen: dict[Path, tuple[int, int, int, int]] = {}

    def starts(self, path: Path, name: str) -> int:
        try:
            st = path.stat()
        except OSError:
            return 0
        inode, off, started, count = self._seen.get(path, (st.st_ino, 0, 0, 0))
        if inode != st.st_ino or st.st_size < off:  # a new or truncated file: from the top
            off, started, count = 0, 0, 0
        if st.st_size > off:
            with open(path, "rb") as f:
                f.seek(off)
                chunk = f.read(st.st_size - off)
            end = chunk.rfind(b"\n") + 1  # a line still being written waits for next time
            for raw in chunk[:end].splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(line, dict):
                    continue
                if line.get("event") == "process_started":
                    started += 1
                elif _is_start(name, line):
                    count += 1
            off += end
        self._seen[path] = (st.st_ino, off, started, count)
        return started or count


_LOGS = _LogStarts()


def restarts_of(day: Path, name: str, log: str | None = None) -> int | None:
    """Restarts of a process from its log's start lines; None when its log has none to
    count (apps, gateways, the plant, the simulator) or there is no log."""
    path = day / "logs" / f"{log or name}.log"
    if not path.exists():
        return None
    n = _LOGS.starts(path, name)
    if n == 0 and not name.startswith(_COUNTS_STARTS):
        return None
    return max(0, n - 1)


# ------------------------------------------------------------------ the day's status


@dataclass
class ProcessStatus:
    """One process of the day, as `tape status` shows it."""

    name: str
    kind: str  # sequencer, app, db_writer, edge (no status file), driver
    state: str  # up, stale, down, done, unknown
    healthy: bool
    pid: int | None = None
    seq: int | None = None
    lag_frames: int | None = None
    heartbeat_wall_ns: int | None = None
    heartbeat_age_s: float | None = None
    cpu_percent: float | None = None
    rss_bytes: int | None = None
    restarts: int | None = None
    status_file: str | None = None
    why: str = ""  # why it is not healthy, or a note
    fields: dict[str, Any] = field(default_factory=dict)  # the status file as written
    host: str = ""  # where the topology places it (a multi-host day)

    @property
    def up(self) -> bool:
        return self.state in ("up", "stale")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["up"] = self.up
        return d


@dataclass
class DayStatus:
    day: str
    now_wall_ns: int
    sequencer_seq: int | None  # the sequencer's last seq: what lags are measured against
    day_stopped: bool
    processes: list[ProcessStatus]

    @property
    def healthy(self) -> bool:
        return bool(self.processes) and all(p.healthy for p in self.processes)

    def get(self, name: str) -> ProcessStatus | None:
        return next((p for p in self.processes if p.name == name), None)

    def summary(self) -> str:
        n = len(self.processes)
        bad = [p.name for p in self.processes if not p.healthy]
        up = sum(p.up for p in self.processes)
        head = (f"{n} process{'es' if n != 1 else ''}, {up} up; sequencer at seq "
                f"{self.sequencer_seq if self.sequencer_seq is not None else '-'}"
                f"{' (day stopped)' if self.day_stopped else ''}")
        if not n:
            return "no process has run in this day folder: unhealthy"
        return head + (f"; unhealthy: {', '.join(bad)}" if bad else "; all healthy")

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "now_wall_ns": self.now_wall_ns,
                "sequencer_seq": self.sequencer_seq, "day_stopped": self.day_stopped,
                "healthy": self.healthy, "summary": self.summary(),
                "processes": [p.to_json() for p in self.processes]}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or caught between write and rename
        return None
    return d if isinstance(d, dict) else None


def _heartbeat(path: Path, st: dict[str, Any]) -> int:
    """When the status was written: its own time stamp, else the file's mtime."""
    v = st.get("updated_wall_ns")
    if isinstance(v, int) and v > 0:
        return v
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _judge(p: ProcessStatus, info: ProcInfo | None, *, now_ns: int, stale_s: float,
           finished: bool, max_lag: int, hb_judged: bool = True) -> None:
    """Fill state, health and the /proc figures of `p` from its live process `info`."""
    if p.heartbeat_wall_ns is not None:
        p.heartbeat_age_s = round(max(0, now_ns - p.heartbeat_wall_ns) / 1e9, 3)
    fresh = p.heartbeat_age_s is not None and p.heartbeat_age_s <= stale_s
    if info is not None:
        p.pid, p.cpu_percent, p.rss_bytes = info.pid, info.cpu_percent, info.rss_bytes
        p.state = "stale" if hb_judged and not fresh else "up"
    elif p.pid is None and hb_judged and fresh and not finished:
        # No pid to check (an app whose command line was not found): its half-second
        # heartbeat is the only sign of life.
        p.state = "up"
        p.why = "alive by its heartbeat (no process found)"
    else:
        p.state = "done" if finished else "down"
    if p.state == "stale":
        p.why = f"status {p.heartbeat_age_s:.1f}s old (over {stale_s}s), pid alive"
    elif p.state == "down":
        p.why = ("not running" + (f" (pid {p.pid} gone)" if p.pid else "")
                 + (f", last heard {p.heartbeat_age_s:.1f}s ago"
                    if p.heartbeat_age_s is not None and hb_judged else ""))
    lag_bad = p.lag_frames is not None and p.lag_frames > max_lag and p.state != "done"
    if lag_bad:
        p.why = (p.why + "; " if p.why else "") + f"lag {p.lag_frames} frames (over {max_lag})"
    p.healthy = p.state in ("up", "done") and not lag_bad


def _same_process(pid: int | None, written_ns: int | None) -> ProcInfo | None:
    """The live process `pid` if it can be the one that wrote a status at `written_ns`."""
    if not pid:
        return None
    info = proc_info(pid)
    if info is None:
        return None
    if written_ns and info.start_wall_ns > written_ns + _START_SLACK_NS:
        return None  # the pid was reused by a process started after the status was written
    return info


def day_status(day: Path, *, now_ns: int | None = None, stale_s: float = 2.0,
               max_lag_frames: int = DEFAULT_MAX_LAG_FRAMES) -> DayStatus:
    """Every process found in the day folder `day` (see the module's docstring)."""
    day = Path(day)
    now = time.time_ns() if now_ns is None else now_ns
    running = scan_day_processes(day)
    procs: list[ProcessStatus] = []

    seq_path = day / SEQUENCER_STATUS
    seq_st = _read_json(seq_path)
    head: int | None = None
    stopped = False
    if seq_st is not None:
        head = int(seq_st.get("last_seq", 0))
        stopped = seq_st.get("state") == "stopped" or bool(
            (seq_st.get("recovery") or {}).get("stopped"))
    app_files = sorted((day / "apps").glob(f"*{APP_STATUS_SUFFIX}"))
    apps = [(f, _read_json(f)) for f in app_files]
    db_files = sorted((day / "db").glob("writer*.status.json"))
    dbs = [(f, _read_json(f)) for f in db_files]
    # The day is over once any process saw its SystemStop.
    stopped = stopped or any(st and st.get("stopped_by_stream") for _, st in apps) or any(
        st and st.get("state") == "done" for _, st in dbs)

    def lag(seq: int | None) -> int | None:
        return None if seq is None or head is None else max(0, head - seq)

    if seq_st is not None:
        p = ProcessStatus("sequencer", "sequencer", "unknown", False,
                          pid=int(seq_st.get("pid") or 0) or None, seq=head,
                          lag_frames=int(seq_st.get("lag_frames", 0)),
                          heartbeat_wall_ns=_heartbeat(seq_path, seq_st),
                          status_file=str(seq_path), fields=seq_st)
        info = _same_process(p.pid, p.heartbeat_wall_ns)
        if info is None:
            # The day lock's live holder is the sequencer even before its first status.
            from sequencer.ownership import owner_of_day

            owner = owner_of_day(day)
            if owner is not None and owner.pid:
                info = proc_info(owner.pid)
        closed = seq_st.get("state") == "closed"
        _judge(p, info, now_ns=now, stale_s=stale_s, finished=stopped and closed,
               max_lag=max_lag_frames)
        p.restarts = restarts_of(day, "sequencer")
        procs.append(p)

    for path, st in apps:
        if st is None:
            continue
        name = str(st.get("app") or path.name[: -len(APP_STATUS_SUFFIX)])
        pids = running.get(name, [])
        own = int(st.get("pid") or 0)  # the runner records its pid; older files did not
        if own and own not in pids and _same_process(own, _heartbeat(path, st)) is not None:
            pids = [own, *pids]
        seq = int(st.get("seq", 0))
        p = ProcessStatus(name, "app", "unknown", False, pid=pids[0] if pids else None,
                          seq=seq, lag_frames=lag(seq), heartbeat_wall_ns=_heartbeat(path, st),
                          status_file=str(path), fields=st)
        info = proc_info(pids[0]) if pids else None
        _judge(p, info, now_ns=now, stale_s=stale_s,
               finished=bool(st.get("stopped_by_stream")), max_lag=max_lag_frames)
        if p.healthy and st.get("waiting_for_sequencer"):
            p.why = "waiting for the sequencer"
        if len(pids) > 1:
            p.why = (p.why + "; " if p.why else "") + f"{len(pids)} processes: {pids}"
        p.restarts = restarts_of(day, name)
        procs.append(p)

    for path, st in dbs:
        if st is None:
            continue
        tag = path.name[len("writer"):-len(".status.json")]
        name = "db_writer" + (tag if tag else "")
        seq = int(st.get("last_seq", 0))
        p = ProcessStatus(name, "db_writer", "unknown", False,
                          pid=int(st.get("pid") or 0) or None, seq=seq,
                          lag_frames=int(st["lag_frames"]) if "lag_frames" in st else lag(seq),
                          heartbeat_wall_ns=_heartbeat(path, st), status_file=str(path),
                          fields=st)
        info = _same_process(p.pid, p.heartbeat_wall_ns)
        _judge(p, info, now_ns=now, stale_s=stale_s, finished=st.get("state") == "done",
               max_lag=max_lag_frames)
        if st.get("state") == "database unavailable":
            p.healthy = False
            p.why = (p.why + "; " if p.why else "") + "database unavailable"
        p.restarts = restarts_of(day, "db_writer", "db_writer")
        procs.append(p)

    # The edge processes' status files.
    for name, rel in EDGE_STATUS_FILES.items():
        path = day / rel
        st = _read_json(path)
        if st is None:
            continue
        at = st.get("seq")
        edge_seq = at if isinstance(at, int) and not isinstance(at, bool) else None
        beat_ns = _heartbeat(path, st)
        p = ProcessStatus(name, "edge", "unknown", False,
                          pid=int(st.get("pid") or 0) or None, seq=edge_seq,
                          lag_frames=lag(edge_seq), heartbeat_wall_ns=beat_ns,
                          status_file=str(path), fields=st)
        info = _same_process(p.pid, beat_ns)
        pids = running.get(name, [])
        if info is None and pids:
            # Its pid is gone but the process runs: restarted, its status not written yet.
            info = proc_info(pids[0])
        _judge(p, info, now_ns=now, stale_s=stale_s,
               finished=stopped or st.get("state") == "done", max_lag=max_lag_frames)
        every = sorted({*pids, *([info.pid] if info is not None else [])})
        if len(every) > 1:  # two of one process on one day: worth saying
            p.why = (p.why + "; " if p.why else "") + f"{len(every)} processes: {every}"
        p.restarts = restarts_of(day, name)
        procs.append(p)

    # Processes without a status file: by their log, or found running.
    known = {p.name for p in procs}
    logs = {f.stem for f in (day / "logs").glob("*.log")} - NOT_PROCESS_LOGS
    edge = sorted((logs | set(running)) - known - {"db_writer"})
    for name in edge:
        if name in known:
            continue
        log = day / "logs" / f"{name}.log"
        pids = running.get(name, [])
        hb = None
        with contextlib.suppress(OSError):
            hb = log.stat().st_mtime_ns
        kind = "driver" if name == "driver" else "edge"
        p = ProcessStatus(name, kind, "unknown", False, pid=pids[0] if pids else None,
                          heartbeat_wall_ns=hb, fields={})
        info = proc_info(pids[0]) if pids else None
        # A log moves only on events: its age says nothing of liveness. The driver
        # outlives the day by design (it ends on its own 10 minutes after the sequencer).
        _judge(p, info, now_ns=now, stale_s=stale_s,
               finished=stopped or kind == "driver", max_lag=max_lag_frames,
               hb_judged=False)
        # The plant ends by itself when its feed is done, and then writes its report: a
        # report newer than its log is a finished run (a log written after it, a later run).
        report = day / "marketdata" / "plant.json"
        plant_done = report.exists() and report.stat().st_mtime_ns >= (hb or 0)
        if p.state == "down" and name == "ticker_plant" and plant_done:
            p.state, p.healthy, p.why = "done", True, ""
        if p.state == "down":
            p.why = "not running (known by its log: it writes no status file)"
        p.restarts = restarts_of(day, name)
        procs.append(p)
    hosts = _hosts_of(day)
    for p in procs:
        p.host = hosts.get(p.name, "")
    return DayStatus(str(day), now, head, stopped, procs)


def _hosts_of(day: Path) -> dict[str, str]:
    """Process name -> host, from the day's plan's topology (empty: one host, or no
    plan). Every host's processes write their status files into the day folder, so one
    `tape status` shows them all, from any host."""
    try:
        from deploy.day import load_plan, topology_of

        topo = topology_of(load_plan(day))
    except Exception:  # a day without a usable plan is shown without hosts
        return {}
    return {p.name: p.host for p in topo.processes if p.host}


# ------------------------------------------------------------------ the command


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    v = float(n)
    for unit in ("B", "K", "M", "G"):
        if v < 1024 or unit == "G":
            return f"{v:.0f}{unit}" if unit == "B" else f"{v:.1f}{unit}"
        v /= 1024
    return "-"


def _opt(v: object, fmt: str = "{}") -> str:
    return "-" if v is None else fmt.format(v)


_STYLE = {"up": "green", "done": "blue", "stale": "yellow", "down": "red", "unknown": "red"}


def status_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder.")],
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    stale: Annotated[float, typer.Option(
        help="Seconds after which a live process's status file is stale.")] = 2.0,
    max_lag: Annotated[int, typer.Option(
        help="Frames a process may be behind the sequencer and still be healthy.")]
        = DEFAULT_MAX_LAG_FRAMES,
) -> None:
    """Every process of the day: up or down, pid, seq, lag, heartbeat, CPU, memory,
    restarts. Exit 1 when any is unhealthy (or none has run), 2 when there is no such
    day folder."""
    from sequencer.ownership import NoSuchDay, require_day

    try:
        require_day(day)
    except NoSuchDay as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    st = day_status(day, stale_s=stale, max_lag_frames=max_lag)
    if json_:
        print(json.dumps(st.to_json()))
    else:
        t = Table(title=f"day {day}", box=box.SIMPLE_HEAD, pad_edge=False)
        multi = any(p.host for p in st.processes)
        if multi:
            t.add_column("host", no_wrap=True)
        for col, just in (("process", "left"), ("state", "left"), ("pid", "right"),
                          ("seq", "right"), ("lag", "right"), ("beat", "right"),
                          ("cpu%", "right"), ("rss", "right"), ("restarts", "right")):
            t.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
        for p in st.processes:
            t.add_row(*([p.host] if multi else []),
                      p.name, f"[{_STYLE.get(p.state, 'red')}]{p.state}[/]", _opt(p.pid),
                      _opt(p.seq, "{:,}"), _opt(p.lag_frames, "{:,}"),
                      _opt(p.heartbeat_age_s, "{:.1f}s"), _opt(p.cpu_percent, "{:.1f}"),
                      _fmt_bytes(p.rss_bytes), _opt(p.restarts))
        out.print(t)
        # Notes under the table: a column of sentences would squeeze the figures out.
        for p in st.processes:
            if p.why:
                out.print(f"  {p.name}: {p.why}", highlight=False)
        out.print(st.summary(), highlight=False)
    if not st.healthy:
        raise typer.Exit(1)


__all__ = ["DayStatus", "ProcInfo", "ProcessStatus", "classify", "day_status", "proc_info",
           "restarts_of", "scan_day_processes", "status_cmd"]
