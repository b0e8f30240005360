"""`tape metrics --day DAY`: the day's Prometheus endpoint (text exposition format).

A `prometheus_client` custom collector computes everything at scrape time from what
the day's processes leave behind, so the endpoint costs the processes nothing and
works on a day that runs, stopped or crashed:

- per process (`deploy.status.day_status`): `tape_process_up`, `tape_process_healthy`,
  `tape_process_stale`, `tape_process_seq`, `tape_process_lag_frames`,
  `tape_process_frames_per_second` (seq moved over the status files' own time stamps
  between two scrapes: absent on the first), `tape_process_heartbeat_age_seconds`,
  `tape_process_cpu_percent` (lifetime average), `tape_process_resident_memory_bytes`,
  `tape_process_restarts_total` (from the logs' start lines, where there are any);
- the sequencer's status: `tape_sequencer_back_pressured_total` (times input was
  back-pressured), `tape_sequencer_events_total{counter}` (every counter it keeps:
  fsyncs, duplicates, gaps, refused...), `tape_sequencer_unpublished_bytes`,
  `tape_sequencer_disk_full`, and `tape_sequencer_fsync_seconds`, a histogram of the
  journal's fsync latency (the sequencer times each fsync into fixed buckets);
- the journal: `tape_journal_bytes` (the .seg files), `tape_journal_segments`;
- the database writer (`db/writer*.status.json`): `tape_db_writer_lag_frames`,
  `tape_db_writer_lag_seconds`, `tape_db_writer_rows_total`,
  `tape_db_writer_outages_total`;
- from the journal's frames (no app status records order counts):
  `tape_orders_total` (clients' NewOrder), `tape_fills_total` (ExecutionReports of
  exec type trade), `tape_rejects_total{kind}` (order: ExecutionReport rejected;
  cancel: CancelReject; child: ChildRequestRejected; venue: VenueReject),
  `tape_open_orders` (parents accepted or reopened and not yet done), and
  `tape_app_processing_seconds{app}`, a histogram of each source's processing time
  (`proc_ns` of the frame header of each output with a cause).

The journal is read incrementally: each scrape reads only the frames after the
previous scrape's last one (headers only; ExecutionReports alone are decoded), at
most `max_frames_per_scrape` of them, so a first scrape of a long day catches up over
a few scrapes instead of timing out.
"""

# determinism: edge module, ops tooling: reads status files, /proc and the journal

from __future__ import annotations

import signal
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from rich.console import Console

from deploy.status import day_status

#: Processing-time buckets, seconds: 10 us to 1 s (an app's handler is microseconds;
#: a snapshot or a GC pause can take tens of milliseconds).
BUCKETS: tuple[float, ...] = (
    10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
    100e-3, 250e-3, 1.0,
)
DEFAULT_PORT = 9464
# source_id, type_id, cause_seq, proc_ns out of the 80-byte frame header
_HEAD = struct.Struct("<32xIH10xQ20xI")
assert _HEAD.size == 80

err = Console(stderr=True)


@dataclass
class _Hist:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    sum_s: float = 0.0

    def add(self, seconds: float) -> None:
        for i, le in enumerate(BUCKETS):
            if seconds <= le:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.sum_s += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        acc, rows = 0, []
        for le, c in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            acc += c
            rows.append(("+Inf" if le == float("inf") else repr(le), float(acc)))
        return rows


class JournalTally:
    """What the journal says so far (orders, fills, rejects, open orders, processing
    times), brought up to date incrementally by `update`."""

    def __init__(self, journal: Path, max_frames: int = 500_000) -> None:
        from sequencer.messages import TYPE_ID
        from sequencer.messages.executions import CancelReject, ExecutionReport, VenueReject
        from sequencer.messages.orders import (
            ChildRequestRejected,
            NewOrder,
            ParentAccepted,
            ParentDone,
            ParentReopened,
        )

        self.journal = journal
        self.max_frames = max_frames
        self.next_seq = 1
        self.reader: Any = None
        self.orders = 0
        self.fills = 0
        self.rejects: dict[str, int] = {"order": 0, "cancel": 0, "child": 0, "venue": 0}
        self.open_orders = 0
        self.hists: dict[int, _Hist] = {}
        self._t_new = TYPE_ID[NewOrder]
        self._t_er = TYPE_ID[ExecutionReport]
        self._t_open = (TYPE_ID[ParentAccepted], TYPE_ID[ParentReopened])
        self._t_done = TYPE_ID[ParentDone]
        self._t_reject = {TYPE_ID[CancelReject]: "cancel", TYPE_ID[ChildRequestRejected]:
                          "child", TYPE_ID[VenueReject]: "venue"}

    def update(self) -> None:
        from sequencer.journal import JournalCorruption, JournalReader, list_segments
        from sequencer.messages import decode

        if not self.journal.is_dir() or not list_segments(self.journal):
            return
        try:
            if self.reader is None:
                self.reader = JournalReader(self.journal, self.next_seq, verify=False)
            left = self.max_frames
            while left > 0:
                raws = self.reader.read_raw(min(left, 65536))
                if not raws:
                    break
                left -= len(raws)
                for raw in raws:
                    source, type_id, cause, proc_ns = _HEAD.unpack_from(raw, 0)
                    if cause and proc_ns:
                        h = self.hists.get(source)
                        if h is None:
                            h = self.hists[source] = _Hist()
                        h.add(proc_ns / 1e9)
                    if type_id == self._t_er:
                        er: Any = decode(type_id, memoryview(raw)[80:])
                        if er.exec_type == "trade":
                            self.fills += 1
                        elif er.exec_type == "rejected":
                            self.rejects["order"] += 1
                    elif type_id == self._t_new:
                        self.orders += 1
                    elif type_id in self._t_open:
                        self.open_orders += 1
                    elif type_id == self._t_done:
                        self.open_orders -= 1
                    elif type_id in self._t_reject:
                        self.rejects[self._t_reject[type_id]] += 1
            self.next_seq = self.reader.next_seq
        except (JournalCorruption, OSError, ValueError):
            # A tail being recovered by a restarted sequencer: start again from the next
            # frame not yet counted on the next scrape.
            self.close()

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class DayCollector(Collector):
    """The day's metrics, computed at each scrape (see the module's docstring)."""

    def __init__(self, day: Path, *, stale_s: float = 2.0,
                 max_frames_per_scrape: int = 500_000) -> None:
        self.day = Path(day)
        self.stale_s = stale_s
        self.tally = JournalTally(self.day / "journal", max_frames_per_scrape)
        self._lock = threading.Lock()  # the HTTP server scrapes from a thread per request
        # process -> (seq, heartbeat ns) when its seq was last seen, and the rate then
        self._prev: dict[str, tuple[int, int]] = {}
        self._rate: dict[str, float] = {}

    def describe(self) -> Iterable[Metric]:
        return []  # names vary with the day's processes: nothing to check up front

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            return list(self._collect())

    def _collect(self) -> Iterator[Metric]:
        st = day_status(self.day, stale_s=self.stale_s)
        lab = ["process", "kind"]
        up = GaugeMetricFamily("tape_process_up", "1 when the process is running", labels=lab)
        healthy = GaugeMetricFamily("tape_process_healthy",
                                    "1 when up (or done with the day), fresh and not lagging",
                                    labels=lab)
        stale = GaugeMetricFamily("tape_process_stale",
                                  "1 when the process lives but its status file is stale",
                                  labels=lab)
        seq = GaugeMetricFamily("tape_process_seq", "Last seq the process reached", labels=lab)
        lag = GaugeMetricFamily("tape_process_lag_frames",
                                "Frames behind the sequencer (the sequencer: not yet "
                                "published)", labels=lab)
        fps = GaugeMetricFamily("tape_process_frames_per_second",
                                "Frames per second between the last two status updates",
                                labels=lab)
        hb = GaugeMetricFamily("tape_process_heartbeat_age_seconds",
                               "Age of the process's status file (its log for processes "
                               "without one)", labels=lab)
        cpu = GaugeMetricFamily("tape_process_cpu_percent",
                                "CPU time over the process's lifetime, percent", labels=lab)
        mem = GaugeMetricFamily("tape_process_resident_memory_bytes", "Resident set size",
                                labels=lab)
        restarts = CounterMetricFamily("tape_process_restarts",
                                       "Restarts seen in the process's log", labels=lab)
        for p in st.processes:
            ls = [p.name, p.kind]
            up.add_metric(ls, 1.0 if p.up else 0.0)
            healthy.add_metric(ls, 1.0 if p.healthy else 0.0)
            stale.add_metric(ls, 1.0 if p.state == "stale" else 0.0)
            if p.seq is not None:
                seq.add_metric(ls, float(p.seq))
                rate = self._seq_rate(p.name, p.seq, p.heartbeat_wall_ns)
                if rate is not None:
                    fps.add_metric(ls, rate)
            if p.lag_frames is not None:
                lag.add_metric(ls, float(p.lag_frames))
            if p.heartbeat_age_s is not None:
                hb.add_metric(ls, p.heartbeat_age_s)
            if p.cpu_percent is not None:
                cpu.add_metric(ls, p.cpu_percent)
            if p.rss_bytes is not None:
                mem.add_metric(ls, float(p.rss_bytes))
            if p.restarts is not None:
                restarts.add_metric(ls, float(p.restarts))
        yield from (up, healthy, stale, seq, lag, fps, hb, cpu, mem, restarts)

        seq_p = st.get("sequencer")
        if seq_p is not None:
            yield from self._sequencer(seq_p.fields)
        for p in st.processes:
            if p.kind == "db_writer":
                yield from self._writer(p.name, p.fields)
        yield from self._journal()

    def _seq_rate(self, name: str, seq: int, at_ns: int | None) -> float | None:
        """Frames per second from the seq and time stamp of the previous status seen."""
        if at_ns is None:
            return None
        prev = self._prev.get(name)
        if prev is not None and at_ns > prev[1]:
            self._rate[name] = max(0, seq - prev[0]) / ((at_ns - prev[1]) / 1e9)
        if prev is None or at_ns > prev[1]:
            self._prev[name] = (seq, at_ns)
        return self._rate.get(name)

    def _sequencer(self, f: dict[str, Any]) -> Iterator[Metric]:
        counters = f.get("counters") or {}
        bp = CounterMetricFamily("tape_sequencer_back_pressured",
                                 "Times the sequencer's publication back-pressured")
        bp.add_metric([], float(counters.get("back_pressured", 0)))
        yield bp
        ev = CounterMetricFamily("tape_sequencer_events", "The sequencer's counters",
                                 labels=["counter"])
        for k, v in sorted(counters.items()):
            if not k.startswith("fsync_ns"):  # in the histogram below
                ev.add_metric([k], float(v))
        yield ev
        buckets = f.get("fsync_buckets") or []
        if buckets:
            from sequencer.service import FSYNC_BUCKETS_NS

            h = HistogramMetricFamily("tape_sequencer_fsync_seconds",
                                      "The journal's fsync latency")
            running = 0
            cum: list[tuple[str, float]] = []
            for bound, n in zip((*FSYNC_BUCKETS_NS, None), buckets, strict=False):
                running += int(n)
                cum.append(("+Inf" if bound is None else f"{bound / 1e9:g}", float(running)))
            h.add_metric([], cum, sum_value=counters.get("fsync_ns_total", 0) / 1e9)
            yield h
        yield GaugeMetricFamily("tape_sequencer_unpublished_bytes",
                                "Journaled bytes not yet published",
                                value=float(f.get("unpublished_bytes", 0)))
        yield GaugeMetricFamily("tape_sequencer_disk_full",
                                "1 while the journal's disk is full (input paused)",
                                value=1.0 if f.get("state") == "disk_full" else 0.0)

    def _writer(self, name: str, f: dict[str, Any]) -> Iterator[Metric]:
        for metric, key, what in (
            ("tape_db_writer_lag_frames", "lag_frames", "Frames the writer is behind"),
            ("tape_db_writer_lag_seconds", "lag_s", "Stream seconds the writer is behind"),
        ):
            if key in f:
                g = GaugeMetricFamily(metric, what, labels=["writer"])
                g.add_metric([name], float(f[key]))
                yield g
        for metric, key, what in (
            ("tape_db_writer_rows", "rows_written", "Rows the writer committed"),
            ("tape_db_writer_outages", "outages", "Times the database went away"),
        ):
            if key in f:
                c = CounterMetricFamily(metric, what, labels=["writer"])
                c.add_metric([name], float(f[key]))
                yield c

    def _journal(self) -> Iterator[Metric]:
        from sequencer import sources
        from sequencer.journal import list_segments

        jdir = self.day / "journal"
        segs = list_segments(jdir) if jdir.is_dir() else []
        size = 0
        for s in segs:
            try:
                size += s.stat().st_size
            except OSError:  # rolled away between the listing and the stat
                continue
        yield GaugeMetricFamily("tape_journal_bytes", "Bytes of the journal's segments",
                                value=float(size))
        yield GaugeMetricFamily("tape_journal_segments", "The journal's segments",
                                value=float(len(segs)))
        t = self.tally
        t.update()
        yield CounterMetricFamily("tape_orders", "Clients' new orders (NewOrder)",
                                  value=float(t.orders))
        yield CounterMetricFamily("tape_fills", "Fills reported to clients "
                                  "(ExecutionReport, exec type trade)", value=float(t.fills))
        rj = CounterMetricFamily("tape_rejects", "Rejects by kind", labels=["kind"])
        for k, v in t.rejects.items():
            rj.add_metric([k], float(v))
        yield rj
        yield GaugeMetricFamily("tape_open_orders",
                                "Parent orders accepted (or reopened) and not yet done",
                                value=float(t.open_orders))
        yield GaugeMetricFamily("tape_journal_frames_read",
                                "Frames of the journal the metrics have counted",
                                value=float(t.next_seq - 1))
        h = HistogramMetricFamily("tape_app_processing_seconds",
                                  "Each source's processing time per output (proc_ns)",
                                  labels=["app"])
        for source, hist in sorted(t.hists.items()):
            h.add_metric([sources.name(source)], hist.cumulative(), sum_value=hist.sum_s)
        yield h


@dataclass
class Server:
    """A running endpoint: `url`, and `close()` to stop it."""

    httpd: Any
    thread: threading.Thread
    collector: DayCollector

    @property
    def port(self) -> int:
        return int(self.httpd.server_port)

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self.collector.tally.close()


def serve(day: Path, port: int = DEFAULT_PORT, addr: str = "127.0.0.1", *,
          stale_s: float = 2.0) -> Server:
    """Serve the day's metrics on `addr:port` (0: any free port) from a thread."""
    registry = CollectorRegistry()
    collector = DayCollector(day, stale_s=stale_s)
    registry.register(collector)
    httpd, thread = start_http_server(port, addr=addr, registry=registry)
    return Server(httpd, thread, collector)


def metrics_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder.")],
    port: Annotated[int, typer.Option(help="TCP port to serve on (0: any free one).")]
        = DEFAULT_PORT,
    addr: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the day's Prometheus metrics (text format) until SIGTERM or SIGINT."""
    from sequencer.ownership import NoSuchDay, require_day

    try:
        require_day(day)
    except NoSuchDay as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(2) from None
    try:
        srv = serve(day, port, addr)
    except OSError as e:  # the port is taken, or the address is not this host's
        err.print(f"[red]error:[/red] cannot listen on {addr}:{port}: {e}", highlight=False)
        raise typer.Exit(1) from None
    done = threading.Event()

    def _stop(*_: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # One plain line, flushed (a supervisor or a test reads the URL from a pipe).
    print(f"metrics of {day} at {srv.url}", flush=True)
    try:
        while not done.wait(0.5):  # a timed wait: the signal handler runs in between
            pass
    finally:
        srv.close()


__all__ = ["BUCKETS", "DayCollector", "JournalTally", "Server", "metrics_cmd", "serve"]
