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
byte offset and sequence number) and never truncated silently. So is a segment
missing, in the middle or at the start: the segments a summary lets recovery
skip must still follow one another, by their summaries or, failing those, a scan.

Readers (`JournalReader`, `read_all`) check every frame they return by default:
its magic, its CRC-32 and that its seq is the next one (none missing, none
repeated), raising `JournalCorruption` at the first damaged frame. The check
is most of a replay's reading cost (about 0.3 microseconds a frame here);
`verify=False` skips it.
"""

from __future__ import annotations

import itertools
import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, NoReturn

from sequencer import frames
from sequencer.frames import HEADER, HEADER_SIZE, MAGIC, MAGIC_BYTES, MAX_PAYLOAD, Frame

SEGMENT_SUFFIX = ".seg"
INDEX_SUFFIX = ".idx"
SUMMARY_SUFFIX = ".sum"
INDEX_ENTRY = struct.Struct("<QQ")

DEFAULT_SEGMENT_BYTES = 64 << 20
DEFAULT_INDEX_EVERY_BYTES = 64 << 10

_unpack_header = HEADER.unpack_from
_SEQ_LEN = struct.Struct("<8xQ56xI")  # a frame's seq and payload length
_CHECKED = struct.Struct("<IIQ56xI")  # a frame's magic, checksum, seq and payload length
_seq_of = struct.Struct("<8xQ").unpack_from
_crc32 = zlib.crc32


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


def resolve_journal_dir(path: Path, *, strict: bool = False) -> Path:
    """Accept a day folder, a journal folder or a segment file; return the journal folder.

    With `strict` (the commands that read a day), any other folder is refused unless it is
    named `journal` or holds segments: a wrong folder is an error, not an empty journal.
    """
    path = Path(path)
    if path.is_file() and path.suffix == SEGMENT_SUFFIX:
        return path.parent
    if (path / "journal").is_dir():
        return path / "journal"
    if path.is_dir() and (not strict or path.name == "journal"
                          or any(p.suffix == SEGMENT_SUFFIX for p in path.iterdir())):
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


def _check_skipped(segs: list[Path], start: int) -> None:
    """The segments before `segs[start]`, which a summary lets recovery skip, must still
    follow one another from seq 1: a segment file gone from the middle of the journal is
    refused, as `verify` reports it. Each segment's summary says where it ends; one
    without a summary that agrees is scanned."""
    if not start:
        return  # recovery scans them all, checking the same
    first = segment_first_seq(segs[0])
    if first != 1:
        raise JournalCorruption(
            segs[0], 0, 1, f"the first segment starts at seq {first}: seq 1..{first - 1} missing"
        )
    for seg, nxt in itertools.pairwise(segs[:start]):
        nxt_first = segment_first_seq(nxt)
        try:
            last = JournalState.from_json(seg.with_suffix(SUMMARY_SUFFIX).read_text()).last_seq
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            last = -1  # no summary, or a garbled one: only a lost hint
        if last != nxt_first - 1:
            scan = scan_segment(seg, segment_first_seq(seg), 0)
            if scan.bad_offset >= 0:
                raise JournalCorruption(seg, scan.bad_offset, scan.last_seq + 1,
                                        scan.bad_reason)
            last = scan.last_seq
        if last != nxt_first - 1:
            raise JournalCorruption(
                nxt, 0, last + 1,
                f"segment starts at seq {nxt_first}, the one before it ends at seq {last}: "
                f"seq {last + 1}..{nxt_first - 1} missing (a segment file gone?)",
            )


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
        _check_skipped(segs, start)
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
        old = self._seg_path
        if old is not None:
            os.fsync(self._fd)
            # Written whole or not at all (a full disk must not leave half a summary).
            summary = old.with_suffix(SUMMARY_SUFFIX)
            tmp = summary.with_suffix(".sum.tmp")
            try:
                tmp.write_text(self.state.to_json())
                tmp.replace(summary)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
        try:
            self._open_segment(self.dir / segment_name(first_seq))
            fsync_dir(self.dir)
        except OSError:
            # No new segment after all: go on with the old one, as before the roll.
            if old is not None:
                self._open_segment(old)
            raise

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
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            # A full disk (or another write error) mid-batch: take back the part written,
            # so the segment still ends with a whole frame and the batch can be tried again.
            os.ftruncate(self._fd, self._seg_size)
            raise
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

    With `verify` (the default) every frame returned has been checked: its
    magic and CRC-32, and its seq is the one expected (no frame missing, none
    repeated). Damage raises `JournalCorruption` naming the file, the byte
    offset and the first seq it stops. `verify=False` keeps only the cheap
    continuity checks of the scan, for speed: a frame below the expected seq
    is stepped over, and a checksum is never computed.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path, from_seq: int = 1, *, verify: bool = True) -> None:
        self.dir = resolve_journal_dir(Path(path))
        self.next_seq = max(1, from_seq)
        self.verify = verify
        self._f: BinaryIO | None = None
        self._seg: Path | None = None
        self._buf = b""
        self._pos = 0  # file offset of the start of _buf
        # After a seek by the index the frames before `next_seq` are stepped over; once the
        # reader has reached `next_seq`, a frame below it is a duplicate (verified reader).
        self._seeking = True

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
        offset = at_seq = 0
        idx = chosen.with_suffix(INDEX_SUFFIX)
        if idx.exists():
            raw = idx.read_bytes()
            for i in range(0, len(raw) - INDEX_ENTRY.size + 1, INDEX_ENTRY.size):
                s, o = INDEX_ENTRY.unpack_from(raw, i)
                if s <= self.next_seq:
                    offset, at_seq = o, s
                else:
                    break
        self.close()
        self._f = open(chosen, "rb")  # noqa: SIM115 - kept open across calls while following
        if offset:
            # The index is a hint: an entry that does not point at a frame start is ignored.
            self._f.seek(offset)
            head = self._f.read(HEADER_SIZE)
            if len(head) < HEADER_SIZE or head[:4] != MAGIC_BYTES or _seq_of(head)[0] != at_seq:
                offset = 0
        self._f.seek(offset)
        self._seg = chosen
        self._pos = offset
        self._buf = b""
        self._seeking = True
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
        """Like `read`, but the frames' bytes exactly as journaled.

        Damage raises `JournalCorruption`; the whole frames before it are returned first
        (the reader stays at the damage, so the next call raises)."""
        out: list[bytes] = []
        try:
            self._read_raw(out, max_frames)
        except JournalCorruption:
            if not out:
                raise
        return out

    def _read_raw(self, out: list[bytes], max_frames: int) -> None:
        if self._f is None and not self._locate():
            return
        take = self._take_checked if self.verify else self._take
        while len(out) < max_frames:
            take(out, max_frames)
            if len(out) >= max_frames:
                break
            assert self._f is not None
            more = self._f.read(self.CHUNK)
            if more:
                self._buf += more
                continue
            # End of this segment for now: move on if the next one exists.
            nxt = self._next_segment()
            if nxt is None:
                break
            # The writer creates `nxt` only after its last write to this segment, so one
            # more read takes whatever it wrote here after our last look.
            more = self._f.read(self.CHUNK)
            if more:
                self._buf += more
                continue
            if self._buf:
                if not self.verify:
                    break
                raise JournalCorruption(
                    self._seg or self.dir, self._pos, self.next_seq,
                    f"the segment ends inside a frame ({len(self._buf)} bytes left), "
                    f"and {nxt.name} follows it",
                )
            first = segment_first_seq(nxt)
            # `nxt` may start before `next_seq` (reading from a seq past the end), never
            # after it (segments missing).
            if first > self.next_seq:
                raise JournalCorruption(
                    nxt, 0, self.next_seq,
                    f"segment starts at seq {first}: seq {self.next_seq}..{first - 1} missing",
                )
            self.close()
            self._f = open(nxt, "rb")  # noqa: SIM115 - kept open across calls while following
            self._seg = nxt
            self._pos = 0

    def _take(self, out: list[bytes], max_frames: int) -> None:
        """Move the whole frames of the buffer to `out`, unchecked (`verify=False`)."""
        buf = self._buf
        off = 0
        n = len(buf)
        # The hot loop of every unverified replay: one unpack and one slice a frame.
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

    def _take_checked(self, out: list[bytes], max_frames: int) -> None:
        """Move the whole frames of the buffer to `out`, each checked: magic, CRC-32 and
        seq (the next one, exactly)."""
        buf = self._buf
        off = 0
        n = len(buf)
        want = self.next_seq
        unpack = _CHECKED.unpack_from
        if self._seeking:
            # After a seek: step over the frames before `next_seq` (not returned, so their
            # checksums are not needed; their framing is, to find the next one).
            while off + HEADER_SIZE <= n:
                magic, _crc, seq, length = unpack(buf, off)
                if magic != MAGIC or length > MAX_PAYLOAD:
                    self._damaged(off, self._why(buf, off, want))
                if seq >= want:
                    self._seeking = False
                    break
                end = off + HEADER_SIZE + length
                if end > n:
                    break
                off = end
            if self._seeking:
                self._buf = buf[off:]
                self._pos += off
                return
        # The hot loop of every replay and catch-up: one unpack, one CRC and one slice a
        # frame (the CRC is most of the cost; `verify=False` skips it).
        crc32 = _crc32
        append = out.append
        room = max_frames - len(out)
        while off + HEADER_SIZE <= n and room:
            magic, crc, seq, length = unpack(buf, off)
            end = off + HEADER_SIZE + length
            if end > n:
                if magic != MAGIC or length > MAX_PAYLOAD:
                    self.next_seq = want
                    self._damaged(off, self._why(buf, off, want))
                break  # a frame still being written
            if seq != want or magic != MAGIC or crc32(buf[off + 8 : end]) != crc:
                self.next_seq = want
                self._damaged(off, self._why(buf, off, want))
            append(buf[off:end])
            want += 1
            room -= 1
            off = end
        self.next_seq = want
        self._buf = buf[off:]
        self._pos += off

    def _damaged(self, off: int, why: str) -> NoReturn:
        """Stop at the bad frame at `off` in the buffer: a later read raises the same."""
        self._buf = self._buf[off:]
        self._pos += off
        raise JournalCorruption(self._seg or self.dir, self._pos, self.next_seq, why)

    @staticmethod
    def _why(buf: bytes, off: int, want: int) -> str:
        """What is wrong with the frame at `off`, where seq `want` was expected."""
        why = frames.check_at(buf, off)
        if why is not None:
            return why
        seq = _seq_of(buf, off)[0]
        if seq < want:
            return f"a duplicated frame: seq {seq} again where {want} was expected"
        return f"seq {want}..{seq - 1} missing: found seq {seq}"

    def __iter__(self) -> Iterator[Frame]:
        while True:
            batch = self.read()
            if not batch:
                return
            yield from batch


def read_all(path: Path, from_seq: int = 1, to_seq: int | None = None, *,
             verify: bool = True) -> Iterator[Frame]:
    """Every frame of a journal from `from_seq` up to `to_seq` inclusive.

    Nothing after `to_seq` is read, so damage there does not stop it."""
    with JournalReader(path, from_seq, verify=verify) as r:
        while True:
            room = 65536 if to_seq is None else min(65536, to_seq - r.next_seq + 1)
            if room <= 0:
                return
            batch = r.read(room)
            if not batch:
                return
            yield from batch


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
