"""Helpers and fixtures for the runtime's tests.

The multi-process tests use `tests/conftest.py` (`stack`, `Stack`: unique
Aeron directory under /dev/shm, day folder in tmp_path, every process stopped
at teardown). Here: starting the counter app, injecting notes, stopping the
day, reading the app's status, running `tape replay`, checking the app's
outputs on the stream, and `recorded_day`, one journal of a real short run
(sequencer, counter app, a Probe publisher, injected notes) shared by the
replay and debugger tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sequencer import sources
from sequencer.frames import Frame
from sequencer.journal import read_all
from sequencer.messages import TYPE_ID, decode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Echo, Heartbeat, Probe, SystemStop
from tests.conftest import REPO, Proc, Stack, child_env

APP = "counter"
APP_SOURCE = sources.COUNTER  # CounterApp.source_id
FEED_SOURCE = sources.adhoc(700)
NOTE = TYPE_ID[OperatorNote]
ECHO = TYPE_ID[Echo]
HEARTBEAT = TYPE_ID[Heartbeat]
STOP = TYPE_ID[SystemStop]
PROBE = TYPE_ID[Probe]


# ---------------------------------------------------------------- waiting


def wait_for(pred: Callable[[], Any], what: str, timeout: float = 30.0,
             context: Callable[[], str] | None = None) -> Any:
    """Poll `pred` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            extra = f"\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(0.05)


# ---------------------------------------------------------------- the app


def app_status(day: Path, name: str = APP) -> dict[str, Any] | None:
    path = day / "apps" / f"{name}.status.json"
    try:
        st: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return st


def start_app(stack: Stack, *extra: str) -> Proc:
    return stack.spawn("app", stack.tape_argv("app", "run", APP, "--day", str(stack.day), *extra))


def wait_app_at(stack: Stack, app: Proc, seq: int, timeout: float = 30.0,
                since_ns: int = 0, hashed: bool = False) -> dict[str, Any]:
    """Wait until the app reports having handled every frame up to `seq` (running, or
    done: an app ends by itself, exit 0, at the day's SystemStop); with `hashed`, also its
    state hash taken there (the runner refreshes it once the stream is quiet, and at its
    end)."""

    def ready() -> dict[str, Any] | None:
        if not app.alive():
            st = app_status(stack.day)
            if (app.popen.returncode == 0 and st is not None and st["stopped_by_stream"]
                    and st["seq"] >= seq):
                return st
            raise AssertionError(f"the app exited while catching up to seq {seq}: "
                                 f"{app.describe()}")
        st = app_status(stack.day)
        if st is None or st["updated_wall_ns"] <= since_ns:
            return None
        return st if (st["caught_up"] and st["seq"] >= seq
                      and (not hashed or st["state_hash_seq"] == st["seq"])) else None

    st: dict[str, Any] = wait_for(
        ready, f"the app to catch up to seq {seq}", timeout,
        lambda: f"app status {app_status(stack.day)}\n{app.describe()}")
    return st


def journal_last_seq(day: Path) -> int:
    last = 0
    for f in read_all(day / "journal"):
        last = f.seq
    return last


# ---------------------------------------------------------------- tape commands


def tape_ok(stack: Stack, *args: str, timeout: float = 60.0) -> str:
    r = stack.tape(*args, timeout=timeout)
    assert r.returncode == 0, (
        f"tape {' '.join(args)} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r.stdout


def inject_notes(stack: Stack, texts: list[str], name: str = "notes") -> dict[str, Any]:
    """`tape inject` one OperatorNote per text (waits until they are sequenced)."""
    path = stack.tmp / f"{name}-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps([{"type": "OperatorNote", "author": "ops", "text": t}
                                for t in texts]))
    res: dict[str, Any] = json.loads(
        tape_ok(stack, "inject", str(path), "--day", str(stack.day), "--json"))
    assert res["sent"] == len(texts), res
    return res


def stop_day(stack: Stack) -> int:
    """Sequence SystemStop; return its seq (the journal's last)."""
    tape_ok(stack, "sequencer", "stop", "--day", str(stack.day), "--reason", "test over")
    frames = list(read_all(stack.day / "journal"))
    assert frames[-1].type_id == STOP, f"the journal does not end with SystemStop: {frames[-1]}"
    return frames[-1].seq


def replay_json(day: Path, *args: str, env: dict[str, str] | None = None,
                expect_rc: int = 0) -> dict[str, Any]:
    """`tape replay DAY ARGS --json` in a fresh process; its JSON output."""
    r = subprocess.run(
        [sys.executable, "-m", "deploy", "replay", str(day), *args, "--json"], cwd=REPO,
        env=env or child_env(), capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == expect_rc, (
        f"tape replay {' '.join(args)} exited {r.returncode}, expected {expect_rc}\n"
        f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    out: dict[str, Any] = json.loads(r.stdout)
    return out


def feed_argv(day: Path, *args: object) -> list[str]:
    return [sys.executable, "-m", "tests.sequencer.runtime.workers", "feed", "--day", str(day),
            *(str(a) for a in args)]


# ---------------------------------------------------------------- the app's outputs


@dataclass
class Outputs:
    """The counter app's outputs as the stream holds them, checked."""

    frames: list[Frame]
    notes: list[tuple[int, str]]  # (seq, text) of every OperatorNote, in stream order
    echoes: list[tuple[Frame, Echo]] = field(default_factory=list)
    heartbeats: list[tuple[Frame, Heartbeat]] = field(default_factory=list)


def app_outputs(day: Path) -> Outputs:
    frames = list(read_all(day / "journal"))
    mine = [f for f in frames if f.source_id == APP_SOURCE]
    notes = []
    for f in frames:
        if f.type_id == NOTE:
            msg = decode(f.type_id, f.payload)
            assert isinstance(msg, OperatorNote)
            notes.append((f.seq, msg.text))
    out = Outputs(frames=mine, notes=notes)
    for f in mine:
        msg = decode(f.type_id, f.payload)
        if isinstance(msg, Echo):
            out.echoes.append((f, msg))
        elif isinstance(msg, Heartbeat):
            out.heartbeats.append((f, msg))
        else:
            raise AssertionError(f"unexpected output from the app at seq {f.seq}: {msg}")
    return out


def echoes_complete(day: Path) -> bool:
    """Every OperatorNote in the journal has (at least) one Echo after it."""
    o = app_outputs(day)
    return len(o.echoes) >= len(o.notes)


def check_outputs(day: Path, min_heartbeats: int = 1) -> Outputs:
    """The app's outputs are on the stream exactly once each, nothing lost or duplicated:
    source seqs 1..n, one Echo per OperatorNote (right text, number and cause), heartbeats
    numbered 1..H."""
    o = app_outputs(day)
    sseqs = [f.source_seq for f in o.frames]
    assert sseqs == list(range(1, len(sseqs) + 1)), (
        f"the app's source seqs on the stream are not 1..{len(sseqs)} exactly once each: "
        f"{sseqs}")
    by_cause: dict[int, list[Echo]] = {}
    for f, e in o.echoes:
        by_cause.setdefault(f.cause_seq, []).append(e)
    for i, (seq, text) in enumerate(o.notes, start=1):
        got = by_cause.pop(seq, [])
        assert len(got) == 1, f"OperatorNote {text!r} at seq {seq} has {len(got)} echoes: {got}"
        assert (got[0].text, got[0].n) == (text, i), (
            f"the echo of note {i} {text!r} (seq {seq}) is {got[0]}")
    assert not by_cause, f"echoes caused by frames that are not notes: {by_cause}"
    ns = [h.n for _, h in o.heartbeats]
    assert ns == list(range(1, len(ns) + 1)), f"heartbeats not numbered 1..n once each: {ns}"
    assert all(h.app == APP for _, h in o.heartbeats)
    assert len(ns) >= min_heartbeats, f"only {len(ns)} heartbeats, expected {min_heartbeats}+"
    return o


# ---------------------------------------------------------------- a recorded day


@dataclass
class RecordedDay:
    day: Path
    notes: dict[str, int]  # text -> seq
    last_seq: int
    probes: int
    live_status: dict[str, Any]  # the live app's final status (after SystemStop)
    outputs: int  # frames the app published on the stream
    inject_source: int  # the source the day's inject file went in as (the file's own)


@pytest.fixture(scope="session")
def recorded_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordedDay]:
    """A real short day: sequencer, counter app, a Probe publisher, notes, SystemStop."""
    tmp = tmp_path_factory.mktemp("recorded")
    day = tmp / "day"
    day.mkdir()
    aeron = f"/dev/shm/tape-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    stack = Stack(tmp, day, aeron)
    try:
        seqr = stack.start_sequencer()
        app = start_app(stack)
        feed = stack.spawn("feed", feed_argv(day, "--count", 60, "--rate", 200))
        feed.expect("ready")
        path = tmp / "mixed.json"
        path.write_text(json.dumps([
            {"type": "OperatorNote", "author": "ops", "text": "first"},
            {"type": "Probe", "n": 1000},
            {"type": "OperatorNote", "author": "ops", "text": "second"},
            {"type": "Probe", "n": 1001},
            {"type": "OperatorNote", "author": "ops", "text": "third"},
        ]))
        tape_ok(stack, "inject", str(path), "--day", str(day))
        feed.expect("done")

        def ready() -> bool:
            o = app_outputs(day)
            return len(o.echoes) == 3 and len(o.heartbeats) >= 2

        wait_for(ready, "3 echoes and 2 heartbeats on the stream", 30,
                 app.describe)
        stop_seq = stop_day(stack)
        st = wait_app_at(stack, app, stop_seq, hashed=True)
        assert app.terminate() == 0, app.describe()
        stack.stop_sequencer(seqr)
    finally:
        stack.close()
        shutil.rmtree(aeron, ignore_errors=True)
    o = check_outputs(day, min_heartbeats=2)
    frames = list(read_all(day / "journal"))
    probes = sum(1 for f in frames if f.type_id == PROBE)
    yield RecordedDay(day=day, notes={t: s for s, t in o.notes}, last_seq=frames[-1].seq,
                      probes=probes, live_status=st, outputs=len(o.frames),
                      inject_source=sources.inject_file(path.read_bytes()))

