"""`tape app run` live, with real processes over real Aeron IPC: late start and catch-up,
snapshots and restart from them, kill -9 at random moments, and a determinism failure
during catch-up. Fixtures and helpers: `tests/conftest.py` and this folder's conftest.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from pathlib import Path

from sequencer import sources
from sequencer.frames import encode_frame
from sequencer.journal import JournalWriter, read_all
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Echo, SystemStart
from sequencer.runtime.context import app_seed
from sequencer.runtime.engine import AppEngine
from sequencer.runtime.samples import SECOND, CounterApp
from sequencer.runtime.snapshots import SnapshotStore
from tests.conftest import Stack
from tests.sequencer.runtime.conftest import (
    APP,
    APP_SOURCE,
    FEED_SOURCE,
    app_outputs,
    app_status,
    check_outputs,
    echoes_complete,
    feed_argv,
    inject_notes,
    journal_last_seq,
    replay_json,
    start_app,
    stop_day,
    tape_ok,
    wait_app_at,
    wait_for,
)


def first_ts(day: Path) -> int:
    return next(iter(read_all(day / "journal"))).ts_ns


def app_report(day: Path) -> dict[str, object]:
    rep = replay_json(day, "--app", APP, "--verify")
    assert rep["mismatches"] == 0, json.dumps(rep, indent=1)
    (app,) = rep["apps"]
    assert isinstance(app, dict)
    return app


# ---------------------------------------------------------------- (a) late start


def test_late_app_catches_up_then_follows_live_and_outputs_each_once(stack: Stack) -> None:
    day = stack.day
    stack.start_sequencer()
    feed = stack.spawn("feed", feed_argv(day, "--count", 40, "--rate", 200))
    inject_notes(stack, ["early-1", "early-2"])
    feed.expect("done", 60)
    t0 = first_ts(day)
    # Let stream time pass a heartbeat deadline before the app exists.
    stack.wait_status(lambda s: s["last_ts"] >= t0 + 3 * SECOND // 2, "1.5 s of stream time")
    joined_at = journal_last_seq(day)

    app = start_app(stack)
    st = wait_app_at(stack, app, joined_at)
    assert st["from_journal"] >= joined_at, st  # caught up from the journal

    inject_notes(stack, ["live-1", "live-2", "live-3"])
    feed2 = stack.spawn("feed", feed_argv(day, "--count", 40, "--rate", 200, "--start-seq", 41))
    feed2.expect("done", 60)
    wait_for(lambda: echoes_complete(day) and len(app_outputs(day).heartbeats) >= 2,
             "an echo of every note and 2 heartbeats", 30, app.describe)
    stop_seq = stop_day(stack)
    st = wait_app_at(stack, app, stop_seq, hashed=True)

    # Every frame handled once: as many frames as the last seq, journal first, then live.
    assert st["caught_up"] and st["frames"] == st["seq"] == stop_seq, st
    assert st["from_live"] > 0, st
    out = check_outputs(day, min_heartbeats=2)
    assert [t for _, t in out.notes] == ["early-1", "early-2", "live-1", "live-2", "live-3"]
    assert {f.source_id for f in read_all(day / "journal") if f.type_id == TYPE_ID[Echo]} == {
        APP_SOURCE}
    rep = app_report(day)
    assert rep["matched"] == len(out.frames), rep
    # It published each output once; those after SystemStop were refused (unrecorded).
    assert st["outputs"] == st["published"] == len(out.frames) + rep["unrecorded"], (st, rep)
    assert rep["state_hash"] == st["state_hash"]


# ---------------------------------------------------------------- (b) snapshots


def test_snapshot_then_restart_replays_only_the_tail(stack: Stack) -> None:
    day = stack.day
    stack.start_sequencer()
    app = start_app(stack)
    inject_notes(stack, ["one", "two"])
    wait_for(lambda: echoes_complete(day), "echoes of notes one and two", 30, app.describe)

    said = tape_ok(stack, "app", "snapshot", "--day", str(day), "--target", APP)
    m = re.search(r"sequenced at seq (\d+)", said)
    assert m, said
    snap_seq = int(m.group(1))
    snap_file = day / "snapshots" / APP / f"{snap_seq:020d}.snap"
    wait_for(snap_file.exists, f"{snap_file}", 30, app.describe)
    snap = SnapshotStore(day, APP).latest()
    assert snap is not None and snap.seq == snap_seq
    # The snapshot is the state after frame snap_seq, as a replay to there has it.
    restored = AppEngine(CounterApp())
    restored.restore(snap.data)
    at = replay_json(day, "--app", APP, "--state-at", str(snap_seq))
    assert (at["seq"], at["state_hash"]) == (snap_seq, restored.state_hash())
    assert at["state"]["notes"] == 2

    inject_notes(stack, ["three"])
    wait_for(lambda: echoes_complete(day), "the echo of note three", 30, app.describe)
    app.kill9()
    inject_notes(stack, ["while-down"])  # its echo is the restarted app's to publish

    since = time.time_ns()
    app = start_app(stack)
    wait_for(lambda: echoes_complete(day), "the echo of the note sent while the app was down",
             30, app.describe)
    stop_seq = stop_day(stack)
    st = wait_app_at(stack, app, stop_seq, since_ns=since, hashed=True)

    journal_len = sum(1 for _ in read_all(day / "journal"))
    assert journal_len == stop_seq
    assert st["frames"] == stop_seq - snap_seq, st  # the tail only
    assert st["from_journal"] < journal_len, st
    assert st["published"] >= 1, st
    log = (day / "logs" / f"{APP}.log").read_text()
    loaded = [json.loads(ln) for ln in log.splitlines() if '"snapshot_loaded"' in ln]
    assert [e["seq"] for e in loaded] == [snap_seq], loaded
    out = check_outputs(day)
    assert [t for _, t in out.notes] == ["one", "two", "three", "while-down"]
    rep = app_report(day)
    assert rep["frames"] == journal_len
    assert rep["state_hash"] == st["state_hash"]
    # The one asked for, and the app's last, at the day's SystemStop (where it ended).
    assert [p.name for p in SnapshotStore(day, APP).list()] == [
        snap_file.name, f"{stop_seq:020d}.snap"]


# ---------------------------------------------------------------- (c) kill -9


def test_kill_9_at_random_moments_loses_and_duplicates_nothing(stack: Stack) -> None:
    day = stack.day
    rng = random.Random(20_260_302)
    stack.start_sequencer()
    feed = stack.spawn("feed", feed_argv(day, "--source", FEED_SOURCE, "--rate", 40,
                                         "--note-every", 4, "--prefix", "crash"))
    feed.expect("ready", 60)
    kills = verified = 0
    t_end = time.monotonic() + 40
    while kills < 12 and (kills < 10 or time.monotonic() < t_end):
        since = time.time_ns()
        app = start_app(stack, "--snapshot-every", "100")
        if rng.random() < 0.5:
            # This time check it catches up before the kill.
            wait_app_at(stack, app, journal_last_seq(day), since_ns=since)
            verified += 1
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            time.sleep(rng.uniform(0.05, 2.5))
        assert app.alive(), f"the app died on its own: {app.describe()}"
        app.kill9()
        kills += 1
    assert kills >= 10 and verified >= 2, (kills, verified)

    since = time.time_ns()
    app = start_app(stack, "--snapshot-every", "100")
    wait_app_at(stack, app, journal_last_seq(day), since_ns=since)
    feed.send("stop")
    done = feed.expect("done", 60)
    stack.wait_status(lambda s: s["sources"].get(str(FEED_SOURCE)) == done["last"],
                      "every message of the feed sequenced")
    wait_for(lambda: echoes_complete(day), "an echo of every note", 60,
             lambda: f"{app.describe()}\nstatus {app_status(day)}")
    stop_seq = stop_day(stack)
    st = wait_app_at(stack, app, stop_seq, since_ns=since, hashed=True)

    out = check_outputs(day)
    assert len(out.notes) == done["notes"] >= 20, (len(out.notes), done)
    assert all(t.startswith("crash-") for _, t in out.notes)
    rep = app_report(day)
    assert rep["matched"] == len(out.frames), rep
    assert rep["state_hash"] == st["state_hash"], (rep, st)
    log = (day / "logs" / f"{APP}.log").read_text()
    assert '"snapshot_loaded"' in log, "no restart ever started from a snapshot"


# ---------------------------------------------------------------- (d) determinism failure


def write_tampered_day(day: Path) -> tuple[int, int]:
    """A journal where the app's recorded Echo has a roll CounterApp would not draw.

    Returns (the roll CounterApp draws, the roll recorded)."""
    seed = 77
    right = random.Random(app_seed(seed, APP)).randrange(1000)
    wrong = (right + 500) % 1000
    t0 = time.time_ns() - 60 * SECOND  # in the past: the sequencer continues this day
    start = SystemStart(session_date=dt.date(2026, 3, 2), seed=seed, config_digest="test")
    frames = [
        encode_frame(1, t0, sources.SEQUENCER, TYPE_ID[SystemStart], 1, encode(start)),
        encode_frame(2, t0 + 1000, sources.INJECT, TYPE_ID[OperatorNote], 1,
                     encode(OperatorNote(author="ops", text="hello"))),
        encode_frame(3, t0 + 2000, APP_SOURCE, TYPE_ID[Echo], 1,
                     encode(Echo(text="hello", n=1, roll=wrong)), cause_seq=2),
    ]
    w = JournalWriter(day / "journal")
    w.open()
    w.append(b"".join(frames), 1)
    w.close()
    return right, wrong


def assert_describes_mismatch(text: str, right: int, wrong: int) -> None:
    flat = " ".join(text.split())  # undo any line wrapping of the console
    assert "determinism failure in app 'counter'" in flat, text
    assert "stream seq 3" in flat, text
    rec = flat.split("recorded:")[1].split("produced:")[0]
    prod = flat.split("produced:")[1]
    assert f"'roll': {wrong}" in rec and "'text': 'hello'" in rec and "'Echo'" in rec, text
    assert f"'roll': {right}" in prod and "'text': 'hello'" in prod and "'Echo'" in prod, text


def test_determinism_failure_during_catch_up_is_reported(stack: Stack) -> None:
    day = stack.day
    right, wrong = write_tampered_day(day)

    r = stack.tape("replay", str(day), "--app", APP, "--verify")
    assert r.returncode == 1, f"replay exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert_describes_mismatch(r.stdout, right, wrong)
    rep = replay_json(day, "--app", APP, "--verify", expect_rc=1)
    assert rep["mismatches"] == 1
    (mm,) = rep["apps"][0]["first_mismatches"]
    assert (mm["seq"], mm["source_seq"]) == (3, 1)
    assert_describes_mismatch(mm["text"], right, wrong)

    # The live runner catching up over the same journal stops loudly, and sends nothing.
    stack.start_sequencer()
    r = stack.tape("app", "run", APP, "--day", str(day), "--max-seconds", "30")
    assert r.returncode == 1, f"app run exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert_describes_mismatch(r.stderr, right, wrong)
    assert [f.seq for f in read_all(day / "journal") if f.source_id == APP_SOURCE] == [3]
    # ... and tells everyone on the stream, from the runtime's source, not the app's.
    from sequencer.messages import decode
    from sequencer.messages.control import Alert

    deadline = time.monotonic() + 15
    alerts: list[Alert] = []
    while not alerts and time.monotonic() < deadline:
        alerts = [m for f in read_all(day / "journal")
                  if f.source_id == sources.runtime_alerts(APP_SOURCE)
                  and isinstance(m := decode(f.type_id, f.payload), Alert)]
        time.sleep(0.1)
    assert len(alerts) == 1, "no Alert on the stream for the determinism failure"
    assert alerts[0].severity == "critical" and alerts[0].source == f"runtime:{APP}"
    assert_describes_mismatch(alerts[0].text, right, wrong)
