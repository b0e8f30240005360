"""`tape bench oms`: the generated day replays through the OMS with every output matched,
its generation is a pure function of the seed, and the command prints one line of JSON.
No timing is asserted: figures are for the benchmark, not for tests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from deploy.bench.oms import TARGETS, run_bench, run_oms
from deploy.bench.oms_day import bench_refdata, generate
from deploy.cli import app
from sequencer import sources
from sequencer.journal import list_segments, read_all, verify

KEYS = ("oms_msgs_per_s", "noop_msgs_per_s", "oms_ratio", "messages", "frames", "oms_outputs",
        "oms_s", "noop_s", "target_met", "oms_mismatches")


def _journal_bytes(day: Path) -> bytes:
    return b"".join(p.read_bytes() for p in list_segments(day / "journal"))


def test_run_bench_small_day() -> None:
    res = run_bench(3000, 1)
    for key in KEYS:
        assert key in res, key
    assert res["messages"] >= 3000
    assert res["oms_outputs"] > 0
    assert res["oms_mismatches"] == 0
    assert res["oms_outputs_matched"] == res["oms_outputs"]
    assert res["frames"] > res["messages"] + res["oms_outputs"]  # SystemStart, clock ticks
    assert res["oms_ratio"] == res["oms_msgs_per_s"] / res["noop_msgs_per_s"]
    assert res["target_met"] == (res["oms_msgs_per_s"] >= TARGETS["oms_msgs_per_s"]
                                 and res["oms_ratio"] >= TARGETS["oms_ratio"])
    mix = res["mix"]
    for kind in ("NewOrder", "CancelOrder", "ReplaceOrder", "NewChild", "CancelChild",
                 "ReplaceChild", "VenueAck", "VenueFill", "VenueCanceled", "VenueReplaced",
                 "ExecutionReport", "ChildOrderSent", "ParentDone"):
        assert mix.get(kind, 0) > 0, kind
    assert res["oms_alerts"].get("end_of_day") == 1  # the day's end is part of it


def test_generation_is_deterministic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sa = generate(a, 2000, seed=5)
    sb = generate(b, 2000, seed=5)
    generate(c, 2000, seed=6)
    assert sa == sb
    assert _journal_bytes(a) == _journal_bytes(b)
    assert _journal_bytes(a) != _journal_bytes(c)


def test_generated_journal_is_sound_and_replays(tmp_path: Path) -> None:
    st = generate(tmp_path, 2000, seed=3)
    rep = verify(tmp_path)
    assert rep.clean, rep
    frames = list(read_all(tmp_path))
    assert len(frames) == st.frames
    ts = [f.ts_ns for f in frames]
    assert ts == sorted(ts)
    own = [f for f in frames if f.source_id == sources.OMS]
    assert len(own) == st.oms_outputs
    # every OMS output sits right after its cause or another output of the same cause
    by_seq = {f.seq: f for f in frames}
    for f in own:
        prev = by_seq[f.seq - 1]
        assert f.cause_seq in (prev.seq, prev.cause_seq)
    _s, eng = run_oms(tmp_path, bench_refdata())
    assert eng.checker.matched == st.oms_outputs
    assert not eng.checker.mismatches


def test_cli_json_one_line() -> None:
    res = CliRunner().invoke(app, ["bench", "oms", "--messages", "2000", "--repeat", "1",
                                   "--json"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1
    got = json.loads(lines[0])
    assert got["messages"] >= 2000
    assert got["oms_mismatches"] == 0
    for key in ("oms_msgs_per_s", "noop_msgs_per_s", "oms_ratio"):
        assert got[key] > 0


def test_cli_table() -> None:
    res = CliRunner().invoke(app, ["bench", "oms", "--messages", "1000", "--repeat", "1"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "tape bench oms" in res.stdout
    assert "OMS" in res.stdout


def test_cli_bad_usage() -> None:
    res = CliRunner().invoke(app, ["bench", "oms", "--messages", "0"])
    assert res.exit_code == 2
