"""`tape day watch --day DAY`: the day's alert rules at work (the topology's `[alerts]`),
raising an `Alert` on the stream for what they catch, so that the blotter, the activity
report and anyone following the stream see it.

Three kinds of rule (deploy/topology.py says what each key means):

- log rules, on the JSON lines of every process's log `DAY/logs/<process>.log` (any
  ERROR line, "Order Rejected", ...);
- stream rules, on the day's messages as the journal grows (a rejected order, a venue
  down, a determinism failure, a writer lag breach);
- process rules: a restart, seen as a second `process_started` line in a process's log
  (every process writes one as it starts; a supervisor's restart is a second).

The watcher is an edge process with a source of its own (`sources.WATCH`); it skips its
own Alerts on the stream and its own log's lines (but for its starts: a restart of the
watcher is alerted too), so a rule never feeds on what it raised. An
alert of one rule and one process is raised at most once per `quiet_s` (wall seconds):
the next one after that says how many it stood for, so a flood of rejects is one line
every few seconds, not thousands. Where it has read to (journal seq, each log's offset,
the starts counted) is kept in `DAY/watch/state.json`, so a restarted watcher neither
raises an alert again nor misses what happened while it was down. It ends at the day's
SystemStop, once it has read everything before it.
"""

# determinism: edge module, ops tooling: reads logs and the journal, publishes Alerts

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer

from deploy.topology import Alerts, load_topology
from sequencer import sources
from sequencer.messages.control import Alert

log = structlog.get_logger()

NAME = "watch"


@dataclass
class _LogPos:
    inode: int = 0
    offset: int = 0
    starts: int = 0


@dataclass
class WatchState:
    seq: int = 0  # the journal read to here
    logs: dict[str, _LogPos] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "logs": {k: vars(v) for k, v in sorted(self.logs.items())}}

    @classmethod
    def load(cls, path: Path) -> WatchState:
        try:
            d = json.loads(path.read_text())
            return cls(seq=int(d["seq"]), logs={k: _LogPos(**v) for k, v in d["logs"].items()})
        except (OSError, ValueError, KeyError, TypeError):
            return cls()


@dataclass
class Raised:
    """An alert the rules want raised."""

    severity: str
    code: str
    process: str
    text: str


class Rules:
    """The rules applied to what is read; pure (no I/O), so tests drive it directly."""

    def __init__(self, alerts: Alerts, quiet_s: float = 5.0) -> None:
        self.alerts = alerts
        self.quiet_s = quiet_s
        self._last: dict[tuple[str, str], float] = {}
        self._held: dict[tuple[str, str], int] = {}
        types = {r.message for r in alerts.stream}
        from sequencer.messages import BY_NAME, TYPE_ID

        self.type_ids = {TYPE_ID[BY_NAME[t]] for t in types}

    def on_log_line(self, process: str, line: str) -> list[Raised]:
        out = []
        for r in self.alerts.on_log(process, line):
            out.append(Raised(r.severity, r.code, process,
                              f"{process} log: {_line_text(line)}"))
        return out

    def on_start(self, process: str, starts: int) -> list[Raised]:
        if starts < 2:
            return []
        return [Raised(r.severity, r.code, process,
                       f"{process} restarted (start {starts} of the day)")
                for r in self.alerts.on_process(process, "restart")]

    def on_message(self, msg: object, seq: int) -> list[Raised]:
        out = []
        for r in self.alerts.on_message(msg):
            what = ", ".join(f"{k}={getattr(msg, k, '')}" for k in r.where)
            extra = _describe(msg)
            out.append(Raised(r.severity, r.code, type(msg).__name__,
                              f"{type(msg).__name__} at seq {seq}" + (f" ({what})" if what else "")
                              + (f": {extra}" if extra else "")))
        return out

    def admit(self, r: Raised, now: float) -> Raised | None:
        """The alert to publish now, or None when the same rule and process raised one
        less than `quiet_s` ago (counted, and said with the next)."""
        key = (r.code, r.process)
        last = self._last.get(key)
        if last is not None and now - last < self.quiet_s:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            r = Raised(r.severity, r.code, r.process,
                       f"{r.text} (and {held} more like it in the last {self.quiet_s:g} s)")
        return r


def _line_text(line: str) -> str:
    try:
        rec = json.loads(line)
    except ValueError:
        return line.strip()[:300]
    if not isinstance(rec, dict):
        return line.strip()[:300]
    head = f"{str(rec.get('level', '')).upper()} {rec.get('event', '')}".strip()
    rest = ", ".join(f"{k}={v}" for k, v in rec.items()
                     if k not in ("level", "event", "timestamp", "process", "pid"))
    return (head + (f": {rest}" if rest else ""))[:300]


def _describe(msg: object) -> str:
    for attr in ("text", "venue", "cl_ord_id"):
        v = getattr(msg, attr, "")
        if v:
            return f"{attr} {v}"
    return ""


class Watcher:
    """Follows one day's logs and journal and publishes what the rules raise."""

    def __init__(self, day: Path, alerts: Alerts, *, quiet_s: float = 5.0) -> None:
        self.day = Path(day)
        self.rules = Rules(alerts, quiet_s)
        self.state_path = self.day / "watch" / "state.json"
        self.state = WatchState.load(self.state_path)
        self.raised = 0
        self.stopped = False
        self._pub: Any = None
        self._reader: Any = None
        self._save_failing = False

    # -------------------------------------------------------------- reading

    def _read_logs(self) -> list[Raised]:
        out: list[Raised] = []
        logs = self.day / "logs"
        for path in sorted(logs.glob("*.log")):
            process = path.stem
            pos = self.state.logs.setdefault(process, _LogPos())
            try:
                st = path.stat()
            except OSError:
                continue
            if st.st_ino != pos.inode or st.st_size < pos.offset:
                pos.inode, pos.offset = st.st_ino, 0  # a new or truncated file
            if st.st_size == pos.offset:
                continue
            with path.open("rb") as f:
                f.seek(pos.offset)
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits
            pos.offset += end
            for raw in data[:end].splitlines():
                line = raw.decode(errors="replace")
                if '"process_started"' in line:
                    pos.starts += 1
                    out += self.rules.on_start(process, pos.starts)
                if process != NAME:  # its own lines would feed on what it raised
                    out += self.rules.on_log_line(process, line)
        return out

    def _read_stream(self) -> list[Raised]:
        from sequencer.journal import JournalReader
        from sequencer.messages import decode
        from sequencer.messages.control import SystemStop

        if self._reader is None:
            if not (self.day / "journal").exists():
                return []
            self._reader = JournalReader(self.day / "journal", self.state.seq + 1)
        out: list[Raised] = []
        stop_id = _type_id(SystemStop)
        want = self.rules.type_ids
        while True:
            batch = self._reader.read()
            if not batch:
                return out
            for f in batch:
                self.state.seq = f.seq
                if f.type_id == stop_id:
                    self.stopped = True
                if f.type_id not in want or f.source_id == sources.WATCH:
                    continue
                out += self.rules.on_message(decode(f.type_id, f.payload), f.seq)

    # -------------------------------------------------------------- publishing

    def _connect(self) -> None:
        from sequencer.config import TransportConfig
        from sequencer.runtime.runner import recorded_outputs
        from sequencer.transport import StreamPublisher, TransportError, connect

        try:
            cfg = TransportConfig.for_day(self.day)
            aeron = connect(cfg)
            self._pub = StreamPublisher(aeron, cfg, sources.WATCH,
                                        recorded_outputs(self.day, sources.WATCH) + 1,
                                        wait_connected_s=2.0)
        except (TransportError, OSError, ValueError) as e:
            log.warning("no_alert_publisher", error=str(e))
            self._pub = None

    def _publish(self, r: Raised) -> None:
        from sequencer.transport import TransportError

        log.info("alert_raised", code=r.code, severity=r.severity, about=r.process,
                 text=r.text)
        if self._pub is None:
            self._connect()
        if self._pub is None:
            return
        try:
            self._pub.publish(Alert(severity=r.severity, source=NAME,  # type: ignore[arg-type]  # a topology Severity is a control.Severity
                                    text=r.text, code=r.code), timeout_s=2.0)
            self.raised += 1
        except TransportError as e:
            log.warning("alert_not_sent", code=r.code, error=str(e))

    def _save(self, state: str = "running") -> None:
        """The bookmark (`state.json`) and the status `tape status` reads
        (`status.json`: pid, state, seq, alerts raised, heartbeat)."""
        folder = self.state_path.parent
        status = {"pid": os.getpid(), "state": state, "seq": self.state.seq,
                  "raised": self.raised, "updated_wall_ns": time.time_ns()}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for path, obj in ((self.state_path, self.state.to_json()),
                              (folder / "status.json", status)):
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(obj, sort_keys=True))
                os.replace(tmp, path)
        except OSError as e:  # a full disk: the alerts matter more than the bookmark
            if not self._save_failing:
                log.warning("state_not_saved", error=str(e))
            self._save_failing = True
        else:
            self._save_failing = False

    # -------------------------------------------------------------- the loop

    def step(self) -> int:
        """Read what is new, publish what the rules raise; how many were raised."""
        found = self._read_stream() + self._read_logs()
        now = time.monotonic()
        n = 0
        for r in found:
            admitted = self.rules.admit(r, now)
            if admitted is not None:
                self._publish(admitted)
                n += 1
        self._save()
        return n

    def run(self, max_seconds: float | None = None, interval_s: float = 0.25) -> int:
        from sequencer import notify

        stop = [False]
        signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
        end = None if max_seconds is None else time.monotonic() + max_seconds
        self.step()
        print(json.dumps({"ready": NAME, "seq": self.state.seq}), flush=True)
        notify.ready(f"watching at seq {self.state.seq}")
        while not stop[0] and not self.stopped and (end is None or time.monotonic() < end):
            time.sleep(interval_s)
            self.step()
            notify.watchdog()
        if self.stopped:
            self.step()  # the logs' last lines
        self._save("done" if self.stopped else "stopped")
        notify.stopping()
        log.info("watch_done", raised=self.raised, seq=self.state.seq)
        return self.raised


def _type_id(cls: type) -> int:
    from sequencer.messages import TYPE_ID

    return TYPE_ID[cls]


def watch_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder.")],
    topology: Annotated[Path | None, typer.Option(
        help="The topology whose [alerts] apply (default: the day's plan, else the "
             "shipped one).")] = None,
    quiet: Annotated[float, typer.Option(
        help="Seconds between two alerts of one rule and process.")] = 5.0,
    max_seconds: Annotated[float | None, typer.Option(help="Stop after this long.")] = None,
) -> None:
    """Raise the topology's alert rules (log lines, stream events, process restarts) as
    Alerts on the stream, until the day's SystemStop."""
    from sequencer.config import ConfigError
    from sequencer.logs import configure

    if topology is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            topology = Path(json.loads((day / "config" / "day.json").read_text())["topology"])
    try:
        topo = load_topology(topology)
    except ConfigError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if not (day / "journal").exists():
        typer.echo(f"error: {day} is not a day folder (no journal)", err=True)
        raise typer.Exit(2)
    configure(day, NAME)
    Watcher(day, topo.alerts, quiet_s=quiet).run(max_seconds)
