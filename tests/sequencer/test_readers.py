"""Readers never let damage through: the journal reader checks every frame it returns
(magic, CRC-32, the next seq exactly), and `tape journal stats | cat`, `tape replay` and
`tape oms orders` stop on damage with one line naming file, byte offset and seq (exit
1), unless told `--no-check`. A frame an app cannot decode stops it the same way. A
journal missing a segment is refused by the writer (the sequencer does not start).

The day is `test_journal_cli`'s: 28 frames (SystemStart, notes, ticks, a snapshot
request, SystemStop) in 600-byte segments, indexed every 200 bytes. Seq 10 is an
OperatorNote in the middle of the second segment.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import msgspec
import pytest

from sequencer import sources
from sequencer.frames import HEADER_SIZE, encode_frame, frame_length_at
from sequencer.journal import (
    INDEX_SUFFIX,
    SUMMARY_SUFFIX,
    JournalCorruption,
    JournalReader,
    JournalWriter,
    list_segments,
    read_all,
    segment_first_seq,
)
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import ClockTick, SystemStart
from sequencer.runtime.app import App, handles
from sequencer.runtime.engine import AppEngine, UndecodableFrame
from sequencer.runtime.samples import SECOND, CounterApp
from tests.conftest import Stack
from tests.sequencer.test_journal_cli import build_day, day_messages, run

N = len(day_messages())  # 28
BAD = 10  # the frame damaged in these tests: an OperatorNote, mid-segment
RECV_NS = 24  # a header field the checksum covers and no decoder reads (telemetry)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """The day of the module docstring. (Not named `day`: `stack` uses that one.)"""
    d = tmp_path / "built"
    build_day(d)
    return d


def locate(day: Path, seq: int) -> tuple[Path, int, int]:
    """(segment, byte offset, length) of frame `seq`."""
    for seg in list_segments(day / "journal"):
        data = seg.read_bytes()
        off = 0
        while off < len(data):
            n = frame_length_at(data, off)
            if int.from_bytes(data[off + 8:off + 16], "little") == seq:
                return seg, off, n
            off += n
    raise AssertionError(f"no frame {seq}")


def flip(day: Path, seq: int, at: int) -> tuple[Path, int]:
    """Flip one byte of frame `seq`, `at` bytes into it; its segment and offset."""
    seg, off, _ = locate(day, seq)
    data = bytearray(seg.read_bytes())
    data[off + at] ^= 0x5A
    seg.write_bytes(bytes(data))
    return seg, off


def duplicate(day: Path, seq: int) -> tuple[Path, int]:
    """Write frame `seq` twice in a row; the segment and the offset of the second copy.
    The segment's index (a hint, its offsets now stale past the copy) is removed."""
    seg, off, n = locate(day, seq)
    data = seg.read_bytes()
    seg.write_bytes(data[:off + n] + data[off:off + n] + data[off + n:])
    seg.with_suffix(INDEX_SUFFIX).unlink()
    return seg, off + n


def seqs(path: Path, from_seq: int = 1, to_seq: int | None = None, *,
         verify: bool = True) -> list[int]:
    return [f.seq for f in read_all(path, from_seq, to_seq, verify=verify)]


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- the reader


@pytest.mark.parametrize("at", [1, 5, 9, 16, RECV_NS, 33, 36, 72, HEADER_SIZE + 1],
                         ids=["magic", "checksum", "seq", "ts", "recv", "source", "type",
                              "length", "payload"])
def test_a_flipped_byte_anywhere_in_a_frame_is_refused_there(built: Path, at: int) -> None:
    seg, off = flip(built, BAD, at)
    got: list[int] = []
    with pytest.raises(JournalCorruption) as ei:
        for f in read_all(built):
            got.append(f.seq)
    assert got == list(range(1, BAD))  # everything before the damage, nothing after
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (seg, off, BAD)
    assert str(seg) in str(ei.value) and f"byte offset {off}" in str(ei.value)
    assert f"seq {BAD}" in str(ei.value)


def test_the_reader_says_what_is_wrong(built: Path) -> None:
    flip(built, BAD, 1)
    with pytest.raises(JournalCorruption, match="bad magic"):
        seqs(built)
    flip(built, BAD, 1)  # undone
    flip(built, BAD, RECV_NS)
    with pytest.raises(JournalCorruption, match="checksum mismatch"):
        seqs(built)


def test_a_checked_reader_raises_the_same_again(built: Path) -> None:
    """A follower that calls read again after an error gets the error again, not frames
    past the damage."""
    seg, off = flip(built, BAD, RECV_NS)
    with JournalReader(built) as r:
        for _ in range(2):
            with pytest.raises(JournalCorruption) as ei:
                while r.read_raw(1000):
                    pass
            assert (ei.value.path, ei.value.offset, ei.value.seq) == (seg, off, BAD)
        assert r.next_seq == BAD


def test_unverified_reading_skips_the_checksum(built: Path) -> None:
    flip(built, BAD, RECV_NS)
    assert seqs(built, verify=False) == list(range(1, N + 1))


def test_a_duplicated_frame_is_refused(built: Path) -> None:
    seg, off = duplicate(built, BAD)
    with pytest.raises(JournalCorruption) as ei:
        seqs(built)
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (seg, off, BAD + 1)
    assert f"a duplicated frame: seq {BAD} again where {BAD + 1} was expected" in str(ei.value)
    # Unverified, the copy is stepped over as before.
    assert seqs(built, verify=False) == list(range(1, N + 1))


def test_a_frame_missing_inside_a_segment_is_refused(built: Path) -> None:
    seg, off, n = locate(built, BAD)
    data = seg.read_bytes()
    seg.write_bytes(data[:off] + data[off + n:])
    seg.with_suffix(INDEX_SUFFIX).unlink()
    with pytest.raises(JournalCorruption) as ei:
        seqs(built)
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (seg, off, BAD)
    assert f"seq {BAD}..{BAD} missing: found seq {BAD + 1}" in str(ei.value)


def test_a_segment_cut_short_before_the_next_is_refused(built: Path) -> None:
    segs = list_segments(built / "journal")
    mid = segs[1]
    last_seq = segment_first_seq(segs[2]) - 1
    seg, off, n = locate(built, last_seq)
    assert seg == mid
    mid.write_bytes(mid.read_bytes()[:off + n - 3])
    with pytest.raises(JournalCorruption) as ei:
        seqs(built)
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (mid, off, last_seq)
    assert "the segment ends inside a frame" in str(ei.value)


def test_damage_outside_the_range_read_is_not_read(built: Path) -> None:
    flip(built, BAD, RECV_NS)
    assert seqs(built, 1, BAD - 1) == list(range(1, BAD))  # stops before it
    assert seqs(built, BAD + 1) == list(range(BAD + 1, N + 1))  # seeks past it by the index
    with pytest.raises(JournalCorruption):
        seqs(built, BAD - 1, BAD)


def test_a_stale_index_entry_is_ignored(built: Path) -> None:
    """The index is a hint: an entry that does not point at its frame is not followed."""
    seg = list_segments(built / "journal")[1]
    idx = seg.with_suffix(INDEX_SUFFIX)
    raw = bytearray(idx.read_bytes())
    assert len(raw) >= 32
    raw[24:32] = (int.from_bytes(raw[24:32], "little") + 7).to_bytes(8, "little")
    idx.write_bytes(bytes(raw))
    assert seqs(built, BAD) == list(range(BAD, N + 1))


# --------------------------------------------------------------------------- the writer


def build_long(jdir: Path, frames: int = 40) -> None:
    """`frames` notes in 300-byte segments (two or three a segment), summaries at rolls."""
    w = JournalWriter(jdir, segment_bytes=300, index_every_bytes=100)
    w.open()
    t0 = 1_700_000_000_000_000_000
    for seq in range(1, frames + 1):
        w.append(encode_frame(seq, t0 + seq, sources.INJECT, TYPE_ID[OperatorNote], seq,
                              encode(OperatorNote(author="ops", text=f"n{seq}"))), seq)
        w.state.last_seq, w.state.last_ts = seq, t0 + seq
        w.state.sources = {sources.INJECT: seq}
    w.close()


def test_the_writer_refuses_a_journal_missing_a_middle_segment(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    build_long(jdir)
    segs = list_segments(jdir)
    assert len(segs) >= 6 and all(s.with_suffix(SUMMARY_SUFFIX).exists() for s in segs[:-1])
    gone = segs[2]
    gone.unlink()
    w = JournalWriter(jdir)
    with pytest.raises(JournalCorruption) as ei:
        w.open()
    first, nxt = segment_first_seq(gone), segment_first_seq(segs[3])
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (segs[3], 0, first)
    assert f"seq {first}..{nxt - 1} missing" in str(ei.value)
    # Without the summaries (or with a summary gone) it is found by scanning.
    for p in segs[:2]:
        p.with_suffix(SUMMARY_SUFFIX).unlink()
    with pytest.raises(JournalCorruption, match=f"seq {first}..{nxt - 1} missing"):
        JournalWriter(jdir).open()


def test_the_writer_refuses_a_journal_missing_its_first_segment(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    build_long(jdir)
    segs = list_segments(jdir)
    segs[0].unlink()
    with pytest.raises(JournalCorruption) as ei:
        JournalWriter(jdir).open()
    assert ei.value.path == segs[1]
    assert f"seq 1..{segment_first_seq(segs[1]) - 1} missing" in str(ei.value)


def test_the_writer_still_trusts_summaries_that_agree(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    build_long(jdir)
    w = JournalWriter(jdir)
    rep = w.open()
    w.close()
    assert rep.last_good_seq == 40
    assert rep.frames_scanned < 40  # the summaries let it skip the segments before the last


def test_the_sequencer_does_not_start_on_a_journal_missing_a_segment(stack: Stack) -> None:
    build_long(stack.day / "journal")
    segs = list_segments(stack.day / "journal")
    segs[2].unlink()
    r = stack.tape("sequencer", "run", "--day", str(stack.day), "--aeron-dir", stack.aeron_dir,
                   "--driver", "embedded", "--max-seconds", "20")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    first, nxt = segment_first_seq(segs[2]), segment_first_seq(segs[3])
    assert f"seq {first}..{nxt - 1} missing" in lines[0] and str(segs[3]) in lines[0]


# --------------------------------------------------------------------------- the commands


READERS = [("journal", "stats"), ("journal", "cat"), ("replay", "--app", "counter"),
           ("journal", "latency")]


@pytest.mark.parametrize("cmd", READERS, ids=lambda c: " ".join(c[:2]))
def test_commands_stop_on_a_flipped_byte_with_one_line(built: Path, cmd: tuple[str, ...]) -> None:
    seg, off = flip(built, BAD, RECV_NS)
    code, outp = run(*cmd, str(built))
    assert code == 1, outp
    (line,) = error_lines(outp)
    assert "Traceback" not in outp
    assert f"frame seq {BAD} expected there" in line, line
    assert str(seg) in line and f"byte offset {off}" in line, line
    assert "checksum mismatch" in line


@pytest.mark.parametrize("cmd", READERS, ids=lambda c: " ".join(c[:2]))
def test_commands_stop_on_a_duplicated_frame(built: Path, cmd: tuple[str, ...]) -> None:
    seg, off = duplicate(built, BAD)
    code, outp = run(*cmd, str(built))
    assert code == 1, outp
    (line,) = error_lines(outp)
    assert f"a duplicated frame: seq {BAD} again where {BAD + 1} was expected" in line
    assert str(seg) in line and f"byte offset {off}" in line


@pytest.mark.parametrize("cmd", READERS[:3], ids=lambda c: " ".join(c[:2]))
def test_no_check_reads_past_the_damage(built: Path, cmd: tuple[str, ...]) -> None:
    flip(built, BAD, RECV_NS)
    code, outp = run(*cmd, "--no-check", str(built))
    assert code == 0, outp
    assert not error_lines(outp)


def test_stats_and_cat_without_damage_or_past_it(built: Path) -> None:
    code, outp = run("journal", "stats", "--json", str(built))
    assert code == 0 and f'"frames": {N}' in outp
    flip(built, BAD, RECV_NS)
    code, outp = run("journal", "stats", "--no-check", "--json", str(built))
    assert code == 0 and f'"frames": {N}' in outp
    code, outp = run("journal", "cat", "--to", str(BAD - 1), str(built))
    assert code == 0, outp
    assert [int(line.split()[0]) for line in outp.splitlines()] == list(range(1, BAD))


def test_replay_until_stops_before_damage_after_it(built: Path) -> None:
    flip(built, BAD, RECV_NS)
    code, outp = run("replay", "--app", "counter", "--json", "--until", str(BAD - 1), str(built))
    assert code == 0, outp
    assert '"last_seq": 9' in outp and f'"frames": {BAD - 1}' in outp
    code, outp = run("replay", "--app", "counter", "--json", "--until", str(BAD), str(built))
    assert code == 1 and f"frame seq {BAD} expected there" in outp


def test_oms_orders_stops_on_damage(built: Path) -> None:
    flip(built, BAD, RECV_NS)
    code, outp = run("oms", "orders", str(built))
    assert code == 1, outp
    (line,) = error_lines(outp)
    assert f"frame seq {BAD} expected there" in line


# --------------------------------------------------------------------------- usage


def test_a_break_when_that_is_not_python_is_bad_usage(built: Path) -> None:
    code, outp = run("replay", "--app", "counter", "--break-when", "msg.text ==", str(built))
    assert code == 2, outp
    (line,) = error_lines(outp)
    assert "--break-when: not a Python expression" in line and "Traceback" not in outp


def test_a_folder_without_a_journal_is_bad_usage(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    for cmd in (("replay",), ("journal", "stats"), ("journal", "cat"), ("journal", "verify"),
                ("journal", "latency"), ("oms", "orders")):
        for where in (tmp_path / "notes", tmp_path / "nowhere"):
            code, outp = run(*cmd, str(where))
            assert code == 2, (cmd, outp)
            (line,) = error_lines(outp)
            assert "no journal at" in line, (cmd, outp)


def start_naming_refdata(day: Path) -> None:
    start = SystemStart(session_date=dt.date(2024, 3, 15), seed=1, config_digest="d",
                        refdata_digest="ab" * 32)
    w = JournalWriter(day / "journal")
    w.open()
    w.append(encode_frame(1, 1, sources.SEQUENCER, TYPE_ID[SystemStart], 1, encode(start)), 1)
    w.close()


def test_a_missing_refdata_folder_is_bad_usage(tmp_path: Path) -> None:
    day = tmp_path / "day"
    start_naming_refdata(day)
    for cmd in (("replay", "--app", "counter"), ("oms", "orders")):
        code, outp = run(*cmd, str(day))
        assert code == 2, (cmd, outp)
        (line,) = error_lines(outp)
        assert f"no ref data set at {day / 'refdata'}" in line, (cmd, outp)


def test_refdata_that_does_not_load_stops_the_replay_in_one_line(tmp_path: Path) -> None:
    day = tmp_path / "day"
    start_naming_refdata(day)
    (day / "refdata").mkdir()  # there, but no set in it
    code, outp = run("replay", "--app", "counter", str(day))
    assert code == 1, outp
    (line,) = error_lines(outp)
    assert "app 'counter' cannot load the ref data the day runs on (abababababab)" in line


# --------------------------------------------------------------------------- undecodable


T0 = 1_700_000_000_000_000_000


def undecodable_day(day: Path, t0: int = T0) -> None:
    """A note whose payload is a ClockTick's (a valid type id, the wrong payload) at seq 3,
    between good notes."""
    start = SystemStart(session_date=dt.date(2026, 3, 2), seed=5, config_digest="test")
    note = TYPE_ID[OperatorNote]
    frames = [
        encode_frame(1, t0, sources.SEQUENCER, TYPE_ID[SystemStart], 1, encode(start)),
        encode_frame(2, t0 + 1, sources.INJECT, note, 1, encode(OperatorNote("ops", "a"))),
        encode_frame(3, t0 + 2, sources.INJECT, note, 2, encode(ClockTick())),
        encode_frame(4, t0 + 3, sources.INJECT, note, 3, encode(OperatorNote("ops", "b"))),
    ]
    w = JournalWriter(day / "journal")
    w.open()
    w.append(b"".join(frames), 1)
    w.close()


def test_the_engine_names_the_frame_it_cannot_decode(tmp_path: Path) -> None:
    undecodable_day(tmp_path)
    eng = AppEngine(CounterApp())
    with JournalReader(tmp_path) as r, pytest.raises(UndecodableFrame) as ei:
        eng.feed(r.read_raw())
    e = ei.value
    assert (e.app, e.seq, e.type_id, e.source_id) == ("counter", 3, TYPE_ID[OperatorNote],
                                                      sources.INJECT)
    text = str(e)
    assert "\n" not in text
    assert text.startswith("app 'counter' stopped at seq 3: its OperatorNote payload")
    assert "does not decode" in text
    assert isinstance(e.__cause__, msgspec.ValidationError)
    assert isinstance(eng.app, CounterApp)
    assert eng.app.state.notes == 1  # the note before it was handled, none after


class Picky(App):
    """An app whose own handler decodes something and fails: its error, not the frame's."""

    name = "picky"
    source_id = sources.adhoc(5)

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        msgspec.json.decode(b"{", type=dict)


def test_an_apps_own_decode_error_is_not_blamed_on_the_frame(tmp_path: Path) -> None:
    undecodable_day(tmp_path)
    eng = AppEngine(Picky())
    with JournalReader(tmp_path) as r:
        batch = r.read_raw()
    with pytest.raises(msgspec.DecodeError) as ei:
        eng.feed(batch[:2])
    assert not isinstance(ei.value, UndecodableFrame)


def test_replay_stops_at_an_undecodable_frame_in_one_line(tmp_path: Path) -> None:
    undecodable_day(tmp_path / "day")
    code, outp = run("replay", "--app", "counter", str(tmp_path / "day"))
    assert code == 1, outp
    (line,) = error_lines(outp)
    assert "app 'counter' stopped at seq 3: its OperatorNote payload" in line
    assert "Traceback" not in outp


def test_a_live_app_stops_at_an_undecodable_frame_with_one_line(stack: Stack) -> None:
    undecodable_day(stack.day, time.time_ns() - 60 * SECOND)  # the sequencer continues it
    stack.start_sequencer()
    r = stack.tape("app", "run", "counter", "--day", str(stack.day), "--max-seconds", "30")
    assert r.returncode == 1, (r.stdout, r.stderr)
    (line,) = r.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith("error: app 'counter' stopped at seq 3: its OperatorNote payload"), \
        r.stderr
