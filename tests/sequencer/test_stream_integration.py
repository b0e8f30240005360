"""The sequenced stream end to end: real sequencer, publisher and subscriber processes
over real Aeron IPC, checked against the journal.

Workers are in `tests.sequencer.workers`; fixtures in `tests/conftest.py`.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from sequencer import sources
from sequencer.journal import JournalReader, read_all, verify
from sequencer.messages import TYPE_ID, decode
from sequencer.messages.control import Alert, Probe, SystemStart, SystemStop
from tests.conftest import Stack

STOP = TYPE_ID[SystemStop]
START = TYPE_ID[SystemStart]
ALERT = TYPE_ID[Alert]
INJECT_SOURCE = sources.INJECT


# ---------------------------------------------------------------- journal helpers


def journal_digest(day: Path, to_seq: int | None = None) -> tuple[int, int, str]:
    """(frames, last seq, sha256 of every frame's bytes in order) of the journal."""
    h = hashlib.sha256()
    n = last = 0
    with JournalReader(day / "journal", 1) as r:
        while True:
            batch = r.read_raw()
            if not batch:
                break
            for raw in batch:
                seq = int.from_bytes(raw[8:16], "little")
                if to_seq is not None and seq > to_seq:
                    return n, last, h.hexdigest()
                h.update(raw)
                n += 1
                last = seq
    return n, last, h.hexdigest()


def source_seqs(day: Path, source: int) -> list[int]:
    return [f.source_seq for f in read_all(day / "journal") if f.source_id == source]


def assert_clean(day: Path) -> Any:
    rep = verify(day / "journal")
    assert rep.clean, f"journal damaged: {rep.damage}"
    return rep


def assert_matches_journal(result: dict[str, Any], day: Path, who: str) -> None:
    """A subscriber's result equals the journal: same frames, same bytes, same order."""
    assert result["stopped"], f"{who} did not reach SystemStop: {result}"
    assert result["errors"] == [], f"{who} saw a bad stream: {result['errors']}"
    n, last, digest = journal_digest(day)
    assert (result["count"], result["last_seq"]) == (n, last), (
        f"{who} saw {result['count']} frames up to seq {result['last_seq']}, "
        f"the journal holds {n} up to seq {last}"
    )
    assert result["digest"] == digest, f"{who}'s frame bytes differ from the journal's"


def stop_day(stack: Stack) -> None:
    r = stack.tape("sequencer", "stop", "--day", str(stack.day), "--reason", "test over")
    assert r.returncode == 0, f"tape sequencer stop exited {r.returncode}: {r.stderr}"


# ---------------------------------------------------------------- 1. many messages


@pytest.mark.slow
def test_two_publishers_two_subscribers_hold_the_journal_sequence(stack: Stack) -> None:
    per_publisher = 50_000
    publishers = (sources.adhoc(11), sources.adhoc(12))
    seqr = stack.start_sequencer()
    subs = [stack.worker("subscribe", "--timeout", 150) for _ in range(2)]
    for s in subs:
        s.expect("ready")
    pubs = [
        stack.worker("publish", "--source", src, "--count", per_publisher, "--wait-go")
        for src in publishers
    ]
    for p in pubs:
        p.expect("ready")
    for p in pubs:
        p.send("go")
    for p in pubs:
        done = p.expect("done", timeout=150)
        assert done["sent"] == per_publisher and done["refused"] == [], done
    # Offered is not sequenced: wait until the sequencer has every message
    # before stopping the day (input after SystemStop is refused).
    stack.wait_status(
        lambda st: all(st["sources"].get(str(s)) == per_publisher for s in publishers),
        "every published message to be sequenced", timeout=60,
    )
    stop_day(stack)
    results = [s.expect("result", timeout=60) for s in subs]
    final = stack.stop_sequencer(seqr)

    assert_clean(stack.day)
    for i, res in enumerate(results):
        assert_matches_journal(res, stack.day, f"subscriber {i + 1}")
        for src in publishers:
            count, top, ahead, back = res["sources"][str(src)]
            assert (count, top, ahead, back) == (per_publisher, per_publisher, 0, 0), (
                f"subscriber {i + 1}, source {src}: {count} frames, last {top}, "
                f"{ahead} skips, {back} repeats"
            )
    assert results[0]["digest"] == results[1]["digest"]

    per_source: dict[int, list[int]] = {s: [] for s in publishers}
    kinds: dict[int, int] = {}
    for f in read_all(stack.day / "journal"):
        kinds[f.type_id] = kinds.get(f.type_id, 0) + 1
        if f.source_id in per_source:
            msg = decode(f.type_id, f.payload)
            assert isinstance(msg, Probe) and msg.n == f.source_seq, (f.seq, msg)
            per_source[f.source_id].append(f.source_seq)
    for src, seqs in per_source.items():
        assert seqs == list(range(1, per_publisher + 1)), (
            f"source {src}: {len(seqs)} messages, not 1..{per_publisher} in order"
        )
    assert kinds[START] == 1 and kinds[STOP] == 1
    assert final["counters"]["duplicates"] == 0 and final["counters"]["gaps"] == 0


# ---------------------------------------------------------------- 2. dedup


def test_resent_records_are_dropped_and_counted(stack: Stack) -> None:
    count, times, source = 300, 2, sources.adhoc(21)
    seqr = stack.start_sequencer()
    w = stack.worker("dedup", "--source", source, "--count", count, "--times", times)
    w.expect("ready")
    res = w.expect("result", timeout=60)
    assert res["seen_source_seqs"] == list(range(1, count + 2)), (
        "the stream should hold each of the source's messages once, in order"
    )
    final = stack.stop_sequencer(seqr)
    assert final["counters"]["duplicates"] == count * times, final["counters"]
    assert final["counters"]["gaps"] == 0
    assert source_seqs(stack.day, source) == list(range(1, count + 2))
    assert_clean(stack.day)


# ---------------------------------------------------------------- 3. gap


def test_skipped_source_numbers_raise_an_alert_before_the_message(stack: Stack) -> None:
    source, before, skip = sources.adhoc(31), 5, 10
    seqr = stack.start_sequencer()
    w = stack.worker("gap", "--source", source, "--count", before, "--skip", skip)
    w.expect("ready")
    res = w.expect("result", timeout=60)
    missing = f"{before + 1}..{before + skip}"
    # On the stream: the frame right before the message is the Alert, from the sequencer.
    assert res["after"] == before + skip + 1
    assert res["prev_type"] == ALERT and res["prev_source"] == sources.SEQUENCER, res
    assert res["prev_seq"] == res["msg_seq"] - 1
    assert str(source) in res["alert"]["text"] and missing in res["alert"]["text"], res["alert"]
    assert res["alert_seqs"] == [res["prev_seq"]], "one gap, one Alert"
    final = stack.stop_sequencer(seqr)
    assert final["counters"]["gaps"] == 1, final["counters"]
    # In the journal: the same.
    frames = list(read_all(stack.day / "journal"))
    alerts = [f for f in frames if f.type_id == ALERT]
    assert len(alerts) == 1
    (al,) = alerts
    nxt = frames[al.seq]  # the frame after the alert (seq is 1-based)
    assert (nxt.source_id, nxt.source_seq) == (source, before + skip + 1)
    text = decode(ALERT, al.payload)
    assert isinstance(text, Alert) and f"source {source} skipped numbers {missing}" in text.text
    assert source_seqs(stack.day, source) == [*range(1, before + 1), before + skip + 1]


# ---------------------------------------------------------------- 4. after SystemStop


def _assert_refused(stack: Stack, source: int, start_seq: int) -> None:
    w = stack.worker("refused", "--source", source, "--start-seq", start_seq, "--timeout", 15)
    w.expect("ready")
    res = w.expect("result", timeout=30)
    codes = [n["code"] for n in res["notices"]]
    assert codes == ["stopped"], f"expected one 'stopped' notice, got {res['notices']}"
    assert res["notices"][0]["source_seq"] == res["source_seq"]
    assert "stopped" in res["stream_stopped"], "check() should raise StreamStopped"


def _assert_inject_refused(stack: Stack, good: Path) -> None:
    r = stack.tape("inject", str(good), "--day", str(stack.day), "--timeout", "10")
    assert r.returncode == 1, f"inject after SystemStop exited {r.returncode}: {r.stderr}"
    assert "stopped" in r.stderr and "SystemStop" in r.stderr, r.stderr


def _assert_ends_with_stop(day: Path, last_seq: int) -> None:
    frames = list(read_all(day / "journal"))
    assert frames[-1].seq == last_seq and frames[-1].type_id == STOP, (
        f"frames after SystemStop at seq {last_seq}: "
        f"{[(f.seq, f.source_id, f.type_id) for f in frames[-5:]]}"
    )
    assert sum(f.type_id == STOP for f in frames) == 1


def test_no_input_is_accepted_after_system_stop(stack: Stack) -> None:
    good = stack.tmp / "notes.jsonl"
    good.write_text(json.dumps({"type": "OperatorNote", "author": "ops", "text": "hello"}) + "\n")
    seqr = stack.start_sequencer()
    r = stack.tape("inject", str(good), "--day", str(stack.day))
    assert r.returncode == 0, f"inject before the stop should work: {r.stderr}"
    stop_day(stack)
    stop_seq = next(f for f in read_all(stack.day / "journal") if f.type_id == STOP).seq

    _assert_refused(stack, source=sources.adhoc(41), start_seq=1)
    _assert_inject_refused(stack, good)
    # A beat for anything that would sneak in (a clock tick is due every 100 ms).
    time.sleep(0.5)
    st = stack.stop_sequencer(seqr)
    # The worker's message was refused by the sequencer; `tape inject` saw the stopped
    # day up front and sent nothing.
    assert st["last_seq"] == stop_seq and st["counters"]["refused"] >= 1, st
    _assert_ends_with_stop(stack.day, stop_seq)

    # A sequencer restarted on the stopped day still refuses input.
    seqr = stack.start_sequencer()
    assert stack.status()["state"] == "stopped"
    _assert_refused(stack, source=sources.adhoc(42), start_seq=1)
    _assert_inject_refused(stack, good)
    time.sleep(0.5)
    st = stack.stop_sequencer(seqr)
    # The worker's message was refused by the sequencer; `tape inject` saw the stopped
    # day up front and sent nothing.
    assert st["last_seq"] == stop_seq and st["counters"]["refused"] >= 1, st
    _assert_ends_with_stop(stack.day, stop_seq)
    assert_clean(stack.day)


# ---------------------------------------------------------------- 5. late joiner


@pytest.mark.slow
def test_late_joiner_catches_up_from_the_journal_then_follows_live(stack: Stack) -> None:
    source = sources.adhoc(51)
    seqr = stack.start_sequencer()
    pub = stack.worker("publish", "--source", source, "--rate", 20_000, "--until-stop")
    pub.expect("ready")
    stack.wait_status(lambda st: st["last_seq"] >= 20_000, "20,000 frames sequenced", 60)
    late = stack.worker("subscribe", "--timeout", 120)
    late.expect("ready")
    live = late.expect("live", timeout=60)
    # The publisher is still going: the hand-over happened on a moving stream.
    assert pub.alive(), pub.describe()
    assert live["from_journal"] >= 20_000, live
    time.sleep(0.3)  # some more live traffic after the hand-over
    pub.send("stop")
    done = pub.expect("done", timeout=30)
    stack.wait_status(lambda st: st["sources"].get(str(source)) == done["last"],
                      "the publisher's last message to be sequenced")
    stop_day(stack)
    res = late.expect("result", timeout=60)
    stack.stop_sequencer(seqr)

    assert_clean(stack.day)
    assert_matches_journal(res, stack.day, "the late joiner")
    assert res["from_journal"] >= 20_000 and res["from_live"] > 0, res
    assert res["live_at"] > 20_000, res
    count, top, ahead, back = res["sources"][str(source)]
    assert (count, top, ahead, back) == (done["sent"], done["last"], 0, 0), res["sources"]
    assert source_seqs(stack.day, source) == list(range(1, done["last"] + 1))


# ---------------------------------------------------------------- 6. restart


def test_restart_continues_the_numbering(stack: Stack) -> None:
    source, n = sources.adhoc(61), 2_000
    driver = stack.start_driver()
    assert driver.alive()
    seqr = stack.start_sequencer("external")
    sub = stack.worker("subscribe", "--timeout", 120)
    sub.expect("ready")
    p1 = stack.worker("publish", "--source", source, "--count", n)
    assert p1.expect("done", timeout=60)["last"] == n
    stack.wait_status(lambda st: st["sources"].get(str(source)) == n, "phase 1 sequenced")
    before = stack.stop_sequencer(seqr)
    last_before = before["last_seq"]
    n1, last1, digest1 = journal_digest(stack.day)
    assert last1 == last_before == n1

    seqr = stack.start_sequencer("external")
    up = stack.status()
    assert up["last_seq"] == last_before, "a restart starts from the journal's last seq"
    assert up["recovery"]["last_good_seq"] == last_before
    assert up["recovery"]["truncated_bytes"] == 0, "a clean stop leaves no torn tail"
    p2 = stack.worker("publish", "--source", source, "--count", n, "--start-seq", n + 1)
    assert p2.expect("done", timeout=60)["last"] == 2 * n
    stack.wait_status(lambda st: st["sources"].get(str(source)) == 2 * n, "phase 2 sequenced")
    stop_day(stack)
    res = sub.expect("result", timeout=60)
    final = stack.stop_sequencer(seqr)

    assert_clean(stack.day)
    frames = list(read_all(stack.day / "journal"))
    assert [f.seq for f in frames] == list(range(1, len(frames) + 1)), "no seq reused or skipped"
    assert frames[last_before].seq == last_before + 1
    assert frames[last_before].ts_ns >= frames[last_before - 1].ts_ns
    assert [f.seq for f in frames if f.type_id == START] == [1], "SystemStart only once"
    assert journal_digest(stack.day, last_before) == (n1, last1, digest1), (
        "the restart changed frames journaled before it"
    )
    assert [f.source_seq for f in frames if f.source_id == source] == list(range(1, 2 * n + 1))
    assert final["counters"]["duplicates"] == 0 and final["counters"]["gaps"] == 0
    # A subscriber that outlived the restart (it kept its media driver) saw it all.
    assert_matches_journal(res, stack.day, "the subscriber across the restart")


# ---------------------------------------------------------------- 7. bad inject file


@pytest.mark.parametrize(
    ("name", "text", "line", "field"),
    [
        (
            "ops.csv",
            "type,author,text\nOperatorNote,ops,one\nOperatorNote,ops,two\n"
            "HaltTrading,,\nOperatorNote,ops,four\n",
            4, "scope",
        ),
        (
            "ops.jsonl",
            '{"type": "OperatorNote", "author": "ops", "text": "one"}\n'
            '{"type": "SetParameter", "target": "oms", "key": "k", "value": "v"}\n'
            '{"type": "OperatorNote", "author": "ops", "txt": "typo"}\n'
            '{"type": "TakeSnapshot"}\n',
            3, "text",
        ),
    ],
    ids=["csv", "jsonl"],
)
def test_bad_inject_file_is_refused_whole(
    stack: Stack, name: str, text: str, line: int, field: str
) -> None:
    bad = stack.tmp / name
    bad.write_text(text)
    seqr = stack.start_sequencer()
    r = stack.tape("inject", str(bad), "--day", str(stack.day))
    assert r.returncode == 2, f"exit {r.returncode}, stderr: {r.stderr}"
    flat = " ".join(r.stderr.split())  # rich wraps long lines
    assert f"{bad}:{line}" in flat.replace(" ", "") or f"{name}:{line}" in flat, r.stderr
    assert f"'{field}'" in flat, r.stderr
    assert "nothing was sent" in flat, r.stderr
    # Give a wrongly sent row time to arrive, then check none did.
    time.sleep(0.3)
    assert [f for f in read_all(stack.day / "journal") if sources.is_inject_file(f.source_id)
            or f.source_id == INJECT_SOURCE] == []
    # The same file without its bad row goes in whole: the check above could fail.
    good = stack.tmp / f"good-{name}"
    rows = text.splitlines(keepends=True)
    good.write_text("".join(rows[: line - 1] + rows[line:]))
    r = stack.tape("inject", str(good), "--day", str(stack.day))
    assert r.returncode == 0, r.stderr
    expected = len(rows) - 1 - (1 if name.endswith(".csv") else 0)
    stack.stop_sequencer(seqr)
    # The rows go out as the file's own source (`sources.inject_file`), numbered by row.
    own = sources.inject_file(good.read_bytes())
    assert source_seqs(stack.day, own) == list(range(1, expected + 1))
    assert_clean(stack.day)


# ---------------------------------------------------------------- 8. slow subscriber


# The default publish chunk (32 KiB) is over this term's largest message (8 KiB):
# the sequencer must cut its chunks to fit rather than fail.
SLOW_CONFIG = """
[sequencer]
max_unpublished_bytes = 262144
status_interval_ms = 50

[sequencer.transport]
output_channel = "aeron:ipc?term-length=65536"
"""


@pytest.mark.slow
def test_slow_subscriber_loses_nothing(stack: Stack) -> None:
    source, n = sources.adhoc(81), 30_000
    seqr = stack.start_sequencer("embedded", stack.write_config(SLOW_CONFIG))
    slow = stack.worker("subscribe", "--pause-after", 1_000, "--pause-s", 3, "--timeout", 120)
    slow.expect("ready")
    pub = stack.worker("publish", "--source", source, "--count", n)
    pub.expect("ready")
    slow.expect("paused", timeout=60)
    max_lag = 0
    max_unpub = 0
    while True:
        st = stack.status()
        max_lag = max(max_lag, st["lag_frames"])
        max_unpub = max(max_unpub, st["unpublished_bytes"])
        if any("resumed" in m for m in slow.history) or not slow.messages.empty():
            break
        time.sleep(0.02)
    slow.expect("resumed", timeout=30)
    done = pub.expect("done", timeout=90)
    assert done["sent"] == n
    stack.wait_status(lambda st: st["sources"].get(str(source)) == n, "all sequenced", 60)
    stop_day(stack)
    res = slow.expect("result", timeout=60)
    final = stack.stop_sequencer(seqr)

    # The sequencer held frames back rather than dropping them...
    assert final["counters"]["back_pressured"] > 0, final["counters"]
    assert max_lag > 0 and max_unpub > 0, (max_lag, max_unpub)
    # ...and the subscriber got every one of them, in order, with no gap.
    assert_clean(stack.day)
    assert_matches_journal(res, stack.day, "the slow subscriber")
    count, top, ahead, back = res["sources"][str(source)]
    assert (count, top, ahead, back) == (n, n, 0, 0), res["sources"]
    assert source_seqs(stack.day, source) == list(range(1, n + 1))
    assert final["counters"]["published_frames"] == final["last_seq"]
