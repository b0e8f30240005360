"""`tape journal latency`: figures from frame telemetry on journals whose times are set here."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deploy.cli import app
from sequencer import sources
from sequencer.frames import encode_frame
from sequencer.journal import JournalWriter
from sequencer.latency import Dist, LatencyReport, compute
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import (
    Alert,
    ClockTick,
    Echo,
    Heartbeat,
    SystemStart,
)
from sequencer.runtime.registry import load

T0 = 1_710_509_400_000_000_000  # stream time of the first frame
R = 1_700_000_000_000_000_000  # wall clock
US = 1_000
MS = 1_000_000
INJECT = sources.INJECT
COUNTER = load("counter").source_id  # a registered app: its frames are named after it
STRANGER = sources.adhoc(77)  # no registered app publishes as it
assert COUNTER not in (sources.SEQUENCER, INJECT, STRANGER)

TRANSIT_US = [10, 20, 30, 40, 50]  # the injected notes' inbound transit
QUEUE_US = [100, 200, 300, 400, 500]  # the counter's replies: queueing ...
PROC_US = [5, 15, 25, 35, 45]  # ... processing ...
RET_US = [1, 2, 3, 4, 5]  # ... and return, so end to end is 106, 217, 328, 439, 550


class Day:
    """Frames with exact telemetry, appended in order."""

    def __init__(self, jdir: Path) -> None:
        self.w = JournalWriter(jdir)
        self.w.open()
        self.seq = 0
        self.recv: dict[int, int] = {}
        self.sseq: dict[int, int] = {}

    def add(self, src: int, msg: Message, *, recv: int, sent: int = 0, proc: int = 0,
            cause: int = 0) -> int:
        self.seq += 1
        self.sseq[src] = self.sseq.get(src, 0) + 1
        raw = encode_frame(
            self.seq, T0 + self.seq, src, TYPE_ID[type(msg)], self.sseq[src], encode(msg),
            recv_ns=recv, sent_ns=sent, cause_seq=cause, proc_ns=proc,
        )
        self.w.append(raw, self.seq)
        self.recv[self.seq] = recv
        return self.seq

    def reply(self, src: int, msg: Message, cause: int, queue: int, proc: int, ret: int) -> int:
        """An output of `src` caused by frame `cause`, split as given (ns)."""
        app_recv = self.recv[cause] + queue
        sent = app_recv + proc
        return self.add(src, msg, recv=sent + ret, sent=sent, proc=proc, cause=cause)

    def close(self) -> None:
        self.w.close()


def build(day: Path) -> None:
    """The day every figure below is worked out from by hand."""
    d = Day(day / "journal")
    start = SystemStart(session_date=dt.date(2024, 3, 15), seed=1, config_digest="d")
    d.add(sources.SEQUENCER, start, recv=R, sent=R)  # seq 1: the sequencer's own, transit 0
    notes = []
    for i, t in enumerate(TRANSIT_US):  # seq 2..6
        sent = R + (i + 1) * MS
        notes.append(d.add(INJECT, OperatorNote(author="ops", text=f"n{i}"),
                           recv=sent + t * US, sent=sent))
    for i, cause in enumerate(notes):  # seq 7..11
        d.reply(COUNTER, Echo(text=f"n{i}", n=i, roll=0), cause,
                QUEUE_US[i] * US, PROC_US[i] * US, RET_US[i] * US)
    # seq 12: the stranger's clock is 60 us behind: queueing comes out at -60 us
    d.reply(STRANGER, Alert(severity="info", source="x", text="t"), notes[0],
            -60 * US, 10 * US, 80 * US)
    tick = d.add(sources.SEQUENCER, ClockTick(), recv=0)  # seq 13: no telemetry at all
    hb = Heartbeat(app="counter", n=1, frames=1)
    d.add(COUNTER, hb, recv=R + 9 * MS, sent=R + 9 * MS - 7 * US, cause=tick)  # cause: no recv
    d.add(COUNTER, hb, recv=R + 9 * MS, sent=R + 9 * MS - 7 * US, cause=1000)  # cause: future
    d.add(COUNTER, hb, recv=R + 9 * MS, sent=0, cause=notes[1])  # no send time
    d.close()


@pytest.fixture
def day(tmp_path: Path) -> Path:
    build(tmp_path / "day")
    return tmp_path / "day"


def dist(values: Sequence[float], p50: float, p90: float, p99: float, p999: float,
         clamped: int = 0) -> Dist:
    return Dist(len(values), clamped, p50, p90, p99, p999, float(max(values)))


def group(rep: LatencyReport, src: int, type_: str) -> Any:
    [g] = [g for g in rep.groups if (g.source_id, g.type) == (src, type_)]
    return g


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})  # rich tables unwrapped
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


# --------------------------------------------------------------------------- compute


def test_counts(day: Path) -> None:
    rep = compute(day)
    assert (rep.frames, rep.first_seq, rep.last_seq) == (16, 1, 16)
    assert rep.transit_frames == 1 + 5 + 5 + 1 + 2  # every frame with a send time and a receive
    assert (rep.caused, rep.matched, rep.unmatched) == (9, 6, 3)
    assert rep.clamped == 1  # the stranger's queueing
    assert rep.proc_saturated == 0
    assert [(g.source_id, g.type) for g in rep.groups] == [
        (sources.SEQUENCER, "SystemStart"), (COUNTER, "Echo"), (COUNTER, "Heartbeat"),
        (INJECT, "OperatorNote"), (STRANGER, "Alert"),
    ]


def test_split_percentiles_of_caused_outputs(day: Path) -> None:
    g = group(compute(day), COUNTER, "Echo")
    assert "counter" in g.app.split("/")
    # numpy's linear interpolation over 5 samples: p90 sits 0.6 of the way from the 4th to
    # the 5th, p99 0.96 and p99.9 0.996 of the way.
    assert g.queueing == dist(QUEUE_US, 300.0, 460.0, 496.0, 499.6)
    assert g.processing == dist(PROC_US, 25.0, 41.0, 44.6, 44.96)
    assert g.return_ == dist(RET_US, 3.0, 4.6, 4.96, 4.996)
    assert g.end_to_end == dist([106, 217, 328, 439, 550], 328.0, 505.6, 545.56, 549.556)
    assert g.transit == g.return_  # an output's transit is its return


def test_inbound_transit(day: Path) -> None:
    rep = compute(day)
    notes = group(rep, INJECT, "OperatorNote")
    assert notes.app == "inject"
    assert notes.transit == dist(TRANSIT_US, 30.0, 46.0, 49.6, 49.96)
    assert notes.end_to_end == Dist()  # inputs have no cause
    by_source = {s.source_id: s for s in rep.transit_by_source}
    assert list(by_source) == [sources.SEQUENCER, COUNTER, INJECT, STRANGER]
    assert by_source[0].app == "sequencer"
    assert by_source[0].transit == Dist(1, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # the counter's Echo returns and its two Heartbeats with a send time: 1 2 3 4 5 7 7
    assert by_source[COUNTER].transit == Dist(7, 0, 4.0, 7.0, 7.0, 7.0, 7.0)
    assert by_source[STRANGER].transit == Dist(1, 0, 80.0, 80.0, 80.0, 80.0, 80.0)
    assert by_source[INJECT].transit == notes.transit
    hb = group(rep, COUNTER, "Heartbeat")
    assert hb.transit.count == 2
    assert hb.end_to_end == hb.queueing == hb.processing == hb.return_ == Dist()


def test_clock_step_clamped_and_counted(day: Path) -> None:
    g = group(compute(day), STRANGER, "Alert")
    assert g.app == "adhoc#77"
    assert g.queueing == Dist(1, 1, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert g.processing == Dist(1, 0, 10.0, 10.0, 10.0, 10.0, 10.0)
    assert g.return_ == Dist(1, 0, 80.0, 80.0, 80.0, 80.0, 80.0)
    assert g.end_to_end == Dist(1, 0, 30.0, 30.0, 30.0, 30.0, 30.0)


def test_slowest_with_split(day: Path) -> None:
    rep = compute(day)
    assert [(s.seq, s.cause_seq, s.end_to_end_us) for s in rep.slowest] == [
        (11, 6, 550.0), (10, 5, 439.0), (9, 4, 328.0), (8, 3, 217.0), (7, 2, 106.0),
        (12, 2, 30.0),
    ]
    top = rep.slowest[0]
    assert (top.source_id, top.type, top.cause_type) == (COUNTER, "Echo", "OperatorNote")
    assert "counter" in top.app.split("/")
    assert (top.queueing_us, top.processing_us, top.return_us) == (500.0, 45.0, 5.0)
    last = rep.slowest[-1]
    assert (last.app, last.type) == ("adhoc#77", "Alert")
    assert (last.queueing_us, last.processing_us, last.return_us) == (0.0, 10.0, 80.0)
    assert [s.seq for s in compute(day, slowest=2).slowest] == [11, 10]
    assert compute(day, slowest=0).slowest == []


def test_ties_go_to_the_earliest_and_saturation_is_counted(tmp_path: Path) -> None:
    d = Day(tmp_path / "j")
    cause = d.add(INJECT, OperatorNote(author="a", text="b"), recv=R, sent=R - US)
    echo = Echo(text="x", n=0, roll=0)
    d.add(COUNTER, echo, recv=R + 5 * 1_000_000_000, sent=R + 5 * 1_000_000_000 - US,
          proc=0xFFFFFFFF, cause=cause)  # seq 2: processing over 4.29 s, saturated
    for _ in range(3):  # seq 3..5, all 100 us end to end: the last one comes to a full list
        d.reply(COUNTER, echo, cause, 50 * US, 40 * US, 10 * US)
    d.close()
    rep = compute(tmp_path / "j", slowest=3)
    assert rep.proc_saturated == 1
    assert [(s.seq, s.end_to_end_us) for s in rep.slowest] == [
        (2, 5_000_000.0), (3, 100.0), (4, 100.0),
    ]
    assert rep.slowest[0].processing_us == 4_294_967.295


def test_empty_journal(tmp_path: Path) -> None:
    JournalWriter(tmp_path / "j").open()
    rep = compute(tmp_path / "j")
    assert (rep.frames, rep.groups, rep.transit_by_source, rep.slowest) == (0, [], [], [])


# --------------------------------------------------------------------------- the command


def test_json_output(day: Path) -> None:
    code, outp = run("journal", "latency", "--json", "--slowest", "2", str(day))
    assert code == 0, outp
    rep = json.loads(outp)
    assert (rep["frames"], rep["caused"], rep["matched"], rep["unmatched"], rep["clamped"]) == (
        16, 9, 6, 3, 1)
    [echo] = [g for g in rep["groups"] if g["source_id"] == COUNTER and g["type"] == "Echo"]
    assert echo["end_to_end"] == {
        "count": 5, "clamped": 0, "p50_us": 328.0, "p90_us": 505.6, "p99_us": 545.56,
        "p99_9_us": 549.556, "max_us": 550.0,
    }
    assert set(echo) == {
        "source_id", "app", "type", "transit", "queueing", "processing", "return", "end_to_end",
    }
    assert echo["queueing"]["p99_us"] == 496.0
    assert [s["source_id"] for s in rep["transit_by_source"]] == [
        sources.SEQUENCER, COUNTER, INJECT, STRANGER]
    assert rep["transit_by_source"][2]["transit"]["p50_us"] == 30.0  # the notes
    assert rep["slowest"] == [
        {"seq": 11, "cause_seq": 6, "source_id": COUNTER, "app": echo["app"], "type": "Echo",
         "cause_type": "OperatorNote", "end_to_end_us": 550.0, "queueing_us": 500.0,
         "processing_us": 45.0, "return_us": 5.0, "sequencer_us": None, "transport_us": None},
        {"seq": 10, "cause_seq": 5, "source_id": COUNTER, "app": echo["app"], "type": "Echo",
         "cause_type": "OperatorNote", "end_to_end_us": 439.0, "queueing_us": 400.0,
         "processing_us": 35.0, "return_us": 4.0, "sequencer_us": None, "transport_us": None},
    ]
    # a segment file and the journal folder name the same journal
    seg = next((day / "journal").glob("*.seg"))
    assert json.loads(run("journal", "latency", "--json", "--slowest", "2", str(seg))[1]) == rep


def test_text_output(day: Path) -> None:
    code, outp = run("journal", "latency", str(day))
    assert code == 0, outp
    assert "16 frames (seq 1..16); 14 with a send time; 9 caused outputs, 6 matched" in outp
    assert "1 negative figure(s) clamped to 0" in outp
    lines = [line.strip() for line in outp.splitlines()]
    rows = [line.split() for line in lines]
    # caused outputs: a group's app and type head its rows, a row per stage
    name = group(compute(day), COUNTER, "Echo").app
    echo = lines.index(f"{name}: Echo")
    assert rows[echo + 1] == ["queueing", "5", "300.0", "496.0", "499.6", "500.0"]
    assert rows[echo + 4] == ["end", "to", "end", "5", "328.0", "545.6", "549.6", "550.0"]
    alert = lines.index("adhoc#77: Alert")
    assert rows[alert + 1] == ["queueing", "1", "0.0", "0.0", "0.0", "0.0", "1"]
    # inbound transit per source
    assert [str(INJECT), "inject", "5", "30.0", "49.6", "50.0", "50.0"] in rows
    assert ["0", "sequencer", "1", "0.0", "0.0", "0.0", "0.0"] in rows
    # the slowest: output, then under it its cause and each part's share of the whole
    top = rows.index(["11", f"{name}:", "Echo", "550.0", "500.0", "45.0", "5.0"])
    assert rows[top + 1] == ["←", "6", "←", "OperatorNote", "91%", "8%", "1%"]
    assert "slowest 6 by end to end" in outp


def test_bad_path_exits_2(tmp_path: Path) -> None:
    code, outp = run("journal", "latency", str(tmp_path / "nowhere"))
    assert code == 2
    assert "no journal at" in outp


def test_slowest_queueing_split_by_the_sequencers_publish_times(day: Path) -> None:
    """With the day's telemetry/published.bin, queueing splits into sequencer and transport."""
    import struct

    from sequencer.journal import read_all
    from sequencer.service import PUBLISHED_FILE

    recv = {f.seq: f.recv_ns for f in read_all(day)}
    pub = day / PUBLISHED_FILE
    pub.parent.mkdir(parents=True, exist_ok=True)
    # Chunks ending at seq 4 and seq 8: seq 6 (the slowest output's cause) went out with
    # the second, 120 us after the sequencer received it.
    pub.write_bytes(struct.pack("<Qq", 4, recv[4] + 50_000)
                    + struct.pack("<Qq", 8, recv[6] + 120_000))
    top = compute(day, slowest=1).slowest[0]
    assert (top.seq, top.cause_seq, top.queueing_us) == (11, 6, 500.0)
    assert (top.sequencer_us, top.transport_us) == (120.0, 380.0)
