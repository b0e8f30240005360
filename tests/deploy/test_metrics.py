"""The day's Prometheus endpoint: served on an ephemeral port over a fake day folder (the
status files of `test_status`, live child processes, a small journal with chosen
processing times), scraped over HTTP and parsed as the text exposition format."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.metrics import BUCKETS, serve
from sequencer import sources
from sequencer.frames import encode_frame
from sequencer.journal import JournalWriter
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.control import Echo
from sequencer.messages.executions import ExecutionReport
from sequencer.messages.orders import NewOrder, ParentAccepted, ParentDone
from tests.deploy.test_status import _kill, _sleeper, write_day

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    got: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            got[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return got


def one(samples: Samples, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels`."""
    hits = [v for (n, ls), v in samples.items()
            if n == name and set(labels.items()) <= set(ls)]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def _er(exec_type: str, n: int) -> ExecutionReport:
    return ExecutionReport(
        client="DEMO", order_id=f"O{n}", cl_ord_id=f"C{n}", orig_cl_ord_id="",
        exec_id=f"E{n}", exec_type=exec_type, ord_status=(  # type: ignore[arg-type]
            "rejected" if exec_type == "rejected" else "partially_filled"),
        symbol="IBM", side="buy", order_qty=100, cum_qty=0, leaves_qty=100)


def _parent(n: int) -> ParentAccepted:
    return ParentAccepted(order_id=f"O{n}", client="DEMO", cl_ord_id=f"C{n}", symbol="IBM",
                          side="buy", qty=100, ord_type="limit", limit_px=1_810_000,
                          tif="day", algo="vwap", algo_params=())


class Journal:
    """Frames written as the sequencer journals them, with chosen telemetry."""

    def __init__(self, jdir: Path) -> None:
        self.w = JournalWriter(jdir, segment_bytes=600)  # small: the day rolls segments
        self.w.open()
        self.seq = 0
        self.source_seq: dict[int, int] = {}

    def add(self, source: int, msg: Message, *, cause: int = 0, proc_ns: int = 0) -> None:
        self.seq += 1
        n = self.source_seq[source] = self.source_seq.get(source, 0) + 1
        raw = encode_frame(self.seq, 1_000 + self.seq, source, TYPE_ID[type(msg)], n,
                           encode(msg), cause_seq=cause, proc_ns=proc_ns)
        self.w.append(raw, self.seq)
        self.w.sync()


@pytest.fixture()
def day(tmp_path: Path) -> Path:
    return tmp_path / "day"


@pytest.fixture()
def procs(day: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    day.mkdir(parents=True)
    ps = {"sequencer": _sleeper(), "writer": _sleeper(),
          "app": _sleeper("app", "run", "counter", "--day", str(day))}
    time.sleep(0.05)
    yield ps
    for p in ps.values():
        if p.poll() is None:
            _kill(p)


def test_scrape_processes_journal_orders_and_latency(
        day: Path, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    write_day(day, procs["sequencer"].pid, procs["writer"].pid)
    j = Journal(day / "journal")
    gw, oms, counter = sources.CLIENT_GATEWAY, sources.OMS, sources.COUNTER
    for n in (1, 2, 3):
        j.add(gw, NewOrder(client="DEMO", cl_ord_id=f"C{n}", symbol="IBM", side="buy",
                           qty=100, ord_type="limit", limit_px=1_810_000))
    j.add(oms, _parent(1), cause=1, proc_ns=20_000)  # 20 us
    j.add(oms, _parent(2), cause=2, proc_ns=3_000_000)  # 3 ms
    j.add(oms, _er("rejected", 3), cause=3, proc_ns=40_000)  # 40 us
    j.add(oms, _er("trade", 1), cause=4, proc_ns=40_000)
    # The counter app: one answer per bucket edge region, and one past the last bucket.
    for proc_ns in (5_000, 10_000, 2_000_000_000):
        j.add(counter, Echo(text="x", n=1, roll=0), cause=1, proc_ns=proc_ns)
    j.add(counter, Echo(text="no cause", n=2, roll=0))  # no cause: not a processing sample

    srv = serve(day, 0)
    try:
        got = scrape(srv.url)
        # Processes: up, seq, lag, restarts.
        for name in ("sequencer", "counter", "db_writer"):
            assert one(got, "tape_process_up", process=name) == 1.0
            assert one(got, "tape_process_healthy", process=name) == 1.0
        assert one(got, "tape_process_seq", process="sequencer") == 1000
        assert one(got, "tape_process_seq", process="counter") == 990
        assert one(got, "tape_process_lag_frames", process="counter") == 10
        assert one(got, "tape_process_lag_frames", process="db_writer") == 100
        assert one(got, "tape_process_lag_frames", process="sequencer") == 3
        assert one(got, "tape_process_restarts_total", process="sequencer") == 1
        assert one(got, "tape_process_resident_memory_bytes", process="sequencer") > 1e6
        # The sequencer's counters, the writer, the journal.
        assert one(got, "tape_sequencer_back_pressured_total") == 4
        assert one(got, "tape_sequencer_events_total", counter="fsyncs") == 12
        # The fsync latency histogram, cumulative, from the sequencer's buckets.
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.0001") == 0
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.00025") == 5
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.0005") == 9
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.001") == 9
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.0025") == 11
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="0.025") == 12
        assert one(got, "tape_sequencer_fsync_seconds_bucket", le="+Inf") == 12
        assert one(got, "tape_sequencer_fsync_seconds_count") == 12
        assert one(got, "tape_sequencer_fsync_seconds_sum") == 0.036
        assert one(got, "tape_db_writer_lag_frames", writer="db_writer") == 100
        assert one(got, "tape_db_writer_lag_seconds", writer="db_writer") == 0.25
        assert one(got, "tape_db_writer_outages_total", writer="db_writer") == 1
        segs = sorted((day / "journal").glob("*.seg"))
        assert len(segs) > 1
        assert one(got, "tape_journal_bytes") == sum(s.stat().st_size for s in segs)
        assert one(got, "tape_journal_segments") == len(segs)
        # Orders from the journal.
        assert one(got, "tape_orders_total") == 3
        assert one(got, "tape_fills_total") == 1
        assert one(got, "tape_rejects_total", kind="order") == 1
        assert one(got, "tape_open_orders") == 2
        assert one(got, "tape_journal_frames_read") == j.seq
        # The processing histograms, per app, cumulative.
        def bucket(app: str, le: float | str) -> float:
            key = "+Inf" if le == "+Inf" else repr(le)
            return one(got, "tape_app_processing_seconds_bucket", app=app, le=key)

        assert bucket("oms", 10e-6) == 0
        assert bucket("oms", 25e-6) == 1
        assert bucket("oms", 50e-6) == 3
        assert bucket("oms", 2.5e-3) == 3
        assert bucket("oms", 5e-3) == 4
        assert bucket("oms", "+Inf") == 4
        assert one(got, "tape_app_processing_seconds_count", app="oms") == 4
        assert one(got, "tape_app_processing_seconds_sum", app="oms") == pytest.approx(
            (20_000 + 3_000_000 + 40_000 + 40_000) / 1e9)
        assert bucket("counter", 10e-6) == 2  # 5 us and 10 us (le is inclusive)
        assert bucket("counter", BUCKETS[-1]) == 2
        assert bucket("counter", "+Inf") == 3
        assert ("tape_process_frames_per_second", (("kind", "sequencer"),
                                                   ("process", "sequencer"))) not in got

        # More frames and a newer sequencer status: only the new frames are read, and the
        # frame rate comes from the two statuses' own time stamps.
        j.add(oms, ParentDone(order_id="O1", ord_status="filled", cum_qty=100), cause=5,
              proc_ns=100_000)
        d = json.loads((day / "sequencer.status.json").read_text())
        d["last_seq"] += 500
        d["updated_wall_ns"] += 1_000_000_000
        (day / "sequencer.status.json").write_text(json.dumps(d))
        got = scrape(srv.url)
        assert one(got, "tape_open_orders") == 1
        assert one(got, "tape_journal_frames_read") == j.seq
        assert one(got, "tape_app_processing_seconds_count", app="oms") == 5
        assert one(got, "tape_app_processing_seconds_bucket", app="oms",
                   le=repr(100e-6)) == 4
        assert one(got, "tape_orders_total") == 3  # not counted twice
        assert one(got, "tape_process_frames_per_second", process="sequencer") == 500.0
        assert one(got, "tape_process_seq", process="sequencer") == 1500

        # A process killed shows down at the next scrape.
        _kill(procs["writer"])
        t0 = time.monotonic()
        got = scrape(srv.url)
        assert time.monotonic() - t0 < 2.0
        assert one(got, "tape_process_up", process="db_writer") == 0.0
        assert one(got, "tape_process_healthy", process="db_writer") == 0.0
        assert one(got, "tape_process_up", process="sequencer") == 1.0
    finally:
        srv.close()


def test_an_empty_day_scrapes(tmp_path: Path) -> None:
    day = tmp_path / "day"
    day.mkdir()
    srv = serve(day, 0)
    try:
        got = scrape(srv.url)
    finally:
        srv.close()
    assert one(got, "tape_journal_bytes") == 0
    assert one(got, "tape_orders_total") == 0
    assert not any(n == "tape_process_up" for n, _ in got)


def test_metrics_cmd_serves_until_sigterm(tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, 0, 0)
    code = ("import typer; from deploy.metrics import metrics_cmd; a = typer.Typer(); "
            "a.command()(metrics_cmd); a()")
    p = subprocess.Popen([sys.executable, "-c", code, "--day", str(day), "--port", "0"],
                         stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert p.stdout is not None
        line = p.stdout.readline()  # "metrics of DAY at http://127.0.0.1:PORT/metrics"
        url = line.split(" at ")[-1].strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), line
        got = scrape(url)
        assert one(got, "tape_process_seq", process="sequencer") == 1000
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
