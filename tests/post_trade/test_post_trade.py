"""`tape post-trade DAY`: every report of a planted day into DAY/post_trade with a manifest,
identical bytes on a rerun and under another PYTHONHASHSEED, an incomplete day marked
so, a damaged journal refused naming the seq, missing ref data named by file and field,
a changed report file found by `verify`; and the time sync report on a journal whose
telemetry holds a clock known to be 79 ms out."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from post_trade.record import PostTradeError, read_day
from post_trade.refs import MissingRefData
from post_trade.report import REPORTS, run, verify_manifest
from sequencer import sources
from sequencer.frames import encode_input, stamp
from sequencer.journal import JournalWriter
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.control import Heartbeat, SystemStart, SystemStop
from tests.post_trade.daykit import KitDay, planted_day, post_trade_refdata, write_refdata

MS = 1_000_000


def tape(*args: str, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, "-m", "deploy", "post-trade", *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    day = tmp_path_factory.mktemp("pt") / "day"
    planted_day(day)
    return day


def digests(day: Path) -> dict[str, str]:
    m = json.loads((day / "post_trade" / "manifest.json").read_text())
    return {f["path"]: f["sha256"] for f in m["files"]}


def test_every_report_with_a_manifest_and_the_same_bytes_again(planted: Path,
                                                                tmp_path: Path) -> None:
    r = tape(str(planted), "--json")
    assert r.returncode == 1, r.stderr  # the planted day has clearing breaks
    doc = json.loads(r.stdout)
    assert doc["complete"] is True and doc["breaks"] > 0
    assert sorted(doc["reports"]) == sorted(REPORTS)
    first = digests(planted)
    for name in REPORTS:
        assert any(p.startswith(name + "/") for p in first), name
    assert verify_manifest(planted) == []
    # Again, under another hash seed: byte for byte.
    assert tape(str(planted), seed="4242").returncode == 1
    assert digests(planted) == first
    # A copy of the day elsewhere gives the same bytes too (no path in any file).
    other = tmp_path / "elsewhere"
    planted_day(other)
    run(other)
    assert digests(other) == first


def test_one_report_alone_keeps_the_others(planted: Path) -> None:
    run(planted)
    before = digests(planted)
    r = tape(str(planted), "--report", "timesync")
    assert r.returncode == 0, r.stdout + r.stderr
    assert digests(planted) == before
    m = json.loads((planted / "post_trade" / "manifest.json").read_text())
    assert sorted(m["reports"]) == sorted(REPORTS)


def test_verify_finds_a_changed_a_missing_and_an_added_file(tmp_path: Path) -> None:
    day = tmp_path / "day"
    planted_day(day)
    run(day, ["activity", "timesync"])
    root = day / "post_trade"
    html = root / "activity" / "activity.html"
    html.write_text(html.read_text().replace("ALPHA", "ALPHB"))
    (root / "timesync" / "timesync.csv").unlink()
    (root / "timesync" / "extra.txt").write_text("x")
    assert sorted(verify_manifest(day)) == ["added timesync/extra.txt",
                                            "changed activity/activity.html",
                                            "missing timesync/timesync.csv"]
    r = tape("verify", str(day))
    assert r.returncode == 1 and "3 problems" in r.stdout


def test_an_incomplete_day_is_marked_so_everywhere(tmp_path: Path) -> None:
    day = tmp_path / "day"
    d, _ = planted_day(day, stop=False)
    d.close()
    r = tape(str(day), "-r", "activity", "-r", "cat", "-r", "timesync")
    assert "INCOMPLETE" in r.stdout, r.stdout + r.stderr
    m = json.loads((day / "post_trade" / "manifest.json").read_text())
    assert m["complete"] is False
    for page in ("activity/activity.html", "timesync/timesync.html"):
        assert "INCOMPLETE" in (day / "post_trade" / page).read_text(), page
    meta = next((day / "post_trade" / "cat").glob("*.meta.json"))
    assert json.loads(meta.read_text())["complete"] is False


def test_a_damaged_journal_is_refused_naming_the_seq(tmp_path: Path) -> None:
    day = tmp_path / "day"
    planted_day(day)
    seg = next((day / "journal").glob("*.seg"))
    data = bytearray(seg.read_bytes())
    data[1_000] ^= 0xFF  # inside the day's frames (a segment is preallocated past them)
    seg.write_bytes(bytes(data))
    with pytest.raises(PostTradeError, match=r"fails verification at seq \d+"):
        read_day(day)
    r = tape(str(day))
    assert r.returncode == 1 and "fails verification at seq" in r.stderr
    assert not (day / "post_trade").exists()


def test_missing_ref_data_names_the_file_and_the_field(tmp_path: Path) -> None:
    day = tmp_path / "day"
    KitDay(day, refdata=post_trade_refdata(drop=("accounts",))).finish()
    r = tape(str(day))
    assert r.returncode == 1
    assert "accounts.csv" in r.stderr and "no table 'accounts'" in r.stderr
    # A client the table does not know: named with the fields it needs.
    day2 = tmp_path / "day2"
    d = KitDay(day2)
    d.order("ALPHA", "A1")
    d.finish()
    rd = post_trade_refdata()
    accounts = rd.table("accounts")
    accounts.rows.pop("ALPHA")
    with pytest.raises(MissingRefData, match=r"accounts.csv .* no row for client 'ALPHA'"):
        read_day(day2, refdata=rd)


def test_bad_usage_exits_2(planted: Path) -> None:
    assert tape(str(planted), "--set", "nonsense=1").returncode == 2
    assert tape(str(planted), "--set", "wash_window_ms=soon").returncode == 2
    assert tape(str(planted), "--report", "nope").returncode == 2
    assert tape(str(planted.parent / "no-such-day")).returncode == 2
    r = tape(str(planted), "--set", "trade_through_tolerance_ms=0", "-r", "activity")
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ time sync


def _telemetry_day(day: Path) -> None:
    """A wall-time day whose frames carry send and receive stamps: the OMS's clock 80 ms
    ahead of the sequencer's, the algo engine's in step, the client gateway's only ever
    sending (one-sided bounds)."""
    rd = post_trade_refdata()
    write_refdata(day, rd)
    w = JournalWriter(day / "journal")
    w.open()
    t0 = 1_381_239_000 * 1_000_000_000
    frames: list[bytes] = []
    seqs: dict[int, int] = {}

    def put(src: int, msg: Any, recv: int, sent: int, cause: int = 0, proc: int = 0) -> int:
        seqs[src] = seqs.get(src, 0) + 1
        rec = encode_input(src, TYPE_ID[type(msg)], seqs[src], encode(msg), cause_seq=cause,
                           sent_ns=sent, proc_ns=proc)
        frames.append(stamp(rec, len(frames) + 1, recv, recv))
        return len(frames)

    put(0, SystemStart(session_date=dt.date(2013, 10, 8), seed=1, config_digest="t",
                       time_mode="wall", refdata_digest=rd.digest), t0, 0)
    for i in range(20):
        t = t0 + (i + 1) * 1_000 * MS
        # the client gateway sends (its clock in step, 1 ms on the wire)
        cause = put(sources.CLIENT_GATEWAY, Heartbeat("client_gateway", i, 0), t, t - MS)
        # the OMS got it 0.5 ms later, spent 0.1 ms, and its clock reads 80 ms ahead
        put(sources.OMS, Heartbeat("oms", i, 0), t + 2 * MS, t + MS // 2 + 80 * MS + MS // 10,
            cause, MS // 10)
        # the algo engine likewise, its clock in step
        put(sources.ALGO, Heartbeat("algo", i, 0), t + 2 * MS, t + MS // 2 + MS // 10,
            cause, MS // 10)
    put(0, SystemStop("over"), t0 + 30_000 * MS, 0)
    w.append(b"".join(frames), 1)
    w.close()


def test_time_sync_finds_the_clock_that_is_out_and_proves_the_others(tmp_path: Path) -> None:
    day = tmp_path / "day"
    _telemetry_day(day)
    res = run(day, ["timesync"])
    s = {x["source"]: x for x in res.results[0].summary["sources"]}
    assert s["oms"]["breaches"] == 1 and s["oms"]["first_breach"] == "2013-10-08T13:30:00Z"
    assert s["algo"]["within"] == 1 and s["algo"]["breaches"] == 0
    assert s["client_gateway"]["one_sided"] == 1
    rows = (day / "post_trade" / "timesync" / "timesync.csv").read_text().splitlines()
    oms = next(r for r in rows if r.startswith("oms,"))
    # offset >= sent - recv = 78.6 ms; <= sent - proc - recv(cause) = 80.5 ms
    assert oms.split(",")[3:] == ["78600.0", "80500.0", "breach"]
    assert res.results[0].summary["judged"] is True
    html = (day / "post_trade" / "timesync" / "timesync.html").read_text()
    assert "No host clock checks" in html


def test_clock_check_logs_the_host_clock(tmp_path: Path) -> None:
    day = tmp_path / "day"
    _telemetry_day(day)
    r = tape("clock-check", "--day", str(day), "--json")
    assert r.returncode in (0, 1), r.stderr
    c = json.loads(r.stdout)
    assert "time_utc" in c and ("synchronised" in c or "error" in c)
    assert r.returncode == (0 if c.get("synchronised") and c["max_error_us"] <= 50_000 else 1)
    line = (day / "logs" / "clock_checks.jsonl").read_text().splitlines()
    assert json.loads(line[0]) == c
    res = run(day, ["timesync"])
    (check,) = res.results[0].summary["host_checks"]
    assert check["status"] == ("within" if r.returncode == 0 else "breach")


def test_quality_from_the_kept_frames_equals_its_own_pass(planted: Path) -> None:
    """The record's pass keeps the quality report's frames, saving it a second pass over
    the journal: the figures are those of its own pass."""
    from post_trade.quality import build_report
    from post_trade.report import read

    rec = read(planted, ["quality"])
    assert rec.kept and rec.kept[-1][1] == -1
    names = {s.id: s.name for s in rec.refdata.symbols}
    kept = build_report(planted, names=names, frames=rec.kept).as_dict()
    own = build_report(planted, names=names).as_dict()
    assert kept == own and kept["summary"]["orders"] == 4
