"""`tape status`: a fake day folder with the status files the processes write, pointing
at live child processes of the test's own; killing one shows it down at once, a status
file that stops moving shows stale, and the command's exit codes follow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from deploy.status import classify, day_status, proc_info, status_cmd


def _sleeper(*argv: str) -> subprocess.Popen[bytes]:
    """A live process of our own; extra argv makes its command line look like a tape one."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *argv])


def _kill(p: subprocess.Popen[bytes]) -> None:
    p.kill()
    p.wait(timeout=5)  # reaped: /proc/<pid> is gone (a zombie would also count as down)


def write_day(day: Path, seq_pid: int, writer_pid: int, *, head: int = 1000,
              app_seq: int = 990, writer_seq: int = 900, at_ns: int | None = None) -> None:
    """Status files as the sequencer, the counter app and the db writer write them."""
    now = time.time_ns() if at_ns is None else at_ns
    day.mkdir(parents=True, exist_ok=True)
    (day / "sequencer.status.json").write_text(json.dumps({
        "pid": seq_pid, "state": "running", "time_mode": "wall", "fsync": "group",
        "last_seq": head, "last_ts": 5, "published_seq": head - 3, "lag_frames": 3,
        "unpublished_bytes": 240,
        "counters": {"inputs": head, "sequenced": head, "duplicates": 0, "gaps": 0,
                     "held": 0, "skips": 0, "refused": 1, "clock_ticks": 7, "fsyncs": 12,
                     "fsync_ns_total": 36_000_000, "fsync_ns_max": 20_000_000,
                     "back_pressured": 4, "published_frames": head - 3,
                     "published_chunks": 50},
        "sources": {"0": 3}, "recovery": {"stopped": False}, "updated_wall_ns": now,
        # 12 fsyncs: 5 within 0.25 ms, 4 more within 0.5 ms, 2 within 2.5 ms, 1 within 25 ms
        "fsync_buckets": [0, 5, 4, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0],
    }, indent=2))
    (day / "apps").mkdir(exist_ok=True)
    (day / "apps" / "counter.status.json").write_text(json.dumps({
        "app": "counter", "seq": app_seq, "frames": app_seq, "outputs": 2, "published": 2,
        "caught_up": True, "from_journal": 10, "from_live": app_seq - 10,
        "state_hash": "ab", "state_hash_seq": app_seq, "waiting_for_sequencer": False,
        "stopped_by_stream": False, "updated_wall_ns": now,
    }))
    (day / "db").mkdir(exist_ok=True)
    (day / "db" / "writer.status.json").write_text(json.dumps({
        "writer": "db", "pid": writer_pid, "day": str(day), "date": "2026-11-23",
        "database": "x.duckdb", "time_mode": "wall", "state": "running",
        "last_seq": writer_seq, "last_ts_ns": 4, "lag_frames": head - writer_seq,
        "lag_s": 0.25, "lagging": False, "frames_written": writer_seq, "rows_written": 77,
        "commits": 9, "outages": 1, "updated_wall_ns": now,
    }))
    # The logs: the sequencer started twice (one restart), the writer once.
    (day / "logs").mkdir(exist_ok=True)
    (day / "logs" / "sequencer.log").write_text(
        '{"event": "journal_recovered", "last_seq": 0, "level": "info"}\n'
        '{"event": "day_started", "level": "info"}\n'
        '{"event": "journal_recovered", "last_seq": 500, "level": "info"}\n')
    (day / "logs" / "db_writer.log").write_text(
        '{"event": "db_writer", "text": "writing 2026-11-23 (d) into x, from seq 1"}\n'
        '{"event": "db_writer", "text": "following the live stream"}\n')
    (day / "logs" / "counter.log").write_text('{"event": "snapshot_written"}\n')


@pytest.fixture()
def procs(tmp_path: Path) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    day = tmp_path / "day"
    day.mkdir()
    ps = {"sequencer": _sleeper(), "writer": _sleeper(),
          # The app's status names no pid: it is found by its command line and --day.
          "app": _sleeper("app", "run", "counter", "--day", str(day))}
    time.sleep(0.05)  # the children have exec'd: /proc shows their own command lines
    yield ps
    for p in ps.values():
        if p.poll() is None:
            _kill(p)


def test_classify_command_lines() -> None:
    assert classify(("tape", "sequencer", "run", "--day", "d")) == "sequencer"
    assert classify(("python", "-m", "deploy", "app", "run", "oms", "--day", "d")) == "oms"
    assert classify(("tape", "db", "run", "--day", "d")) == "db_writer"
    assert classify(("tape", "gateway", "client", "--day", "d")) == "client_gateway"
    assert classify(("tape", "venue-sim", "--day", "d")) == "venue_sim"
    assert classify(("tape", "marketdata", "run", "--day", "d")) == "ticker_plant"
    assert classify(("tape", "journal", "cat", "d")) is None


def test_proc_info_of_a_live_child() -> None:
    p = _sleeper()
    try:
        time.sleep(0.05)
        info = proc_info(p.pid)
        assert info is not None
        assert info.pid == p.pid
        assert info.rss_bytes > 1_000_000  # a Python interpreter holds megabytes
        assert 0.0 <= info.cpu_percent <= 100.0 * (os.cpu_count() or 1)
        assert abs(info.start_wall_ns - time.time_ns()) < 5_000_000_000
    finally:
        _kill(p)
    assert proc_info(p.pid) is None


def test_every_process_up_then_one_killed_shows_down_at_once(
        tmp_path: Path, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    day = tmp_path / "day"
    write_day(day, procs["sequencer"].pid, procs["writer"].pid)
    st = day_status(day)
    assert [p.name for p in st.processes] == ["sequencer", "counter", "db_writer"]
    seq, app, db = (st.get(n) for n in ("sequencer", "counter", "db_writer"))
    assert seq is not None and app is not None and db is not None
    assert (seq.state, seq.pid, seq.seq, seq.lag_frames) == ("up", procs["sequencer"].pid,
                                                              1000, 3)
    assert (app.state, app.pid, app.seq, app.lag_frames) == ("up", procs["app"].pid, 990, 10)
    assert (db.state, db.pid, db.seq, db.lag_frames) == ("up", procs["writer"].pid, 900, 100)
    assert seq.restarts == 1 and db.restarts == 0
    assert app.restarts is None  # apps log no start line
    assert seq.rss_bytes is not None and seq.rss_bytes > 1_000_000
    assert seq.heartbeat_age_s is not None and seq.heartbeat_age_s < 2.0
    assert st.sequencer_seq == 1000 and st.healthy

    _kill(procs["writer"])
    t0 = time.monotonic()
    st = day_status(day)
    assert time.monotonic() - t0 < 2.0
    db = st.get("db_writer")
    assert db is not None
    assert (db.state, db.up, db.healthy) == ("down", False, False)
    assert "gone" in db.why
    assert not st.healthy and "unhealthy: db_writer" in st.summary()

    # The app's status has no pid: with its process gone and its heartbeat still fresh
    # it counts as alive; once the heartbeat is past stale_s, down.
    _kill(procs["app"])
    st = day_status(day)
    app = st.get("counter")
    assert app is not None and app.pid is None and app.state == "up"
    st = day_status(day, now_ns=time.time_ns() + 2_500_000_000)
    app = st.get("counter")
    assert app is not None and (app.state, app.healthy) == ("down", False)


def test_stale_heartbeat_lag_and_a_reused_pid(
        tmp_path: Path, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    day = tmp_path / "day"
    write_day(day, procs["sequencer"].pid, procs["writer"].pid)
    # Three seconds later with no new status: the live sequencer is stale.
    st = day_status(day, now_ns=time.time_ns() + 3_000_000_000)
    seq = st.get("sequencer")
    assert seq is not None and (seq.state, seq.up, seq.healthy) == ("stale", True, False)
    assert seq.heartbeat_age_s is not None and seq.heartbeat_age_s >= 3.0
    # A lag over the bound is unhealthy, while up.
    st = day_status(day, max_lag_frames=50)
    db = st.get("db_writer")
    assert db is not None and (db.state, db.healthy) == ("up", False)
    assert "lag 100 frames" in db.why
    # A status written a minute before the pid's process started: that pid was reused.
    write_day(day, procs["sequencer"].pid, procs["writer"].pid,
              at_ns=time.time_ns() - 60_000_000_000)
    seq = day_status(day).get("sequencer")
    assert seq is not None and seq.state == "down"


def test_a_finished_day_is_healthy(tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, 0, 0)
    st_file = day / "sequencer.status.json"
    d = json.loads(st_file.read_text())
    d["state"], d["pid"] = "closed", 2 ** 22 + 12345  # beyond pid_max: never alive
    d["recovery"]["stopped"] = True
    st_file.write_text(json.dumps(d))
    app_file = day / "apps" / "counter.status.json"
    a = json.loads(app_file.read_text())
    a["stopped_by_stream"] = True
    app_file.write_text(json.dumps(a))
    w_file = day / "db" / "writer.status.json"
    w = json.loads(w_file.read_text())
    w["state"] = "done"
    w_file.write_text(json.dumps(w))
    st = day_status(day)
    assert st.day_stopped
    assert [(p.name, p.state) for p in st.processes] == [
        ("sequencer", "done"), ("counter", "done"), ("db_writer", "done")]
    assert st.healthy


def test_processes_without_a_status_file_are_listed_from_their_logs(tmp_path: Path) -> None:
    day = tmp_path / "day"
    write_day(day, 0, 0)
    (day / "logs" / "client_gateway.log").write_text('{"event": "logon"}\n')
    gw = _sleeper("gateway", "client", "--day", str(day))
    try:
        time.sleep(0.05)
        st = day_status(day)
        p = st.get("client_gateway")
        assert p is not None and (p.kind, p.state, p.pid) == ("edge", "up", gw.pid)
        assert p.seq is None and p.lag_frames is None
    finally:
        _kill(gw)
    p = day_status(day).get("client_gateway")
    assert p is not None and (p.state, p.healthy) == ("down", False)


def test_edge_processes_by_their_status_files(tmp_path: Path) -> None:
    """The plant's, a gateway's and the simulator's status files: pid, heartbeat, seq and
    lag as written; stale when the file stops moving; down at once when killed; done
    when the file says so."""
    day = tmp_path / "day"
    write_day(day, 0, 0)
    plant = _sleeper("marketdata", "run", "--day", str(day))
    gw = _sleeper("gateway", "venue", "--day", str(day))
    try:
        time.sleep(0.05)
        now = time.time_ns()
        (day / "marketdata").mkdir()
        (day / "marketdata" / "plant.status.json").write_text(json.dumps({
            "pid": plant.pid, "process": "ticker_plant", "state": "running",
            "caught_up": True, "seq": 960, "published": 900, "symbols_subscribed": ["IBM"],
            "updated_wall_ns": now}))
        (day / "fix").mkdir()
        (day / "fix" / "venue_gateway.status.json").write_text(json.dumps({
            "pid": gw.pid, "gateway": "venue_gateway", "state": "running", "seq": 1000,
            "sessions": {"FIX.4.4:US->ARCX": {"logged_on": True}},
            "updated_wall_ns": now}))
        # The simulator's process is gone (not a day's SystemStop): the file says "done"
        # only when the day's stream ended it.
        (day / "fix" / "venue_sim.status.json").write_text(json.dumps({
            "pid": 2 ** 22 + 12345, "process": "venue_sim", "state": "done",
            "orders_working": 0, "fills": 3, "updated_wall_ns": now}))
        st = day_status(day)
        p, g, sim = (st.get(n) for n in ("ticker_plant", "venue_gateway", "venue_sim"))
        assert p is not None and g is not None and sim is not None
        assert (p.kind, p.state, p.pid, p.seq, p.lag_frames, p.healthy) == (
            "edge", "up", plant.pid, 960, 40, True)
        assert p.heartbeat_age_s is not None and p.heartbeat_age_s < 2.0
        assert p.status_file == str(day / "marketdata" / "plant.status.json")
        assert (g.state, g.pid, g.seq, g.lag_frames) == ("up", gw.pid, 1000, 0)
        assert g.fields["sessions"] == {"FIX.4.4:US->ARCX": {"logged_on": True}}
        assert (sim.state, sim.seq, sim.healthy) == ("done", None, True)
        # Three seconds without a new status: the live plant is stale (hung).
        p = day_status(day, now_ns=now + 3_000_000_000).get("ticker_plant")
        assert p is not None and (p.state, p.healthy) == ("stale", False)
        _kill(gw)
        g = day_status(day).get("venue_gateway")
        assert g is not None and (g.state, g.up, g.healthy) == ("down", False, False)
        assert f"pid {gw.pid} gone" in g.why
    finally:
        for x in (plant, gw):
            if x.poll() is None:
                _kill(x)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(status_cmd)
    return app


def test_cli_exit_codes_and_json(tmp_path: Path,
                                 procs: dict[str, subprocess.Popen[bytes]]) -> None:
    runner = CliRunner()
    day = tmp_path / "day"
    write_day(day, procs["sequencer"].pid, procs["writer"].pid)
    res = runner.invoke(_cli(), ["--day", str(day), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["healthy"] is True and doc["sequencer_seq"] == 1000
    by = {p["name"]: p for p in doc["processes"]}
    assert by["db_writer"]["up"] is True and by["db_writer"]["lag_frames"] == 100

    res = runner.invoke(_cli(), ["--day", str(day)])
    assert res.exit_code == 0
    assert "sequencer" in res.stdout and "3 processes, 3 up" in res.stdout

    _kill(procs["sequencer"])
    res = runner.invoke(_cli(), ["--day", str(day), "--json"])
    assert res.exit_code == 1
    by = {p["name"]: p for p in json.loads(res.stdout)["processes"]}
    assert by["sequencer"]["state"] == "down" and by["sequencer"]["up"] is False

    res = runner.invoke(_cli(), ["--day", str(tmp_path / "nope")])
    assert res.exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(_cli(), ["--day", str(empty)])
    assert res.exit_code == 1 and "no process has run" in res.stdout
