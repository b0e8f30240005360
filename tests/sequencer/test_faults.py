"""Faults of a day's ownership and input, each reproduced and refused or survived, with
exact exit codes and messages (the reliability issue):

- one sequencer per day and per Aeron directory, with locks that die with their process;
- commands that target a day reach that day's own sequencer or say it is not running,
  and never create a day folder;
- a sequencer crash takes no process down: the media driver runs on its own (driver
  "auto"), an app waits for the sequencer and carries on when it returns;
- `tape inject` validates a whole file before it sends anything (size, JSON syntax),
  is safe to run again (a file's own source, numbered by row), reports how many rows
  went in when cut off, and shows the Alerts its rows caused (`--wait`);
- a payload that does not decode as its type is refused at the sequencer;
- a full disk pauses the day (input waits, nothing lost) and it resumes with an Alert.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.frames import INPUT, MAX_PAYLOAD
from sequencer.journal import read_all, verify
from sequencer.messages import TYPE_ID, decode, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Alert
from sequencer.ownership import day_streams, owner_of_aeron_dir, owner_of_day
from sequencer.transport import StreamPublisher, connect
from tests.conftest import Stack
from tests.sequencer.runtime.conftest import app_outputs, start_app, tape_ok, wait_for

NOTE = TYPE_ID[OperatorNote]
ALERT = TYPE_ID[Alert]


def one_line(text: str) -> str:
    """rich wraps long lines: the text as one line."""
    return " ".join(text.split())


def notes_file(path: Path, texts: list[str]) -> Path:
    path.write_text(json.dumps([{"type": "OperatorNote", "author": "ops", "text": t}
                                for t in texts]))
    return path


def source_seqs(day: Path, source: int) -> list[int]:
    return [f.source_seq for f in read_all(day / "journal") if f.source_id == source]


def pump_until_journaled(day: Path, pub: StreamPublisher, n: int, timeout: float = 30) -> None:
    """Let `pub` take its notices (and resend what they ask for) until the journal holds
    `n` of its messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(source_seqs(day, pub.source_id)) < n:
        pub.poll_notices()
        time.sleep(0.05)


# ---------------------------------------------------------------- 1. who owns a day


def test_a_second_sequencer_on_a_live_day_is_refused(stack: Stack) -> None:
    first = stack.start_sequencer()
    owner = owner_of_day(stack.day)
    assert owner is not None and owner.pid == first.pid
    second = stack.start_sequencer(wait=False)
    assert second.wait(30) == 1
    said = one_line(second.stderr_text())
    assert f"day {stack.day} is already run by the sequencer pid {first.pid}" in said, said
    assert first.alive()
    stack.stop_sequencer(first)
    assert owner_of_day(stack.day) is None  # the lock went with the process
    assert verify(stack.day / "journal").clean


def test_a_sequencer_of_another_day_on_the_same_aeron_directory_is_refused(
        stack: Stack, tmp_path: Path) -> None:
    first = stack.start_sequencer()
    other = tmp_path / "other-day"
    r = stack.tape("sequencer", "run", "--day", str(other), "--aeron-dir", stack.aeron_dir,
                   "--driver", "embedded", "--max-seconds", "5")
    assert r.returncode == 1, r.stderr
    said = one_line(r.stderr)
    assert (f"the Aeron directory {stack.aeron_dir} is used by the sequencer of day "
            f"{stack.day.resolve()} (sequencer pid {first.pid})") in said, said
    assert not (other / "journal").exists() or not list((other / "journal").iterdir())
    assert first.alive()
    owner = owner_of_aeron_dir(stack.aeron_dir)
    assert owner is not None and owner.day == str(stack.day.resolve())


def test_commands_for_a_day_reach_its_own_sequencer_or_say_it_is_not_running(
        stack: Stack, tmp_path: Path) -> None:
    """An old, closed day and a live one on the default Aeron directory of both: a stop
    or an inject for the old day reaches nothing and says so; the live day goes on."""
    old = stack.day
    seqr = stack.start_sequencer()
    stack.stop_sequencer(seqr)
    live = tmp_path / "live-day"
    live.mkdir()
    other = Stack(tmp_path, live, stack.aeron_dir)
    try:
        lp = other.start_sequencer()
        r = stack.tape("sequencer", "stop", "--day", str(old))
        assert r.returncode == 1, r.stderr
        said = one_line(r.stderr)
        assert (f"the sequencer of {old} is not running: its Aeron directory "
                f"{stack.aeron_dir} now serves day {live.resolve()}") in said, said
        notes = notes_file(tmp_path / "n.json", ["for the old day"])
        r = stack.tape("inject", str(notes), "--day", str(old))
        assert r.returncode == 1 and "is not running" in r.stderr, r.stderr
        assert lp.alive() and other.status()["state"] == "running"
        # The live day's own commands reach it, on streams of its own.
        tape_ok(other, "inject", str(notes), "--day", str(live))
        assert [f.payload for f in read_all(live / "journal") if f.type_id == NOTE] == [
            encode(OperatorNote("ops", "for the old day"))]
        assert not [f for f in read_all(old / "journal") if f.type_id == NOTE]
        ins = {TransportConfig.for_day(d).input_stream for d in (old, live)}
        assert ins == {day_streams(old)[0], day_streams(live)[0]} and len(ins) == 2
        other.stop_sequencer(lp)
    finally:
        other.close()


@pytest.mark.parametrize("argv", [
    ("inject", "NOTES", "--day", "MISSING"),
    ("sequencer", "stop", "--day", "MISSING"),
    ("sequencer", "status", "--day", "MISSING"),
    ("app", "run", "oms", "--day", "MISSING"),
    ("app", "snapshot", "--day", "MISSING"),
    ("gateway", "client", "--day", "MISSING"),
    ("gateway", "venue", "--day", "MISSING"),
], ids=lambda a: " ".join(a[:2]))
def test_a_missing_day_is_bad_usage_and_is_never_created(
        stack: Stack, tmp_path: Path, argv: tuple[str, ...]) -> None:
    missing = tmp_path / "typo"
    notes = notes_file(tmp_path / "n.json", ["x"])
    args = [str(missing) if a == "MISSING" else str(notes) if a == "NOTES" else a
            for a in argv]
    r = stack.tape(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"no day folder {missing}" in one_line(r.stderr), r.stderr
    assert "Traceback" not in r.stderr
    assert not missing.exists()


# ---------------------------------------------------------------- 2. a sequencer crash


def test_a_killed_sequencer_takes_no_app_down_and_the_day_goes_on(stack: Stack) -> None:
    """driver "auto": the media driver runs on its own; the app outlives the killed
    sequencer, says it waits when it has an output to send, and carries on."""
    seqr = stack.start_sequencer("auto")
    app = start_app(stack)
    tape_ok(stack, "inject", str(notes_file(stack.tmp / "a.json", ["one"])),
            "--day", str(stack.day))
    wait_for(lambda: len(app_outputs(stack.day).echoes) == 1, "the echo of one", 30,
             app.describe)
    seqr.kill9()
    time.sleep(1.5)
    assert app.alive(), app.describe()
    # The day is down: a command says so and exits 1.
    notes = notes_file(stack.tmp / "b.json", ["two"])
    r = stack.tape("inject", str(notes), "--day", str(stack.day))
    assert r.returncode == 1 and "is not running" in r.stderr, r.stderr
    seqr = stack.start_sequencer("auto")
    tape_ok(stack, "inject", str(notes), "--day", str(stack.day))
    wait_for(lambda: [e.text for _, e in app_outputs(stack.day).echoes] == ["one", "two"],
             "the echo of two, once", 30, app.describe)
    assert app.alive()
    # At the day's end the app finishes by itself.
    tape_ok(stack, "sequencer", "stop", "--day", str(stack.day))
    assert app.wait(30) == 0, app.describe()
    assert "the day's SystemStop: done" in app.stderr_text()
    stack.stop_sequencer(seqr)
    assert verify(stack.day / "journal").clean


def test_a_publisher_waits_for_a_sequencer_that_is_away_and_resends_what_it_lost(
        stack: Stack) -> None:
    """A long-running publisher (as apps and gateways are) publishing while the sequencer
    is dead waits, says so once, and gets everything in once the sequencer is back: the
    last records the dead one took but never journaled included. The driver forgets a
    dead client after two seconds here (10 s by default), so the publisher sees it gone."""
    stack.start_driver(env={"AERON_CLIENT_LIVENESS_TIMEOUT": "2000000000"})
    seqr = stack.start_sequencer("auto")
    cfg = TransportConfig.for_day(stack.day)
    aeron = connect(cfg)
    said: list[str] = []
    src = sources.adhoc(5)
    try:
        pub = StreamPublisher(aeron, cfg, src, wait=lambda: True, on_wait=said.append)
        for i in range(1, 201):
            pub.publish(OperatorNote("t", f"n{i}"))
        seqr.kill9()
        time.sleep(4.0)  # the driver has forgotten the dead sequencer's subscription
        seqr = stack.start_sequencer("auto", wait=False)
        for i in range(201, 251):  # the first waits for the new sequencer
            pub.publish(OperatorNote("t", f"n{i}"))
        stack.wait_up(seqr)
        pump_until_journaled(stack.day, pub, 250)
    finally:
        aeron.close()
    assert source_seqs(stack.day, src) == list(range(1, 251))
    assert [s.split(" (")[0] for s in said] == ["waiting for the sequencer",
                                                  "the sequencer is back"], said
    stack.stop_sequencer(seqr)


def test_records_a_killed_sequencer_never_journaled_get_in_after_a_quick_restart(
        stack: Stack) -> None:
    """Killed and restarted within the driver's client timeout, the sequencer leaves a
    publisher no sign of its absence but its `hello` notice: a new one, and the publisher
    resends its window."""
    seqr = stack.start_sequencer("auto")
    cfg = TransportConfig.for_day(stack.day)
    aeron = connect(cfg)
    src = sources.adhoc(6)
    try:
        pub = StreamPublisher(aeron, cfg, src, wait=lambda: True)
        for i in range(1, 301):
            pub.publish(OperatorNote("t", f"n{i}"))
            if i == 150:
                seqr.kill9()  # what follows is offered into the void
        seqr = stack.start_sequencer("auto")
        pump_until_journaled(stack.day, pub, 300)
    finally:
        aeron.close()
    assert source_seqs(stack.day, src) == list(range(1, 301))
    stack.stop_sequencer(seqr)


# ---------------------------------------------------------------- 3. inject


def test_a_file_is_checked_whole_before_anything_is_sent(stack: Stack) -> None:
    seqr = stack.start_sequencer()
    big = "x" * (MAX_PAYLOAD + 10)
    cases = {
        "big.json": json.dumps([{"type": "OperatorNote", "author": "a", "text": "first"},
                                {"type": "OperatorNote", "author": "a", "text": big},
                                {"type": "OperatorNote", "author": "a", "text": "last"}]),
        "junk.json": '[{"type": "OperatorNote", "author": "a", "text": "one"}] trailing',
        "comma.json": ('[{"type": "OperatorNote", "author": "a", "text": "one"}\n'
                       ' {"type": "OperatorNote", "author": "a", "text": "two"}]'),
    }
    size = len(encode(OperatorNote("a", big)))
    want = {"big.json": f"big.json:1: the message is {size:,} bytes, over a frame's limit",
            "junk.json": "line 1: text after the end of the JSON array",
            "comma.json": "line 2: expected ',' or ']' after a row"}
    for name, text in cases.items():
        path = stack.tmp / name
        path.write_text(text)
        r = stack.tape("inject", str(path), "--day", str(stack.day))
        assert r.returncode == 2, (name, r.stderr)
        said = one_line(r.stderr)
        assert want[name] in said and "nothing was sent" in said, said
    time.sleep(0.3)
    assert not [f for f in read_all(stack.day / "journal") if f.type_id == NOTE]
    stack.stop_sequencer(seqr)


def test_a_file_with_many_bad_rows_lists_the_first_hundred_then_a_count(
        stack: Stack) -> None:
    path = stack.tmp / "bad.jsonl"
    path.write_text("".join('{"type": "OperatorNote", "author": "a"}\n' for _ in range(150)))
    r = stack.tape("inject", str(path), "--day", str(stack.day))
    assert r.returncode == 2
    said = one_line(r.stderr)
    assert "150 problem(s); nothing was sent" in said and "... and 50 more problem(s)" in said
    assert said.count("field 'text'") == 100


def test_an_inject_is_safe_to_run_again(stack: Stack) -> None:
    seqr = stack.start_sequencer()
    notes = notes_file(stack.tmp / "n.json", [f"n{i}" for i in range(40)])
    first = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(stack.day), "--json"))
    assert (first["sent"], first["already"]) == (40, 0)
    again = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(stack.day), "--json"))
    assert (again["sent"], again["already"]) == (0, 40)
    said = tape_ok(stack, "inject", str(notes), "--day", str(stack.day))
    assert "all 40 row(s)" in one_line(said) and "nothing sent" in said
    src = sources.inject_file(notes.read_bytes())
    assert first["source_id"] == src
    assert source_seqs(stack.day, src) == list(range(1, 41))
    # Sent again on purpose: a new run of the file, with a source of its own; a plain
    # rerun then has nothing left to send of that run either.
    second = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(stack.day),
                                "--json", "--again"))
    assert (second["sent"], second["already"]) == (40, 0)
    assert second["source_id"] == sources.inject_file(notes.read_bytes(), 1) != src
    rerun = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(stack.day), "--json"))
    assert (rerun["sent"], rerun["already"], rerun["source_id"]) == (0, 40, second["source_id"])
    assert len([f for f in read_all(stack.day / "journal") if f.type_id == NOTE]) == 80
    r = stack.tape("inject", str(notes), "--day", str(stack.day), "--again", "--source", "2001")
    assert r.returncode == 2 and "--again and --source" in one_line(r.stderr), r.stderr
    stack.stop_sequencer(seqr)


def test_an_inject_cut_off_by_a_crash_says_how_many_went_in_and_a_rerun_sends_the_rest(
        stack: Stack) -> None:
    # A small input term (the sequencer takes at most 64 KiB of rows per turn), status
    # every 20 ms, and the sequencer frozen the moment it shows the first rows: the
    # crash then lands with most of the file still to come, however fast this machine
    # is (the inject waits for its rows to be confirmed, so it cannot finish while the
    # sequencer is frozen).
    config = stack.write_config(
        "[sequencer]\nstatus_interval_ms = 20\n\n[sequencer.transport]\n"
        'input_channel = "aeron:ipc?term-length=65536"\n')
    seqr = stack.start_sequencer("auto", config)
    n = 300_000
    notes = notes_file(stack.tmp / "many.json", [f"n{i}" for i in range(n)])
    src = sources.inject_file(notes.read_bytes())
    inj = stack.spawn("inject", stack.tape_argv("inject", str(notes), "--day",
                                                str(stack.day), "--timeout", "5"))
    stack.wait_status(lambda st: st["sources"].get(str(src), 0) > 1000,
                      "the first rows sequenced", 60)
    os.kill(seqr.popen.pid, signal.SIGSTOP)
    seqr.kill9()
    assert inj.wait(60) == 1, inj.describe()
    said = one_line(inj.stderr_text())
    assert "the sequencer stopped taking input" in said and f"of {n:,} message(s) are on " \
        "the stream; run the same command again to send the rest" in said, said
    seqr = stack.start_sequencer("auto")
    have = len(source_seqs(stack.day, src))
    assert 0 < have < n, have
    res = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(stack.day), "--json",
                             "--timeout", "120", timeout=240))
    assert res["already"] >= have - 1 and res["sent"] + res["already"] == n, res
    assert source_seqs(stack.day, src) == list(range(1, n + 1))  # each row once
    stack.stop_sequencer(seqr)


def test_inject_wait_shows_the_alerts_the_rows_caused(stack: Stack) -> None:
    r = stack.tape("refdata", "build", "--date", "2013-10-08", "--out",
                   str(stack.day / "refdata"), timeout=300)
    assert r.returncode == 0, r.stderr
    seqr = stack.start_sequencer("embedded", None, "--session-date", "2013-10-08")
    oms = stack.spawn("oms", stack.tape_argv("app", "run", "oms", "--day", str(stack.day)))
    status = stack.day / "apps" / "oms.status.json"
    # The OMS has its ref data and has caught up (a slow machine takes seconds to start
    # it): the rows' Alerts can come within the inject's window.
    wait_for(lambda: status.exists() and json.loads(status.read_text()).get("caught_up")
             and json.loads(status.read_text()).get("seq", 0) >= 1, "the OMS", 60,
             oms.describe)
    path = stack.tmp / "limits.json"
    path.write_text(json.dumps([
        {"type": "SetRiskLimit", "scope": "ALPHA", "limit": "max_ordr_qty", "value": "5"},
        {"type": "SetRiskLimit", "scope": "NOBODY", "limit": "max_order_qty", "value": "5"},
        {"type": "OperatorNote", "author": "ops", "text": "fine"},
    ]))
    r = stack.tape("inject", str(path), "--day", str(stack.day), "--wait", "5")
    assert r.returncode == 1, r.stdout + r.stderr
    said = one_line(r.stdout)
    assert "warning from oms: SetRiskLimit ALPHA:" in said and "max_ordr_qty" in said, said
    assert "warning from oms: SetRiskLimit: no client 'NOBODY'" in said, said
    ok = notes_file(stack.tmp / "ok.json", ["all good"])
    r = stack.tape("inject", str(ok), "--day", str(stack.day), "--wait", "1")
    assert r.returncode == 0 and "no alert caused" in r.stdout, r.stdout
    stack.stop_sequencer(seqr)


# ---------------------------------------------------------------- 4. what does not decode


def test_a_payload_that_does_not_decode_as_its_type_is_refused_at_the_sequencer(
        stack: Stack) -> None:
    seqr = stack.start_sequencer()
    app = start_app(stack)
    cfg = TransportConfig.for_day(stack.day)
    aeron = connect(cfg)
    src = sources.adhoc(9)
    try:
        pub = StreamPublisher(aeron, cfg, src)
        garbage = b"\x93\xa1x\xc1\xff"  # a msgpack array with a reserved byte in it
        pub.resend_raw(INPUT.pack(src, NOTE, 0, 1, 0, 0, 0, len(garbage), 0) + garbage)
        deadline = time.monotonic() + 10
        while not pub.poll_notices() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(n.code, n.source_seq) for n in pub.refused] == [("undecodable", 1)]
        assert "does not decode as OperatorNote" in pub.refused[0].text
    finally:
        aeron.close()
    time.sleep(0.3)
    assert source_seqs(stack.day, src) == []
    assert app.alive(), app.describe()
    stack.stop_sequencer(seqr)


# ---------------------------------------------------------------- 5. a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Path:
    """A 16 MiB tmpfs (these machines let root mount one), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_pauses_the_day_and_it_resumes_with_an_alert_losing_nothing(
        small_disk: Path, tmp_path: Path, aeron_dir: str) -> None:
    day = small_disk / "day"
    day.mkdir()
    stack = Stack(tmp_path, day, aeron_dir)
    try:
        seqr = stack.start_sequencer("auto")
        app = start_app(stack)
        filler = small_disk / "filler"
        free = os.statvfs(small_disk)
        room = free.f_bavail * free.f_frsize
        filler.write_bytes(b"\0" * (room - 64 * 1024))  # 64 KiB left
        n = 3_000  # about 300 KiB of notes: the disk fills part way
        notes = notes_file(tmp_path / "n.json", [f"note {i:05d}" for i in range(n)])
        src = sources.inject_file(notes.read_bytes())
        r = stack.tape("inject", str(notes), "--day", str(day), "--timeout", "5")
        assert r.returncode == 1 and "of 3,000 message(s) are on the stream" in one_line(
            r.stderr), r.stderr
        wait_for(lambda: "journal write failed (No space left on device): input paused at "
                 "seq" in seqr.stderr_text(), "the sequencer to say the disk is full", 30,
                 seqr.describe)
        assert seqr.alive() and app.alive()
        assert json.loads((day / "sequencer.status.json").read_text())["state"] in (
            "disk_full", "running")
        filler.unlink()  # space again
        wait_for(lambda: "has resumed; nothing was lost" in seqr.stderr_text(),
                 "the sequencer to resume", 30, seqr.describe)
        res = json.loads(tape_ok(stack, "inject", str(notes), "--day", str(day), "--json",
                                 "--timeout", "60"))
        assert res["sent"] + res["already"] == n
        assert source_seqs(day, src) == list(range(1, n + 1))
        alerts = [decode(ALERT, f.payload) for f in read_all(day / "journal")
                  if f.type_id == ALERT]
        assert [a.code for a in alerts if isinstance(a, Alert)].count("journal_full") == 1
        assert app.alive()
        stack.stop_sequencer(seqr)
        assert verify(day / "journal").clean
    finally:
        stack.close()


def test_the_day_streams_are_the_days_own() -> None:
    a, b = day_streams(Path("/days/2013-10-08")), day_streams(Path("/days/2013-10-09"))
    assert a != b and a == day_streams(Path("/days/2013-10-08"))
    assert all(0 < s < 2**31 for s in (*a, *b)) and a[1] == a[0] + 1 and a[2] == a[0] + 2
