"""The day's jobs (`tape day ...`) under supervisord, as a scheduler runs them: the
Jenkinsfile's stages in order against a recorded day (stages out of order and a second
start refused, every stage run again says it is done); a whole day of three clients'
orders over FIX with seven processes killed by SIGKILL on the way (each comes back, no
execution report lost or repeated, replay verified, the post-trade records clean); a
damaged journal's archive refused; the alert rules (`tape day watch`)."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.supervise import Supervisor
from deploy.topology import load_topology
from deploy.watch import Rules
from sequencer.journal import read_all
from sequencer.messages import decode
from sequencer.messages.control import Alert
from tests.conftest import REPO
from tests.deploy.daykit import DATE, DayRoot, wait_for

JENKINSFILE = REPO / "deploy" / "jenkins" / "Jenkinsfile"
STAGE_RE = re.compile(r"stage\('([^']+)'\)\s*\{\s*steps\s*\{\s*sh\s+'([^']*)'\s*\}\s*\}")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[DayRoot]:
    r = DayRoot(tmp_path)
    try:
        yield r
    finally:
        r.cleanup()


def _stages() -> list[tuple[str, str]]:
    text = JENKINSFILE.read_text()
    stages = STAGE_RE.findall(text)
    # Every stage is one `sh` step the test can run: none is skipped by the pattern.
    assert len(stages) == text.count("stage('"), "a stage the test cannot read"
    return stages


def test_the_pipeline_is_a_weekday_schedule_with_a_stage_per_job() -> None:
    text = JENKINSFILE.read_text()
    assert re.search(r"triggers\s*\{\s*cron\('[^']*\* \* 1-5'\)", text)
    names = [n for n, _ in _stages()]
    assert names == ["prepare", "start", "wait-close", "eod", "stop", "post-trade", "archive"]
    for name, command in _stages():
        assert command.startswith(f"tape day {name} "), (name, command)
    post = text[text.index("post {"):]
    assert "failure {" in post and "mail to:" in post
    assert "archiveArtifacts" in post
    assert "tape archive verify" in dict(_stages())["archive"]


@pytest.mark.timeout(900)  # a whole day of processes: minutes on a loaded machine
def test_each_stage_of_the_pipeline_runs_in_order_against_a_recorded_day(
        root: DayRoot) -> None:
    # A stage out of order is refused, saying what to run first (exit 2).
    r = root.tape("day", "eod", "--date", DATE)
    assert r.returncode == 2 and "run `tape day start` first" in r.stderr, r.stderr
    for name, command in _stages():
        if name == "stop":
            r = root.tape("day", "archive", "--date", DATE)
            assert r.returncode == 2 and "run `tape day stop` first" in r.stderr, r.stderr
            r = root.tape("day", "start", "--date", DATE)
            assert r.returncode == 2 and "is running" in r.stderr, r.stderr
        r = root.sh(command)
        assert r.returncode == 0, f"stage {name}: {command}\n{r.stdout}\n{r.stderr}"
        assert root.job(name)["ok"] is True
    assert root.job("stop")["summary"].startswith("stopped at seq ")
    assert (root.archive / DATE / "ARCHIVE-MANIFEST.json").exists()
    assert (root.day / "post_trade" / "manifest.json").exists()
    # The whole pipeline again: each finished stage says so and exits 0.
    for name, command in _stages():
        r = root.sh(command)
        assert r.returncode == 0, f"rerun of {name}:\n{r.stdout}\n{r.stderr}"
    again = root.tape("day", "start", "--date", DATE)
    assert again.returncode == 0 and "already done" in again.stdout


def _pid(sv: Supervisor, name: str) -> int:
    info = sv.info(name)
    return info.pid if info.state == "RUNNING" else 0


def _restarts(day: Path) -> list[str]:
    return sorted(
        a.text for f in read_all(day / "journal")
        if f.type_id == 4 and (a := decode(4, f.payload)) is not None
        and isinstance(a, Alert) and a.code == "process_restart")


def test_a_damaged_journal_is_not_archived(tmp_path: Path) -> None:
    from deploy.day import JobError, Plan, _record, archive, plan_path
    from sequencer.journal import list_segments
    from tests.deploy.test_archive import DAY_B, _lift, bare_day

    day = tmp_path / "days" / DAY_B.isoformat()
    bare_day(day, DAY_B)
    plan_path(day).parent.mkdir(parents=True)
    plan = Plan(date=DAY_B.isoformat(), mode="sim", topology="", aeron_dir="",
                archive=str(tmp_path / "archive"), retention_years=6)
    plan_path(day).write_text(json.dumps(plan.__dict__))
    for stage in ("prepare", "start", "stop", "post-trade"):
        _record(day, stage, True, "done")
    seg = list_segments(day / "journal")[0]
    data = bytearray(seg.read_bytes())
    data[200] ^= 0xFF
    seg.write_bytes(bytes(data))
    try:
        with pytest.raises(JobError) as e:
            archive(day)
        assert e.value.code == 1 and "fails verification at seq 3" in str(e.value)
        assert not (tmp_path / "archive" / DAY_B.isoformat()).exists()
    finally:
        _lift(tmp_path / "archive")


# ---------------------------------------------------------------- the alert rules


def test_the_rules_raise_from_logs_stream_and_restarts_and_hold_floods() -> None:
    rules = Rules(load_topology().alerts, quiet_s=5.0)
    err = json.dumps({"level": "error", "event": "session_lost", "venue": "XNYS"})
    (r,) = rules.on_log_line("venue_gateway", err)
    assert (r.code, r.severity, r.process) == ("error_line", "error", "venue_gateway")
    assert "ERROR session_lost: venue=XNYS" in r.text
    assert rules.on_log_line("oms", json.dumps({"level": "info", "event": "x"})) == []
    assert [x.code for x in rules.on_log_line("client_gateway", "... Order Rejected ...")] == [
        "order_rejected"]
    assert rules.on_start("oms", 1) == []
    assert [x.code for x in rules.on_start("oms", 2)] == ["process_restart"]
    from sequencer.messages.executions import VenueStatus

    (v,) = rules.on_message(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="down",
                                        reason="logout"), 42)
    assert v.code == "venue_down" and "seq 42" in v.text and "venue XNYS" in v.text
    assert rules.on_message(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="up"),
                            43) == []
    # One alert of a rule and process per quiet period; the next says what it stood for.
    assert rules.admit(r, 100.0) is r
    assert rules.admit(r, 101.0) is None
    assert rules.admit(r, 102.0) is None
    later = rules.admit(r, 105.5)
    assert later is not None and later.text.endswith("(and 2 more like it in the last 5 s)")
    other = rules.on_log_line("oms", err)[0]
    assert rules.admit(other, 105.6) is other  # another process: its own count


# ---------------------------------------------------------------- a whole day with clients

ORDERS = """\
at,client,action,cl_ord_id,orig_cl_ord_id,symbol,side,qty,price,algo,venue,start,end,max_pct,note
09:31:00,ALPHA,new,A-1,,IBM,buy,500,182.50,DMA,XNYS,,,,marketable: fills
09:32:00,BETA,new,B-1,,IBM,buy,300000,181.00,DMA,XNYS,,,,expect a risk reject: qty too big
09:33:00,DEMO,new,D-1,,IBM,sell,2000,,VWAP,,09:35:00,11:00:00,20,
09:40:00,ALPHA,new,A-2,,IBM,short,300,181.97,DMA,ARCX,,,,rests until the close
09:45:00,BETA,new,B-2,,IBM,buy,1000,170.00,DMA,XNYS,,,,rests: cancelled by the client
10:00:00,ALPHA,new,A-3,,IBM,buy,400,170.00,DMA,BATS,,,,rests: amended
10:30:00,BETA,cancel,B-2-C,B-2,,,,,,,,,,
11:00:00,ALPHA,replace,A-3-R,A-3,,,600,171.00,,,,,,
12:00:00,DEMO,new,D-2,,IBM,buy,5000,,VWAP,,12:05:00,15:30:00,15,
"""


@pytest.mark.timeout(900)  # a whole day of processes: minutes on a loaded machine
def test_a_day_with_clients_under_kill_9_loses_and_repeats_nothing(
        root: DayRoot, tmp_path: Path) -> None:
    import subprocess
    import sys

    from deploy.bench.day import check_day

    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    run = subprocess.Popen(
        [sys.executable, "-m", "deploy", "day", "run", "--date", DATE, "--symbols", "IBM",
         "--orders", str(orders), "--json"], cwd=REPO, env=root.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for("the day started", (root.day / "jobs" / "start.json").exists, timeout=240)
        sv = Supervisor(root.day)
        # The apps, the gateways, the writer, the watcher (the venue simulator stands in
        # for the venues: a venue that loses its book is another fault).
        victims = ["oms", "algo", "client_gateway", "venue_gateway", "db_writer",
                   "market_monitor", "watch"]
        for name in victims:
            old = wait_for(f"{name} running", lambda n=name: _pid(sv, n))  # type: ignore[misc]
            os.kill(old, signal.SIGKILL)
            wait_for(f"{name} restarted",
                     lambda n=name, o=old: _pid(sv, n) not in (0, o))  # type: ignore[misc]
        out, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, err.decode()[-3000:]
    res = json.loads(out.decode().strip().splitlines()[-1])
    assert res["ok"] and res["stage"] == "run"
    chk = check_day(root.day)
    assert chk["duplicate_exec_ids"] == 0
    assert chk["open_orders"] == []
    assert chk["replay_ok"]
    clients = chk["clients"]
    total = clients["total"]
    assert total["orders"] == 7 and total["replaces"] == 1 and total["cancels"] == 1
    assert total["rejected"] == 1 and total["still_open"] == []
    assert _restarts(root.day) == sorted(f"{n} restarted (start 2 of the day)" for n in victims)
    # The post-trade records: the drop copy and the fills reconcile, CAT checks clean.
    assert root.job("post-trade")["ok"] is True
    assert root.tape("archive", "verify", "--store", str(root.archive)).returncode == 0
