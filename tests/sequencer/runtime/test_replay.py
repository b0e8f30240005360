"""`tape replay` over the journal of a real short run (`recorded_day`: sequencer, counter
app, a Probe publisher and injected notes, over real Aeron IPC), each replay in a fresh
process: verification, --until, --state-at, PYTHONHASHSEED independence.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sequencer import sources
from sequencer.journal import read_all
from tests.conftest import REPO, child_env
from tests.sequencer.runtime.conftest import APP, PROBE, RecordedDay, replay_json


def by_app(rep: dict[str, object]) -> dict[str, dict[str, object]]:
    apps = rep["apps"]
    assert isinstance(apps, list)
    return {a["app"]: a for a in apps}


def test_verify_matches_every_recorded_output(recorded_day: RecordedDay) -> None:
    rd = recorded_day
    rep = replay_json(rd.day, "--verify")  # every known app
    assert rep["verify"] is True
    assert rep["mismatches"] == 0, rep
    assert rep["frames"] == rep["last_seq"] == rd.last_seq
    apps = by_app(rep)
    assert {"counter", "noop"} <= apps.keys()
    counter = apps["counter"]
    assert counter["source_id"] == sources.COUNTER
    assert counter["frames"] == rd.last_seq
    assert counter["mismatches"] == 0 and counter["first_mismatches"] == []
    assert counter["matched"] == rd.outputs >= 5  # 3 echoes and 2+ heartbeats
    # It produced what the live app produced, the same state: the live run, replayed.
    assert counter["outputs"] == rd.live_status["outputs"]
    assert counter["outputs"] == counter["matched"] + counter["unrecorded"]
    assert counter["state_hash"] == rd.live_status["state_hash"]
    assert apps["noop"]["outputs"] == apps["noop"]["matched"] == 0


def test_until_stops_at_that_seq(recorded_day: RecordedDay) -> None:
    rd = recorded_day
    until = rd.notes["second"]
    rep = replay_json(rd.day, "--app", APP, "--verify", "--until", str(until))
    assert rep["frames"] == rep["last_seq"] == until
    (counter,) = rep["apps"]
    assert counter["frames"] == until and counter["mismatches"] == 0
    at = replay_json(rd.day, "--app", APP, "--state-at", str(until))
    assert counter["state_hash"] == at["state_hash"]
    whole = replay_json(rd.day, "--app", APP)
    assert whole["apps"][0]["state_hash"] != at["state_hash"]


def test_state_at_prints_the_state_after_that_frame(recorded_day: RecordedDay) -> None:
    rd = recorded_day
    frames = list(read_all(rd.day / "journal"))
    for seq, notes, last in [(rd.notes["first"] - 1, 0, ""), (rd.notes["first"], 1, "first"),
                             (rd.notes["second"] - 1, 1, "first"),
                             (rd.notes["second"], 2, "second"), (rd.notes["third"], 3, "third"),
                             (rd.last_seq, 3, "third")]:
        at = replay_json(rd.day, "--app", APP, "--state-at", str(seq))
        assert at["app"] == APP and at["seq"] == seq
        assert at["stream_time_ns"] == frames[seq - 1].ts_ns
        state = at["state"]
        assert (state["notes"], state["last_note"]) == (notes, last), (seq, at)
        probes = sum(1 for f in frames[:seq] if f.type_id == PROBE)
        assert state["probes"] == probes, (seq, at)
        assert [t[2] for t in at["timers"]] == ["heartbeat"]


def test_replay_is_independent_of_pythonhashseed(recorded_day: RecordedDay) -> None:
    results = {}
    for hashseed in ("0", "1", "12345"):
        env = child_env()
        env["PYTHONHASHSEED"] = hashseed
        rep = replay_json(recorded_day.day, "--verify", env=env)
        assert rep["mismatches"] == 0, (hashseed, rep)
        results[hashseed] = {name: (a["outputs_digest"], a["state_hash"], a["outputs"])
                             for name, a in by_app(rep).items()}
    first = results["0"]
    assert {"counter", "noop"} <= first.keys()
    for hashseed, got in results.items():
        assert got == first, f"PYTHONHASHSEED={hashseed} replays differently: {got} != {first}"


def test_a_recorded_journal_replays_identically_in_a_fresh_place(
        recorded_day: RecordedDay, tmp_path: Path) -> None:
    """Only the journal matters: copied alone elsewhere, it replays to the same results."""
    copy = tmp_path / "elsewhere"
    shutil.copytree(recorded_day.day / "journal", copy / "journal")
    here = replay_json(recorded_day.day, "--verify")
    there = replay_json(copy, "--verify")
    assert there["mismatches"] == 0
    strip = ("seconds", "frames_per_s")
    assert {k: v for k, v in there.items() if k not in strip} == {
        k: v for k, v in here.items() if k not in strip}
    again = replay_json(copy / "journal", "--verify")  # given the journal folder itself
    assert by_app(again) == by_app(here)


def test_replay_table_output(recorded_day: RecordedDay) -> None:
    r = subprocess.run([sys.executable, "-m", "deploy", "replay", str(recorded_day.day),
                        "--app", APP, "--verify"], cwd=REPO, env=child_env(),
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert f"replay of {recorded_day.last_seq:,} frames" in r.stdout
    assert "counter" in r.stdout
