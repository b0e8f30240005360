"""The journal: the day's frames, persisted, totally ordered.

A journal is a folder of append-only segment files named by the sequence
number of their first frame (`00000000000000000001.seg`), rolled by size.
Beside each segment:

- `.idx`: a sparse index, (seq u64, byte offset u64) pairs, so a reader can
  seek to a sequence number without scanning the segment;
- `.sum`: written when a segment is closed by a roll, a JSON summary of the
  journal up to its end (last seq and time, each source's last number,
  stopped or not), so a restart scans only the segments after it.

Index and summary are hints: they are rebuilt or ignored when they disagree
with the segments, which are the truth.

Recovery on open (`JournalWriter.open`) checks every segment without a
summary (normally just the last one). A bad frame with no valid frame after
it is a torn tail: it is truncated, with a report of the bytes dropped and the
last good sequence number. A bad frame *followed* by valid frames is damage in
the middle of the record: it is refused (`JournalCorruption`, naming the file,
byte offset and sequence number) and never truncated silently.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from sequencer import frames
from sequencer.frames import HEADER, HEADER_SIZE, MAGIC_BYTES, Frame

SEGMENT_SUFFIX = ".seg"
INDEX_SUFFIX = ".idx"
SUMMARY_SUFFIX = ".sum"
INDEX_ENTRY = struct.Struct("<QQ")

DEFAULT_SEGMENT_BYTES = 64 << 20
DEFAULT_INDEX_EVERY_BYTES = 64 << 10

_unpack_header = HEADER.unpack_from
_SEQ_LEN = struct.Struct("<8xQ56xI")  # a frame's seq and payload length


class FsyncPolicy(StrEnum):
    ALWAYS = "always"  # each batch of frames durable before it is published (batch of one)
    GROUP = "group"  # group commit: fsync batches bounded by time or bytes
    NONE = "none"  # written before publish; the OS decides when it is durable


class JournalCorruption(Exception):
    """Damage that recovery must not repair silently."""

    def __init__(self, path: Path, offset: int, seq: int, why: str) -> None:
        self.path = path
        self.offset = offset
        self.seq = seq
        self.why = why
        super().__init__(
            f"journal damaged in {path} at byte offset {offset} "
            f"(frame seq {seq} expected there): {why}"
        )


@dataclass
class JournalState:
    """What a writer must know to continue a journal."""

    last_seq: int = 0
    last_ts: int = 0
    sources: dict[int, int] = field(default_factory=dict)  # source id -> last source seq
    stopped: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "last_seq": self.last_seq,
                "last_ts": self.last_ts,
                "sources": {str(k): v for k, v in sorted(self.sources.items())},
                "stopped": self.stopped,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JournalState:
        d = json.loads(text)
        return cls(
            last_seq=int(d["last_seq"]),
            last_ts=int(d["last_ts"]),
            sources={int(k): int(v) for k, v in d["sources"].items()},
            stopped=bool(d["stopped"]),
        )


@dataclass
class RecoveryReport:
    """What recovery found and did."""

    segments: int = 0
    frames_scanned: int = 0
    truncated_bytes: int = 0
    truncated_file: str = ""
    truncated_reason: str = ""
    last_good_seq: int = 0


# --------------------------------------------------------------------------- layout


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def resolve_journal_dir(path: Path) -> Path:
    """Accept a day folder, a journal folder or a segment file; return the journal folder."""
    path = Path(path)
    if path.is_file() and path.suffix == SEGMENT_SUFFIX:
        return path.parent
    if (path / "journal").is_dir():
        return path / "journal"
    if path.is_dir():
        return path
    raise FileNotFoundError(f"no journal at {path} (expected a day folder, journal folder or .seg)")


def list_segments(jdir: Path) -> list[Path]:
    segs = sorted(p for p in jdir.iterdir() if p.suffix == SEGMENT_SUFFIX)
    return segs


def segment_first_seq(path: Path) -> int:
    return int(path.stem)


# --------------------------------------------------------------------------- scanning


def _find_valid_frame_after(data: bytes | memoryview, start: int) -> int | None:
    """Offset of the first whole valid frame at or after `start`, if any."""
    raw = bytes(data) if isinstance(data, memoryview) else data
    pos = raw.find(MAGIC_BYTES, start)
    while pos != -1:
        if frames.check_at(raw, pos) is None:
            return pos
        pos = raw.find(MAGIC_BYTES, pos + 1)
    return None


@dataclass
class SegmentScan:
    path: Path
    frames: int = 0
    valid_end: int = 0  # offset just past the last whole valid frame
    size: int = 0
    last_seq: int = 0
    last_ts: int = 0
    bad_offset: int = -1  # -1: the whole file is whole frames
    bad_reason: str = ""
    resumes_at: int | None = None  # a valid frame after the damage: mid-file corruption
    index: list[tuple[int, int]] = field(default_factory=list)


def scan_segment(
    path: Path,
    expect_seq: int,
    last_ts: int,
    state: JournalState | None = None,
    index_every: int = DEFAULT_INDEX_EVERY_BYTES,
) -> SegmentScan:
    """Check every frame of one segment: checksum, continuity, time order.

    Updates `state` (sources, stop) for the frames found whole and valid.
    """
    data = path.read_bytes()
    scan = SegmentScan(path=path, size=len(data), last_seq=expect_seq - 1, last_ts=last_ts)
    off = 0
    n = len(data)
    next_index = 0
    sources = state.sources if state is not None else None
    stop_type = _stop_type_id()
    while off < n:
        why = frames.check_at(data, off)
        if why is None:
            h = _unpack_header(data, off)
            seq, ts = h[2], h[3]
            if seq != scan.last_seq + 1:
                why = f"sequence number {seq} where {scan.last_seq + 1} was expected"
            elif ts < scan.last_ts:
                why = f"timestamp {ts} goes back from {scan.last_ts}"
        if why is not None:
            scan.bad_offset = off
            scan.bad_reason = why
            scan.resumes_at = _find_valid_frame_after(data, off + 1)
            break
        if off >= next_index:
            scan.index.append((seq, off))
            next_index = off + index_every
        if sources is not None:
            sources[h[5]] = h[8]
            if h[6] == stop_type and state is not None:
                state.stopped = True
        scan.last_seq = seq
        scan.last_ts = ts
        scan.frames += 1
        off += HEADER_SIZE + h[12]
    scan.valid_end = off if scan.bad_offset < 0 else scan.bad_offset
    return scan


def _stop_type_id() -> int:
    from sequencer.messages import TYPE_ID
    from sequencer.messages.control import SystemStop

    return TYPE_ID[SystemStop]


# --------------------------------------------------------------------------- writer


class JournalWriter:
    """The single writer of a journal (the sequencer owns one)."""

    def __init__(
        self,
        jdir: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        index_every_bytes: int = DEFAULT_INDEX_EVERY_BYTES,
    ) -> None:
        self.dir = Path(jdir)
        self.segment_bytes = segment_bytes
        self.index_every_bytes = index_every_bytes
        self.state = JournalState()
        self.report = RecoveryReport()
        self._fd = -1
        self._idx_fd = -1
        self._seg_path: Path | None = None
        self._seg_size = 0
        self._next_index_at = 0
        self._unsynced = 0

    # ---- open and recover

    def open(self) -> RecoveryReport:
        """Recover the journal (truncating a torn tail) and get ready to append."""
        self.dir.mkdir(parents=True, exist_ok=True)
        segs = list_segments(self.dir)
        state = JournalState()
        # Start from the newest summary that sits before the last segment.
        start = 0
        for i in range(len(segs) - 2, -1, -1):
            sum_path = segs[i].with_suffix(SUMMARY_SUFFIX)
            if sum_path.exists():
                try:
                    hint = JournalState.from_json(sum_path.read_text())
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue  # a garbled summary is only a lost hint
                if hint.last_seq != segment_first_seq(segs[i + 1]) - 1:
                    continue  # disagrees with the segments, which are the truth
                state = hint
                start = i + 1
                break
        report = RecoveryReport(segments=len(segs))
        for i in range(start, len(segs)):
            seg = segs[i]
            first = segment_first_seq(seg)
            if first != state.last_seq + 1:
                raise JournalCorruption(
                    seg, 0, state.last_seq + 1,
                    f"segment starts at seq {first}, the journal so far ends at {state.last_seq}",
                )
            scan = scan_segment(seg, first, state.last_ts, state, self.index_every_bytes)
            report.frames_scanned += scan.frames
            is_last = i == len(segs) - 1
            if scan.bad_offset >= 0:
                if scan.resumes_at is not None or not is_last:
                    raise JournalCorruption(
                        seg, scan.bad_offset, scan.last_seq + 1, scan.bad_reason
                    )
                # Torn or corrupt tail: nothing whole follows it. Truncate.
                report.truncated_bytes = scan.size - scan.valid_end
                report.truncated_file = str(seg)
                report.truncated_reason = scan.bad_reason
                with open(seg, "r+b") as f:
                    f.truncate(scan.valid_end)
                    os.fsync(f.fileno())
            state.last_seq = scan.last_seq
            state.last_ts = scan.last_ts
            if is_last:
                self._rewrite_index(seg, scan.index)
        report.last_good_seq = state.last_seq
        self.state = state
        self.report = report
        if segs:
            last = segs[-1]
            if last.stat().st_size == 0 and len(segs) > 1:
                # An empty last segment (crash right after a roll) is simply reused.
                pass
            self._open_segment(last)
        return report

    def _rewrite_index(self, seg: Path, entries: list[tuple[int, int]]) -> None:
        idx = seg.with_suffix(INDEX_SUFFIX)
        idx.write_bytes(b"".join(INDEX_ENTRY.pack(s, o) for s, o in entries))

    def _open_segment(self, path: Path) -> None:
        self._close_fds()
        self._seg_path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._idx_fd = os.open(
            path.with_suffix(INDEX_SUFFIX), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        self._seg_size = os.fstat(self._fd).st_size
        idx_size = os.fstat(self._idx_fd).st_size
        if idx_size >= INDEX_ENTRY.size:
            with open(path.with_suffix(INDEX_SUFFIX), "rb") as f:
                f.seek(idx_size - INDEX_ENTRY.size)
                _, last_off = INDEX_ENTRY.unpack(f.read(INDEX_ENTRY.size))
            self._next_index_at = last_off + self.index_every_bytes
        else:
            self._next_index_at = 0

    def _close_fds(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._idx_fd >= 0:
            os.close(self._idx_fd)
            self._idx_fd = -1

    def _roll(self, first_seq: int) -> None:
        if self._seg_path is not None:
            os.fsync(self._fd)
            self._seg_path.with_suffix(SUMMARY_SUFFIX).write_text(self.state.to_json())
        self._open_segment(self.dir / segment_name(first_seq))
        fsync_dir(self.dir)

    # ---- append

    def append(self, batch: bytes | bytearray, first_seq: int) -> None:
        """Write a batch of whole frames whose first frame has `first_seq`.

        The caller keeps `state` (last seq and time, sources) up to date; the
        writer only places bytes, rolls segments and keeps the index.
        """
        if self._seg_path is None or (
            self._seg_size > 0 and self._seg_size + len(batch) > self.segment_bytes
        ):
            self._roll(first_seq)
        if self._seg_size >= self._next_index_at:
            os.write(self._idx_fd, INDEX_ENTRY.pack(first_seq, self._seg_size))
            self._next_index_at = self._seg_size + self.index_every_bytes
        view = memoryview(batch)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._seg_size += len(batch)
        self._unsynced += len(batch)

    @property
    def unsynced_bytes(self) -> int:
        return self._unsynced

    def sync(self) -> None:
        """Make everything appended so far durable (fdatasync)."""
        if self._unsynced and self._fd >= 0:
            os.fdatasync(self._fd)
        self._unsynced = 0

    def close(self) -> None:
        if self._fd >= 0:
            self.sync()
        self._close_fds()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (new files, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- reader


class JournalReader:
    """Reads frames in order from a journal, and can follow it as it grows.

    `read(max_frames)` returns the whole frames available now (possibly none)
    and never blocks; a frame still being written is left for a later call.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path, from_seq: int = 1) -> None:
        self.dir = resolve_journal_dir(Path(path))
        self.next_seq = max(1, from_seq)
        self._f: BinaryIO | None = None
        self._seg: Path | None = None
        self._buf = b""
        self._pos = 0  # file offset of the start of _buf

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _locate(self) -> bool:
        """Open the segment holding `next_seq` and seek near it. False if not there yet."""
        segs = list_segments(self.dir)
        chosen: Path | None = None
        for s in segs:
            if segment_first_seq(s) <= self.next_seq:
                chosen = s
            else:
                break
        if chosen is None:
            return False
        offset = 0
        idx = chosen.with_suffix(INDEX_SUFFIX)
        if idx.exists():
            raw = idx.read_bytes()
            for i in range(0, len(raw) - INDEX_ENTRY.size + 1, INDEX_ENTRY.size):
                s, o = INDEX_ENTRY.unpack_from(raw, i)
                if s <= self.next_seq:
                    offset = o
                else:
                    break
        self.close()
        self._f = open(chosen, "rb")  # noqa: SIM115 - kept open across calls while following
        self._f.seek(offset)
        self._seg = chosen
        self._pos = offset
        self._buf = b""
        return True

    def _next_segment(self) -> Path | None:
        """The segment after the current one, if it exists yet."""
        assert self._seg is not None
        want = self.dir / segment_name(self.next_seq)
        if want.exists() and want != self._seg:
            return want
        later = [s for s in list_segments(self.dir) if s.name > self._seg.name]
        return later[0] if later else None

    def read(self, max_frames: int = 65536) -> list[Frame]:
        out: list[Frame] = []
        for raw in self.read_raw(max_frames):
            out.append(frames.parse_at(raw, 0))
        return out

    def read_raw(self, max_frames: int = 65536) -> list[bytes]:
        """Like `read`, but the frames' bytes exactly as journaled."""
        out: list[bytes] = []
        if self._f is None and not self._locate():
            return out
        while len(out) < max_frames:
            buf = self._buf
            off = 0
            n = len(buf)
            # The hot loop of every replay and catch-up: one unpack and one slice a frame.
            unpack = _SEQ_LEN.unpack_from
            append = out.append
            want = self.next_seq
            room = max_frames - len(out)
            while off + HEADER_SIZE <= n and room:
                seq, end = unpack(buf, off)
                end += off + HEADER_SIZE
                if end > n:
                    break
                if seq >= want:
                    if seq != want:
                        self.next_seq = want
                        raise JournalCorruption(
                            self._seg or self.dir, self._pos + off, want,
                            f"found seq {seq} while reading",
                        )
                    append(buf[off:end])
                    want += 1
                    room -= 1
                off = end
            self.next_seq = want
            self._buf = buf[off:]
            self._pos += off
            if len(out) >= max_frames:
                break
            assert self._f is not None
            more = self._f.read(self.CHUNK)
            if more:
                self._buf += more
                continue
            # End of this segment for now: move on if the next one exists.
            nxt = self._next_segment()
            if nxt is None or self._buf:
                break
            first = segment_first_seq(nxt)
            if first != self.next_seq:
                # The writer finished this segment before `nxt` appeared: take its last
                # bytes first. Then `nxt` may start before `next_seq` (reading from a seq
                # past the end), never after it (segments missing).
                more = self._f.read(self.CHUNK)
                if more:
                    self._buf += more
                    continue
                if first > self.next_seq:
                    raise JournalCorruption(
                        nxt, 0, self.next_seq,
                        f"segment starts at seq {first}: seq {self.next_seq}..{first - 1} missing",
                    )
            self.close()
            self._f = open(nxt, "rb")  # noqa: SIM115 - kept open across calls while following
            self._seg = nxt
            self._pos = 0
        return out

    def __iter__(self) -> Iterator[Frame]:
        while True:
            batch = self.read()
            if not batch:
                return
            yield from batch


def read_all(path: Path, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Frame]:
    """Every frame of a journal from `from_seq` up to `to_seq` inclusive."""
    with JournalReader(path, from_seq) as r:
        for f in r:
            if to_seq is not None and f.seq > to_seq:
                return
            yield f


# --------------------------------------------------------------------------- verify


@dataclass
class Damage:
    file: str
    offset: int
    seq: int
    what: str


@dataclass
class VerifyReport:
    segments: int = 0
    frames: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    damage: list[Damage] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.damage


def verify(path: Path) -> VerifyReport:
    """Check every frame: checksum, sequence continuity, timestamps never decreasing."""
    jdir = resolve_journal_dir(Path(path))
    segs = list_segments(jdir)
    rep = VerifyReport(segments=len(segs))
    expect = 1
    last_ts = 0
    for i, seg in enumerate(segs):
        first = segment_first_seq(seg)
        if first != expect:
            rep.damage.append(
                Damage(str(seg), 0, expect, f"segment starts at seq {first}, expected {expect}")
            )
            expect = first
        scan = scan_segment(seg, expect, last_ts)
        rep.frames += scan.frames
        rep.bytes += scan.size
        if scan.frames and rep.first_seq == 0:
            rep.first_seq = expect
        if scan.bad_offset >= 0:
            where = "torn tail" if scan.resumes_at is None and i == len(segs) - 1 else "corrupt"
            rep.damage.append(
                Damage(
                    str(seg), scan.bad_offset, scan.last_seq + 1,
                    f"{where}: {scan.bad_reason} ({scan.size - scan.bad_offset} bytes from there)",
                )
            )
        expect = scan.last_seq + 1
        last_ts = scan.last_ts
        rep.last_seq = scan.last_seq if scan.frames else rep.last_seq
    return rep
