"""The journal: recovery after a crash, refusal of damage, verify, the reader, summaries.

Frames here are Probe frames with deterministic payloads; the source of frame
`seq` is `1 + seq % 3`, so the writer state expected after any prefix of the
journal can be computed from its last sequence number alone.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sequencer import sources
from sequencer.frames import HEADER_SIZE, encode_frame, frame_length_at
from sequencer.journal import (
    INDEX_ENTRY,
    INDEX_SUFFIX,
    SUMMARY_SUFFIX,
    JournalCorruption,
    JournalReader,
    JournalState,
    JournalWriter,
    list_segments,
    read_all,
    segment_first_seq,
    segment_name,
    verify,
)
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.control import Probe, SystemStop

PROBE = TYPE_ID[Probe]
STOP = TYPE_ID[SystemStop]
TS0 = 1_700_000_000_000_000_000
SMALL_SEGMENT = 700
SMALL_INDEX = 200


def ts_of(seq: int) -> int:
    return TS0 + seq * 1_000 if seq else 0


def source_of(seq: int) -> int:
    return sources.adhoc(1 + seq % 3)


def expected_sources(last_seq: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in range(1, last_seq + 1):
        out[source_of(s)] = out.get(source_of(s), 0) + 1
    return out


def make_frame(seq: int, size: int, type_id: int = PROBE) -> bytes:
    src = source_of(seq)
    source_seq = expected_sources(seq)[src]
    payload = bytes((seq * 31 + i) & 0xFF for i in range(size))
    return encode_frame(seq, ts_of(seq), src, type_id, source_seq, payload)


class Feed:
    """Appends batches the way the sequencer does: bytes first, then the writer's state."""

    def __init__(self, writer: JournalWriter) -> None:
        self.w = writer
        self.seq = writer.state.last_seq
        self.written: list[bytes] = []

    def batch(self, sizes: Iterable[int], type_id: int = PROBE) -> list[bytes]:
        out = []
        for size in sizes:
            self.seq += 1
            out.append(make_frame(self.seq, size, type_id))
        if not out:
            return out
        self.w.append(b"".join(out), self.seq - len(out) + 1)
        st = self.w.state
        st.last_seq = self.seq
        st.last_ts = ts_of(self.seq)
        st.sources = expected_sources(self.seq)
        st.stopped = st.stopped or type_id == STOP
        self.written.extend(out)
        return out


def open_writer(
    jdir: Path, segment_bytes: int = SMALL_SEGMENT, index_every: int = SMALL_INDEX
) -> JournalWriter:
    w = JournalWriter(jdir, segment_bytes=segment_bytes, index_every_bytes=index_every)
    w.open()
    return w


def build(
    jdir: Path,
    batches: Iterable[Iterable[int]],
    segment_bytes: int = SMALL_SEGMENT,
    index_every: int = SMALL_INDEX,
) -> list[bytes]:
    w = open_writer(jdir, segment_bytes, index_every)
    feed = Feed(w)
    for b in batches:
        feed.batch(b)
    w.close()
    return feed.written


def read_raw_all(jdir: Path, from_seq: int = 1) -> list[bytes]:
    out: list[bytes] = []
    with JournalReader(jdir, from_seq) as r:
        while batch := r.read_raw():
            out.extend(batch)
    return out


def frame_offsets(seg: Path) -> list[tuple[int, int, int]]:
    """(seq, offset, length) of every frame in a segment (assumed whole and valid)."""
    data = seg.read_bytes()
    out = []
    off = 0
    while off < len(data):
        n = frame_length_at(data, off)
        out.append((int.from_bytes(data[off + 8 : off + 16], "little"), off, n))
        off += n
    return out


def snapshot(jdir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(jdir.iterdir())}


def flip_byte(path: Path, off: int) -> None:
    data = bytearray(path.read_bytes())
    data[off] ^= 0x5A
    path.write_bytes(bytes(data))


def assert_state(w: JournalWriter, last_seq: int) -> None:
    assert w.state.last_seq == last_seq
    assert w.state.last_ts == ts_of(last_seq)
    assert w.state.sources == expected_sources(last_seq)


# --------------------------------------------------------------------------- (1) cut tails


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
)
@given(
    batches=st.lists(st.lists(st.integers(0, 160), min_size=1, max_size=4), min_size=1,
                     max_size=10),
    segment_bytes=st.sampled_from([200, 450, SMALL_SEGMENT, 1 << 20]),
    more=st.lists(st.lists(st.integers(0, 160), min_size=1, max_size=4), min_size=1,
                  max_size=4),
    data=st.data(),
)
def test_recovery_after_a_cut_at_any_offset_of_the_last_segment(
    batches: list[list[int]], segment_bytes: int, more: list[list[int]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        jdir = Path(tmp) / "journal"
        written = build(jdir, batches, segment_bytes)
        segs = list_segments(jdir)
        last = segs[-1]
        size = last.stat().st_size
        cut = data.draw(st.integers(0, size), label="cut")
        with open(last, "r+b") as f:
            f.truncate(cut)

        # What was wholly written: the earlier segments and the last one's frames up to the cut.
        first_in_last = segment_first_seq(last)
        whole_end = 0
        survivors = first_in_last - 1
        for seq, off, n in frame_offsets_of(written, first_in_last):
            if off + n <= cut:
                whole_end = off + n
                survivors = seq
        expect = written[:survivors]
        event("cut inside a frame" if cut > whole_end else "cut at a frame boundary")
        event(f"segments: {min(len(segs), 4)}{'+' if len(segs) >= 4 else ''}")

        w = JournalWriter(jdir, segment_bytes=segment_bytes, index_every_bytes=SMALL_INDEX)
        rep = w.open()
        assert rep.last_good_seq == survivors
        assert rep.truncated_bytes == cut - whole_end
        assert rep.segments == len(segs)
        # Every earlier segment has a summary: only the last one is scanned.
        assert rep.frames_scanned == survivors - (first_in_last - 1)
        if cut > whole_end:
            assert rep.truncated_file == str(last)
            assert rep.truncated_reason
        else:
            assert rep.truncated_file == ""
        assert last.stat().st_size == whole_end
        assert_state(w, survivors)
        assert read_raw_all(jdir) == expect
        assert [f.seq for f in read_all(jdir)] == list(range(1, survivors + 1))

        # Appending continues from there with the next seq.
        feed = Feed(w)
        for b in more:
            feed.batch(b)
        w.close()
        assert feed.written[0][8:16] == (survivors + 1).to_bytes(8, "little")
        assert read_raw_all(jdir) == expect + feed.written
        rep_v = verify(jdir)
        assert rep_v.clean, rep_v.damage
        assert rep_v.last_seq == feed.seq
        assert rep_v.frames == feed.seq

        w2 = JournalWriter(jdir, segment_bytes=segment_bytes, index_every_bytes=SMALL_INDEX)
        rep2 = w2.open()
        w2.close()
        assert rep2.truncated_bytes == 0
        assert rep2.last_good_seq == feed.seq
        assert_state(w2, feed.seq)


def frame_offsets_of(written: list[bytes], first_seq: int) -> list[tuple[int, int, int]]:
    """(seq, offset, length) of the frames from `first_seq` on, laid out from offset 0."""
    out = []
    off = 0
    for seq in range(first_seq, len(written) + 1):
        n = len(written[seq - 1])
        out.append((seq, off, n))
        off += n
    return out


def test_cut_offsets_match_the_segment_layout(tmp_path: Path) -> None:
    written = build(tmp_path, [[10, 20], [30], [0, 0, 5]])
    for seg in list_segments(tmp_path):
        first = segment_first_seq(seg)
        laid = frame_offsets_of(written, first)[: len(frame_offsets(seg))]
        assert frame_offsets(seg) == laid


def test_empty_last_segment_after_a_roll_is_reused(tmp_path: Path) -> None:
    written = build(tmp_path, [[100], [100], [100]], segment_bytes=200)
    segs = list_segments(tmp_path)
    assert len(segs) == 3
    # A crash right after a roll: the next segment exists, empty, with a summary before it.
    empty = tmp_path / segment_name(4)
    segs[-1].with_suffix(SUMMARY_SUFFIX).write_text(
        JournalState(3, ts_of(3), expected_sources(3)).to_json()
    )
    empty.touch()
    w = open_writer(tmp_path, 200)
    assert w.report.last_good_seq == 3
    assert w.report.truncated_bytes == 0
    feed = Feed(w)
    feed.batch([1])
    w.close()
    assert empty.stat().st_size == len(feed.written[0])
    assert read_raw_all(tmp_path) == written + feed.written
    assert verify(tmp_path).clean


# --------------------------------------------------------------------------- (2) corrupt tail


@pytest.mark.parametrize(
    "garbage",
    [b"\x00" * 37, b"\xff" * 300, b"TPF1" + b"\x00" * 100, b"TPF1", b"junk\nmore junk"],
    ids=["zeros", "ones", "magic-then-zeros", "magic-only", "text"],
)
def test_garbage_after_the_last_frame_is_truncated(tmp_path: Path, garbage: bytes) -> None:
    written = build(tmp_path, [[50, 60], [70], [10, 20]])
    last = list_segments(tmp_path)[-1]
    good_size = last.stat().st_size
    with open(last, "ab") as f:
        f.write(garbage)
    w = open_writer(tmp_path)
    w.close()
    assert w.report.truncated_bytes == len(garbage)
    assert w.report.truncated_file == str(last)
    assert w.report.truncated_reason != ""
    assert w.report.last_good_seq == len(written)
    assert last.stat().st_size == good_size
    assert read_raw_all(tmp_path) == written
    assert verify(tmp_path).clean


@pytest.mark.parametrize("where", [0, 5, 10, 40, 72, 79, 80, -1], ids=lambda w: f"byte{w}")
def test_flipped_byte_in_the_last_frame_is_truncated(tmp_path: Path, where: int) -> None:
    written = build(tmp_path, [[50, 60], [70], [10, 20]])
    last = list_segments(tmp_path)[-1]
    seq, off, n = frame_offsets(last)[-1]
    assert seq == len(written)
    flip_byte(last, off + (where % n))
    w = open_writer(tmp_path)
    assert w.report.truncated_bytes == n
    assert w.report.truncated_file == str(last)
    assert w.report.last_good_seq == seq - 1
    assert_state(w, seq - 1)
    feed = Feed(w)
    feed.batch([5])
    w.close()
    assert read_raw_all(tmp_path) == written[:-1] + feed.written
    assert verify(tmp_path).clean


# --------------------------------------------------------------------------- (3) damage refused


def test_damage_in_the_middle_of_the_last_segment_is_refused(tmp_path: Path) -> None:
    build(tmp_path, [[40] * 3, [40] * 4], segment_bytes=1 << 20)
    (seg,) = list_segments(tmp_path)
    seq, off, _ = frame_offsets(seg)[3]
    assert seq == 4
    flip_byte(seg, off + HEADER_SIZE + 7)  # payload of seq 4; seqs 5..7 are valid after it
    before = snapshot(tmp_path)
    with pytest.raises(JournalCorruption) as ei:
        JournalWriter(tmp_path, segment_bytes=1 << 20, index_every_bytes=SMALL_INDEX).open()
    e = ei.value
    assert (e.path, e.offset, e.seq) == (seg, off, 4)
    assert e.why == "checksum mismatch"
    msg = str(e)
    assert str(seg) in msg
    assert f"byte offset {off}" in msg
    assert "seq 4" in msg
    assert snapshot(tmp_path) == before


def test_a_valid_frame_with_the_wrong_seq_in_the_middle_is_refused(tmp_path: Path) -> None:
    build(tmp_path, [[10] * 5], segment_bytes=1 << 20)
    (seg,) = list_segments(tmp_path)
    data = bytearray(seg.read_bytes())
    _, off, n = frame_offsets(seg)[2]
    wrong = make_frame(9, 10)  # same size, valid checksum, wrong number
    data[off : off + n] = wrong
    seg.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    with pytest.raises(JournalCorruption) as ei:
        open_writer(tmp_path, 1 << 20)
    assert (ei.value.offset, ei.value.seq) == (off, 3)
    assert "sequence number 9 where 3 was expected" in str(ei.value)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("frame", [0, 1, -1], ids=["first", "second", "last"])
def test_damage_in_an_earlier_segment_is_refused(tmp_path: Path, frame: int) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    assert len(segs) >= 3
    damaged = segs[1]
    seq, off, _ = frame_offsets(damaged)[frame]
    flip_byte(damaged, off + HEADER_SIZE + 1)
    # Without summaries every segment is scanned on open.
    for p in tmp_path.glob("*" + SUMMARY_SUFFIX):
        p.unlink()
    before = snapshot(tmp_path)
    with pytest.raises(JournalCorruption) as ei:
        open_writer(tmp_path)
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (damaged, off, seq)
    assert str(damaged) in str(ei.value)
    assert f"byte offset {off}" in str(ei.value)
    assert f"seq {seq}" in str(ei.value)
    assert snapshot(tmp_path) == before


def test_a_missing_segment_is_refused(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    for p in tmp_path.glob("*" + SUMMARY_SUFFIX):
        p.unlink()
    gone = segs[1]
    gone.unlink()
    with pytest.raises(JournalCorruption) as ei:
        open_writer(tmp_path)
    assert ei.value.path == segs[2]
    assert ei.value.seq == segment_first_seq(gone)


# --------------------------------------------------------------------------- (4) verify


def test_verify_clean(tmp_path: Path) -> None:
    written = build(tmp_path, [[60]] * 12)
    rep = verify(tmp_path)
    assert rep.clean
    assert rep.damage == []
    assert (rep.first_seq, rep.last_seq, rep.frames) == (1, 12, 12)
    assert rep.segments == len(list_segments(tmp_path))
    assert rep.bytes == sum(len(f) for f in written)
    # A day folder and a segment file are accepted too.
    assert verify(list_segments(tmp_path)[0]).frames == 12
    day = tmp_path.parent / "day"
    day.mkdir()
    (day / "journal").symlink_to(tmp_path)
    assert verify(day).frames == 12


def test_verify_reports_damage_with_file_offset_and_seq(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    seq, off, _ = frame_offsets(segs[1])[1]
    flip_byte(segs[1], off + 3)
    rep = verify(tmp_path)
    assert not rep.clean
    d = rep.damage[0]
    assert (d.file, d.offset, d.seq) == (str(segs[1]), off, seq)
    assert d.what.startswith("corrupt: bad magic")
    assert f"({segs[1].stat().st_size - off} bytes from there)" in d.what


def test_verify_reports_a_torn_tail(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    last = list_segments(tmp_path)[-1]
    seq, off, n = frame_offsets(last)[-1]
    with open(last, "r+b") as f:
        f.truncate(off + n - 1)
    rep = verify(tmp_path)
    assert not rep.clean
    assert len(rep.damage) == 1
    d = rep.damage[0]
    assert (d.file, d.offset, d.seq) == (str(last), off, seq)
    assert d.what.startswith("torn tail: frame needs")
    assert rep.last_seq == seq - 1


def test_verify_reports_a_missing_segment_and_time_going_back(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    segs[1].unlink()
    rep = verify(tmp_path)
    assert not rep.clean
    assert rep.damage[0].file == str(segs[2])
    assert rep.damage[0].seq == segment_first_seq(segs[1])
    assert "segment starts at seq" in rep.damage[0].what

    other = tmp_path.parent / "other"
    w = open_writer(other, 1 << 20)
    w.append(encode_frame(1, 1000, sources.adhoc(1), PROBE, 1, b""), 1)
    w.append(encode_frame(2, 999, sources.adhoc(1), PROBE, 2, b""), 2)
    w.close()
    rep = verify(other)
    assert [(d.offset, d.seq) for d in rep.damage] == [(HEADER_SIZE, 2)]
    assert "timestamp 999 goes back from 1000" in rep.damage[0].what


# --------------------------------------------------------------------------- (5) reader


def test_reader_follows_a_growing_journal_across_rolls(tmp_path: Path) -> None:
    w = open_writer(tmp_path)
    feed = Feed(w)
    r = JournalReader(tmp_path)
    assert r.read() == []  # nothing written yet
    feed.batch([50, 50])
    got = r.read()
    assert [f.seq for f in got] == [1, 2]
    assert r.read() == []
    for _ in range(10):  # several rolls
        feed.batch([120])
    feed.batch([10, 10, 10])
    assert len(list_segments(tmp_path)) >= 3
    got += r.read()
    assert r.read() == []
    feed.batch([300])  # one more roll
    got += r.read(max_frames=1)
    assert r.read() == []
    r.close()
    w.close()
    assert [f.seq for f in got] == list(range(1, feed.seq + 1))
    assert [f.payload for f in got] == [f[HEADER_SIZE:] for f in feed.written]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("write"), st.lists(st.integers(0, 150), min_size=1, max_size=4)),
            st.tuples(st.just("read"), st.integers(1, 5)),
        ),
        max_size=30,
    )
)
def test_reader_interleaved_with_writer_sees_each_frame_once(
    steps: list[tuple[str, Any]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        jdir = Path(tmp)
        w = open_writer(jdir, 400)
        feed = Feed(w)
        got: list[bytes] = []
        with JournalReader(jdir) as r:
            for kind, arg in steps:
                if kind == "write":
                    feed.batch(arg)
                else:
                    batch = r.read_raw(arg)
                    assert len(batch) <= arg
                    got.extend(batch)
            while batch := r.read_raw(3):
                got.extend(batch)
        w.close()
        assert got == feed.written


def test_index_entries_point_at_their_frames(tmp_path: Path) -> None:
    build(tmp_path, [[40]] * 30, segment_bytes=1500, index_every=300)
    for seg in list_segments(tmp_path):
        raw = seg.with_suffix(INDEX_SUFFIX).read_bytes()
        assert len(raw) % INDEX_ENTRY.size == 0
        entries = [INDEX_ENTRY.unpack_from(raw, i) for i in range(0, len(raw), INDEX_ENTRY.size)]
        assert entries[0] == (segment_first_seq(seg), 0)
        assert len(entries) > 1
        where = {off: seq for seq, off, _ in frame_offsets(seg)}
        for seq, off in entries:
            assert where[off] == seq
        offs = [o for _, o in entries]
        assert all(b - a >= 300 for a, b in itertools.pairwise(offs))


def test_reader_seeks_by_seq_with_the_index(tmp_path: Path) -> None:
    written = build(tmp_path, [[40]] * 40, segment_bytes=1500, index_every=300)
    segs = list_segments(tmp_path)
    seg = segs[2]
    raw = seg.with_suffix(INDEX_SUFFIX).read_bytes()
    entries = [INDEX_ENTRY.unpack_from(raw, i) for i in range(0, len(raw), INDEX_ENTRY.size)]
    seq, off = entries[2]
    assert off > 0
    target = seq + 1  # in the middle of a later segment, just after an index entry
    assert [f.seq for f in read_all(tmp_path, target)] == list(range(target, 41))
    assert read_raw_all(tmp_path, target) == written[target - 1 :]
    assert [f.seq for f in read_all(tmp_path, target, target + 2)] == [target, target + 1,
                                                                      target + 2]

    # Proof that the reader seeks rather than scans: make the bytes before the entry unreadable.
    data = bytearray(seg.read_bytes())
    data[:off] = b"\xff" * off
    seg.write_bytes(bytes(data))
    assert read_raw_all(tmp_path, target) == written[target - 1 :]
    seg.with_suffix(INDEX_SUFFIX).unlink()
    # Without the index the same read starts at the garbage: the checked reader says so,
    # an unchecked one finds nothing.
    with pytest.raises(JournalCorruption) as ei:
        read_raw_all(tmp_path, target)
    assert (ei.value.path, ei.value.offset) == (seg, 0)
    assert "bad magic" in ei.value.why
    with JournalReader(tmp_path, target, verify=False) as r:
        assert r.read_raw() == []


def test_reader_from_seq_past_the_end_and_before_any_segment(tmp_path: Path) -> None:
    build(tmp_path, [[10]] * 5)
    assert read_raw_all(tmp_path, 99) == []
    assert [f.seq for f in read_all(tmp_path, 0)] == [1, 2, 3, 4, 5]
    empty = tmp_path.parent / "empty"
    empty.mkdir()
    assert read_raw_all(empty) == []


def test_reader_from_a_seq_past_the_end_follows_the_journal(tmp_path: Path) -> None:
    w = open_writer(tmp_path, 400)
    feed = Feed(w)
    for _ in range(3):
        feed.batch([100])  # 180-byte frames: two per segment, rolls at seqs 3, 5, 7
    r = JournalReader(tmp_path, from_seq=6)
    assert r.read() == []
    for _ in range(5):
        feed.batch([100])
    w.close()
    assert [segment_first_seq(s) for s in list_segments(tmp_path)] == [1, 3, 5, 7]
    got = r.read()
    r.close()
    assert [f.seq for f in got] == [6, 7, 8]


def test_reader_takes_the_end_of_a_segment_before_moving_on(tmp_path: Path) -> None:
    w = open_writer(tmp_path, 600)
    feed = Feed(w)
    feed.batch([70])
    feed.batch([70])  # 150-byte frames: four per segment
    r = JournalReader(tmp_path)
    assert [f.seq for f in r.read()] == [1, 2]
    # After the reader saw the end of segment 1: two more frames there, then a roll.
    feed.batch([70])
    feed.batch([70])
    feed.batch([70])
    w.close()
    assert [segment_first_seq(s) for s in list_segments(tmp_path)] == [1, 5]
    assert [f.seq for f in r.read()] == [3, 4, 5]
    r.close()


class RacingReader(JournalReader):
    """A reader that lets the writer act between its end-of-file and its look for a segment."""

    def __init__(self, path: Path, writer_step: Callable[[], None]) -> None:
        super().__init__(path)
        self.writer_step: Callable[[], None] | None = writer_step

    def _next_segment(self) -> Path | None:
        if self.writer_step is not None:
            step, self.writer_step = self.writer_step, None
            step()
        return super()._next_segment()


def test_reader_racing_a_roll_takes_the_end_of_the_segment_first(tmp_path: Path) -> None:
    w = open_writer(tmp_path, 600)
    feed = Feed(w)
    feed.batch([70, 70])  # 150-byte frames: four per segment

    def writer_step() -> None:  # two more frames in segment 1, then a roll
        feed.batch([70])
        feed.batch([70])
        feed.batch([70])

    r = RacingReader(tmp_path, writer_step)
    got = [f.seq for f in r.read()]
    for _ in range(3):
        got += [f.seq for f in r.read()]
    r.close()
    w.close()
    assert [segment_first_seq(s) for s in list_segments(tmp_path)] == [1, 5]
    assert got == [1, 2, 3, 4, 5]


def test_reader_refuses_a_missing_segment(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    gone = segs[1]
    gone.unlink()
    gone.with_suffix(INDEX_SUFFIX).unlink()
    with pytest.raises(JournalCorruption) as ei:
        list(read_all(tmp_path))
    missing = segment_first_seq(gone)
    assert (ei.value.path, ei.value.offset, ei.value.seq) == (segs[2], 0, missing)
    assert f"seq {missing}..{segment_first_seq(segs[2]) - 1} missing" in str(ei.value)
    # Reading from inside the gap is refused too, and from after it works.
    with pytest.raises(JournalCorruption):
        read_raw_all(tmp_path, missing + 1)
    after = segment_first_seq(segs[2])
    assert next(iter(read_all(tmp_path, after))).seq == after


# --------------------------------------------------------------------------- (6) partial frame


def test_a_partial_frame_is_not_returned_until_complete(tmp_path: Path) -> None:
    w = open_writer(tmp_path, 1 << 20)
    feed = Feed(w)
    feed.batch([30, 30])
    w.close()
    (seg,) = list_segments(tmp_path)
    nxt = make_frame(3, 200)
    r = JournalReader(tmp_path)
    assert [f.seq for f in r.read()] == [1, 2]
    for upto in (1, 40, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 100, len(nxt) - 1):
        with open(seg, "r+b") as f:
            f.seek(0, 2)
            have = f.tell() - sum(len(x) for x in feed.written)
            f.write(nxt[have:upto])
        assert r.read() == [], upto
    with open(seg, "ab") as g:
        g.write(nxt[-1:])
    got = r.read()
    assert [(f.seq, f.payload) for f in got] == [(3, nxt[HEADER_SIZE:])]
    assert r.read() == []
    r.close()
    assert verify(tmp_path).clean


# --------------------------------------------------------------------------- (7) summaries


def test_a_summary_is_written_at_each_roll(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    assert not segs[-1].with_suffix(SUMMARY_SUFFIX).exists()
    for seg, nxt in itertools.pairwise(segs):
        st_ = JournalState.from_json(seg.with_suffix(SUMMARY_SUFFIX).read_text())
        end = segment_first_seq(nxt) - 1
        assert st_ == JournalState(end, ts_of(end), expected_sources(end), False)


def test_summaries_let_a_restart_skip_old_segments(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    in_last = len(frame_offsets(segs[-1]))
    w = open_writer(tmp_path)
    w.close()
    assert w.report.frames_scanned == in_last
    assert w.report.segments == len(segs)
    assert_state(w, 12)


def test_recovery_without_summaries_scans_everything(tmp_path: Path) -> None:
    written = build(tmp_path, [[60]] * 12)
    for p in tmp_path.glob("*" + SUMMARY_SUFFIX):
        p.unlink()
    w = open_writer(tmp_path)
    feed = Feed(w)
    feed.batch([1])
    w.close()
    assert w.report.frames_scanned == 12
    assert w.report.last_good_seq == 12
    assert read_raw_all(tmp_path) == written + feed.written
    assert verify(tmp_path).clean


@pytest.mark.parametrize(
    "text",
    ["", "not json", "[]", "null", "{}", '{"last_seq": 1}', '{"last_seq": "x", "last_ts": 0, '
     '"sources": {}, "stopped": false}', '{"last_seq": 5, "last_ts": 0, "sources": [], '
     '"stopped": false}', "\udcff"],
    ids=["empty", "text", "list", "null", "empty-object", "missing-keys", "bad-number",
         "bad-sources", "bad-utf8"],
)
def test_a_garbled_summary_is_ignored(tmp_path: Path, text: str) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    segs[-2].with_suffix(SUMMARY_SUFFIX).write_bytes(text.encode("utf-8", "surrogateescape"))
    w = open_writer(tmp_path)
    w.close()
    # It falls back to the summary before: the last two segments are scanned.
    assert w.report.frames_scanned == len(frame_offsets(segs[-1])) + len(frame_offsets(segs[-2]))
    assert_state(w, 12)


@pytest.mark.parametrize("delta", [-1, 1, 100])
def test_a_summary_that_disagrees_with_the_segments_is_ignored(
    tmp_path: Path, delta: int
) -> None:
    build(tmp_path, [[60]] * 12)
    segs = list_segments(tmp_path)
    sp = segs[-2].with_suffix(SUMMARY_SUFFIX)
    st_ = JournalState.from_json(sp.read_text())
    st_.last_seq += delta
    sp.write_text(st_.to_json())
    w = open_writer(tmp_path)
    w.close()
    assert w.report.frames_scanned == len(frame_offsets(segs[-1])) + len(frame_offsets(segs[-2]))
    assert_state(w, 12)


def test_all_summaries_garbled_recovers_from_the_segments(tmp_path: Path) -> None:
    build(tmp_path, [[60]] * 12)
    for p in tmp_path.glob("*" + SUMMARY_SUFFIX):
        p.write_text("garbage")
    w = open_writer(tmp_path)
    w.close()
    assert w.report.frames_scanned == 12
    assert_state(w, 12)


def test_stopped_is_recovered_with_and_without_summaries(tmp_path: Path) -> None:
    w = open_writer(tmp_path)
    feed = Feed(w)
    for _ in range(6):
        feed.batch([60])
    feed.batch([len(encode(SystemStop("eod"))) - 0], type_id=STOP)
    w.close()
    w = open_writer(tmp_path)
    w.close()
    assert w.state.stopped
    # A roll after the stop (nothing should follow it, but the flag must survive a summary).
    w = open_writer(tmp_path)
    Feed(w).batch([600])
    w.close()
    assert len(list_segments(tmp_path)) >= 3
    summary = json.loads(list_segments(tmp_path)[-2].with_suffix(SUMMARY_SUFFIX).read_text())
    assert summary["stopped"] is True
    w = open_writer(tmp_path)
    w.close()
    assert w.state.stopped
    assert w.report.frames_scanned == 1
    for p in tmp_path.glob("*" + SUMMARY_SUFFIX):
        p.unlink()
    w = open_writer(tmp_path)
    w.close()
    assert w.state.stopped
    assert w.report.frames_scanned == 8
