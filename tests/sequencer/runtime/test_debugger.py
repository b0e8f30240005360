"""The replay debugger: `tape replay DAY --app counter --break-at SEQ` and `--break-when EXPR`
driven through a pipe (pdb reads its commands from stdin when it is not a tty), over the
journal of a real short run (`recorded_day`).
"""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, child_env
from tests.sequencer.runtime.conftest import APP, RecordedDay

BANNER = "--- tape replay: stopped before seq"


def debug(day: object, commands: list[str], *args: str) -> tuple[int, str, list[str]]:
    """Run the replay with pdb commands on stdin: (exit code, stdout, what each command
    printed, in order)."""
    r = subprocess.run(
        [sys.executable, "-m", "deploy", "replay", str(day), "--app", APP, *args], cwd=REPO,
        env=child_env(), input="".join(c + "\n" for c in commands), capture_output=True,
        text=True, timeout=60, check=False)
    chunks = r.stdout.split("(Pdb) ")
    return r.returncode, r.stdout + r.stderr, [c.strip() for c in chunks[1:]]


def test_break_at_stops_before_that_frame_with_app_msg_frame_ctx(
        recorded_day: RecordedDay) -> None:
    seq = recorded_day.notes["second"]
    rc, out, said = debug(recorded_day.day, [
        "p frame.seq", "p type(msg).__name__", "p msg.text", "p app.state.notes",
        "p app.state.last_note", "p ctx.seq", "p frame.ts_ns >= ctx.now", "p frame.source_id",
        "c"], "--break-at", str(seq))
    assert rc == 0, out
    assert out.count(BANNER) == 1 and f"{BANNER} {seq} " in out, out
    # Before the frame is handled: the app has seen the first note only, ctx is at seq-1.
    assert said[:8] == [str(seq), "'OperatorNote'", "'second'", "1", "'first'", str(seq - 1),
                        "True", str(recorded_day.inject_source)], out
    assert f"replay of {recorded_day.last_seq:,} frames" in said[8], out  # 'c' ran it to the end


def test_break_when_stops_at_the_first_frame_where_the_expression_holds(
        recorded_day: RecordedDay) -> None:
    seq = recorded_day.notes["second"]
    expr = 'type(msg).__name__ == "OperatorNote" and msg.text == "second"'
    rc, out, said = debug(recorded_day.day, [
        "p frame.seq", "p msg.text", "p msg.author", "p app.state.notes", "c"],
        "--break-when", expr)
    assert rc == 0, out
    assert out.count(BANNER) == 1, out
    assert said[:4] == [str(seq), "'second'", "'ops'", "1"], out


def test_break_when_over_state_and_stepping_into_the_handler(
        recorded_day: RecordedDay) -> None:
    """An expression over the app's state; then a breakpoint in the app's own handler shows
    the frame being handled, down to its variables."""
    third = recorded_day.notes["third"]
    rc, out, said = debug(recorded_day.day, [
        "p frame.seq", "b app.on_note", "c", "p msg.text", "p self.state.notes",
        "p self.ctx.seq", "n", "n", "p st.notes", "cl 1", "c"],
        "--break-when", "app.state.notes == 2 and type(msg).__name__ == 'OperatorNote'")
    assert rc == 0, out
    assert said[0] == str(third), out
    assert said[1].startswith("Breakpoint 1 at") and "samples.py" in said[1], out
    assert "on_note()" in said[2], out
    assert said[3:6] == ["'third'", "2", str(third)], out
    assert said[8] == "3", out  # after `st.notes += 1`
    assert out.count(BANNER) == 1


def test_no_stop_when_nothing_matches(recorded_day: RecordedDay) -> None:
    rc, out, said = debug(recorded_day.day, ["c"], "--break-when", "msg.text == 'never sent'")
    assert rc == 0, out
    assert BANNER not in out and said == [], out


def test_break_needs_exactly_one_app(recorded_day: RecordedDay) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "deploy", "replay", str(recorded_day.day), "--app", APP,
         "--app", "noop", "--break-at", "3"], cwd=REPO, env=child_env(), input="c\n",
        capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2, r
    assert "exactly one --app" in " ".join(r.stderr.split())
