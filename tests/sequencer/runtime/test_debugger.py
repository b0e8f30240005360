"""The replay debugger as ops use it, driven through a pseudo-terminal as a person at a
terminal drives it (`tape replay DAY --app APP --break-...`), over the journal of a real
short run (`recorded_day`: the counter app) and an OMS day built on the stream kit.

Every first stop is inside the app's own file, on the first line of the handler the
frame reaches (or on the line that published the output a break is about); `c` goes on
to the next break, `nf` to the next frame the app handles, `q` ends the replay; a bad
expression or type is exit 2 in one line; a late break starts from the app's newest
snapshot before it and replays only the tail.
"""

from __future__ import annotations

import inspect
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sequencer.journal import JournalReader, read_all
from sequencer.messages import TYPE_ID
from sequencer.messages.orders import NewOrder
from sequencer.runtime.samples import CounterApp
from tests.conftest import REPO, child_env
from tests.sequencer.runtime.conftest import APP, RecordedDay

PROMPT = b"(Pdb) "
OVERRIDE = "TAPE_APP_OVERRIDE"


def session(day: Path, commands: list[str], *args: str, app: str = APP,
            env: dict[str, str] | None = None, timeout: float = 90.0) -> tuple[int, str]:
    """`tape replay DAY --app APP ARGS` on a pseudo-terminal: each command typed at the
    next prompt. (exit code, everything the terminal showed)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "deploy", "replay", str(day), "--app", app, *args],
        stdin=slave, stdout=slave, stderr=slave, cwd=REPO, close_fds=True,
        env=child_env({"TERM": "dumb", "COLUMNS": "200", **(env or {})}))
    os.close(slave)
    buf = b""
    sent = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if p.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other end closed
                break
            if not chunk:
                break
            buf += chunk
            if buf.count(PROMPT) > sent and sent < len(commands):
                os.write(master, (commands[sent] + "\n").encode())
                sent += 1
        rc = p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, buf.decode(errors="replace").replace("\r\n", "\n")


def said(text: str) -> list[str]:
    """What each command printed, in order (the text between prompts, minus the echo)."""
    return [c.split("\n", 1)[1].strip() if "\n" in c else ""
            for c in text.split(PROMPT.decode())[1:]]


def first_line(fn: object) -> int:
    """The line number of a function's first statement (where a landing stops)."""
    lines, start = inspect.getsourcelines(fn)  # type: ignore[arg-type]
    body = next(i for i, line in enumerate(lines)
                if line.strip() and not line.strip().startswith(("@", "def ", '"""', "#"))
                and i > next(j for j, ln in enumerate(lines) if ln.lstrip().startswith("def ")))
    return start + body


def stop_at(text: str) -> list[str]:
    """The `> file(line)function()` lines pdb printed at each stop."""
    return re.findall(r"^> (\S+\(\d+\)\w+\(\))", text, flags=re.M)


SAMPLES = "sequencer/runtime/samples.py"


def test_break_at_lands_on_the_first_line_of_the_handler(recorded_day: RecordedDay) -> None:
    seq = recorded_day.notes["second"]
    rc, out = session(recorded_day.day, [
        "p frame.seq", "p type(msg).__name__", "p msg.text", "p app.state.notes",
        "p ctx.seq", "n", "n", "p st.notes", "c"], "--break-at", str(seq))
    assert rc == 0, out
    line = first_line(CounterApp.on_note)
    stops = stop_at(out)
    assert stops[0].endswith(f"{SAMPLES}({line})on_note()"), out
    assert "stopped in its handler" in out and "nf goes on to the next frame" in out
    # In the handler, before its first line ran: the frame is the one being handled.
    assert said(out)[:5] == [str(seq), "'OperatorNote'", "'second'", "1", str(seq)], out
    assert said(out)[7] == "2", out  # two lines on, `st.notes += 1` has run
    assert all(SAMPLES in s for s in stops), stops  # `n` stayed in the app's code
    assert f"replay of {recorded_day.last_seq:,} frames" in out  # `c` ran it to the end
    assert out.count("--- tape replay:") == 1


def test_break_when_lands_in_the_handler_and_c_goes_on_to_the_next_match(
        recorded_day: RecordedDay) -> None:
    rc, out = session(recorded_day.day, ["p msg.text", "c", "p msg.text", "c", "p msg.text",
                                         "c"],
                      "--break-when", 'type(msg).__name__ == "OperatorNote"')
    assert rc == 0, out
    assert [s for s in said(out) if s.startswith("'")] == ["'first'", "'second'", "'third'"]
    line = first_line(CounterApp.on_note)
    assert stop_at(out) == [f"{stop_at(out)[0].split('(')[0]}({line})on_note()"] * 3, out


def test_nf_goes_on_to_the_next_frame_the_app_handles(recorded_day: RecordedDay) -> None:
    seq = recorded_day.notes["first"]
    rc, out = session(recorded_day.day, ["p frame.seq", "nf", "p frame.seq", "c"],
                      "--break-at", str(seq))
    assert rc == 0, out
    first, then = int(said(out)[0]), int(said(out)[2])
    assert first == seq and then > seq, out
    # The next stop is again in the app's code: a handler or its timer callback.
    assert all(SAMPLES in s for s in stop_at(out)) and len(stop_at(out)) == 2, out


def test_break_on_output_stops_on_the_line_that_published_it(
        recorded_day: RecordedDay) -> None:
    rc, out = session(recorded_day.day, ["p output.text", "p output.n", "p msg.text", "where",
                                         "c"], "--break-on-output", 'Echo:text == "second"')
    assert rc == 0, out
    src, start = inspect.getsourcelines(CounterApp.on_note)
    publish = start + next(i for i, ln in enumerate(src) if "self.ctx.publish(Echo" in ln)
    assert stop_at(out)[0].endswith(f"{SAMPLES}({publish})on_note()"), out
    assert said(out)[:3] == ["'second'", "2", "'second'"], out
    assert "the app published Echo" in out
    assert out.count("--- tape replay:") == 1  # the expression held for one Echo only


def test_break_on_mismatch_shows_the_new_build_beside_the_recording(
        recorded_day: RecordedDay) -> None:
    changed = "tests.sequencer.runtime.changed_apps"
    rc, out = session(recorded_day.day, ["p output.text", "p recorded.text", "c"],
                      "--verify", "--break-on-mismatch",
                      env={OVERRIDE: f"counter={changed}:ChangedCounter"})
    assert rc == 1, out  # the replay then reports the mismatch: a failed verification
    assert stop_at(out)[0].split("(")[0].endswith("tests/sequencer/runtime/changed_apps.py")
    assert "on_note()" in stop_at(out)[0]
    assert said(out)[:2] == ["'SECOND'", "'second'"], out
    assert "differs from the recorded one" in out


def test_break_on_alert(recorded_day: RecordedDay) -> None:
    changed = "tests.sequencer.runtime.changed_apps"
    rc, out = session(recorded_day.day, ["p output.code", "p msg.text", "c"],
                      "--break-on-alert", env={OVERRIDE: f"counter={changed}:AlertingCounter"})
    assert rc == 0, out
    assert "changed_apps.py" in stop_at(out)[0] and "on_note()" in stop_at(out)[0], out
    assert said(out)[:2] == ["'third'", "'third'"], out
    assert "the app raised an Alert" in out


def test_q_ends_the_replay_there(recorded_day: RecordedDay) -> None:
    rc, out = session(recorded_day.day, ["q"], "--break-at",
                      str(recorded_day.notes["first"]))
    assert rc == 0, out
    assert "replay ended from the debugger" in out and "replay of" not in out


def test_bad_breaks_are_exit_2_in_one_line(recorded_day: RecordedDay) -> None:
    for args, words in ((["--break-when", "msg.text =="], "--break-when: not a Python"),
                        (["--break-on-output", "Echoo"], "no message type 'Echoo'"),
                        (["--break-on-output", "Echo:text =="], "--break-on-output: not a"),
                        (["--break-on-mismatch"], "add --verify")):
        r = subprocess.run([sys.executable, "-m", "deploy", "replay", str(recorded_day.day),
                            "--app", APP, *args], cwd=REPO, env=child_env(), text=True,
                           capture_output=True, timeout=60, check=False, input="c\n")
        assert r.returncode == 2, (args, r)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and words in lines[0], (args, r.stderr)


def test_a_late_break_starts_from_the_newest_snapshot(recorded_day: RecordedDay,
                                                       tmp_path: Path) -> None:
    from sequencer.runtime.replay import make_engines
    from sequencer.runtime.snapshots import SnapshotStore

    day = tmp_path / "day"
    shutil.copytree(recorded_day.day, day)
    shutil.rmtree(day / "snapshots", ignore_errors=True)
    mid = recorded_day.notes["second"] - 1
    eng, _ = make_engines([APP], False, day)[0]
    with JournalReader(day, 1) as reader:
        eng.feed(reader.read_raw(mid))
    SnapshotStore(day, APP).write(mid, eng.snapshot())
    seq = recorded_day.notes["third"]
    rc, out = session(day, ["p msg.text", "p app.state.notes", "c"], "--break-at", str(seq))
    assert rc == 0, out
    assert f"from counter's snapshot at seq {mid:,}" in out, out
    assert said(out)[:2] == ["'third'", "2"], out  # the state the snapshot carried on
    # Only the tail was replayed.
    assert f"replay of {recorded_day.last_seq - mid:,} frames" in out, out
    rc, out = session(day, ["c"], "--break-at", str(seq), "--from-start")
    assert f"replay of {recorded_day.last_seq:,} frames" in out and "snapshot" not in out


def test_it_lands_in_the_oms_handler(tmp_path: Path) -> None:
    from oms.app import Oms
    from tests.post_trade.daykit import planted_day

    planted_day(tmp_path / "day")
    new = TYPE_ID[NewOrder]
    seq = next(f.seq for f in read_all(tmp_path / "day" / "journal") if f.type_id == new)
    rc, out = session(tmp_path / "day", ["p m.cl_ord_id == msg.cl_ord_id", "c"],
                      "--break-at", str(seq), app="oms")
    assert rc == 0, out
    line = first_line(Oms.on_new_order)
    assert stop_at(out)[0].endswith(f"oms/app.py({line})on_new_order()"), out
    assert said(out)[0] == "True", out
