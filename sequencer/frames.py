"""The frame: one sequenced message as it sits in the journal and on the stream.

Layout (little-endian, 80-byte header, then the payload):

    off size field
      0   4  magic       b"TPF1"
      4   4  checksum    CRC-32 of every byte after this field (header and payload)
      8   8  seq         sequence number, 1 for the day's first frame
     16   8  ts_ns       sequencer timestamp (stream time), never decreasing
     24   8  recv_ns     telemetry: wall time the sequencer received the input
    --- the input record: exactly the bytes a publisher offered -------------
     32   4  source_id   who published it (0 is the sequencer itself)
     36   2  type_id     message type (`sequencer.messages`)
     38   2  flags       reserved for later use, 0 today
     40   8  source_seq  the publisher's own number, from 1, for dedup and gaps
     48   8  cause_seq   seq of the frame that caused this message (0: none)
     56   8  sent_ns     telemetry: wall time the publisher offered it
     64   8  event_ns    time the event happened at its origin (drives `sim` time), 0 if none
     72   4  length      payload length in bytes
     76   4  proc_ns     telemetry: ns the publisher spent from receiving the frame
                         `cause_seq` to offering this one (saturates; 0 if none)
     80   .  payload     msgpack of the message

The sequencer turns an input record into a frame by prefixing 32 bytes, so it
never re-encodes what a publisher sent. Telemetry fields (`recv_ns`,
`sent_ns`, `proc_ns`) are covered by the checksum but ignored when comparing
outputs for determinism, so replays stay identical while live latency stays
visible.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

MAGIC = 0x31465054  # b"TPF1" read as little-endian u32
MAGIC_BYTES = struct.pack("<I", MAGIC)

PREFIX = struct.Struct("<IIQqq")  # magic, crc, seq, ts_ns, recv_ns
STAMP = struct.Struct("<Qqq")  # seq, ts_ns, recv_ns: the checksummed part of the prefix
INPUT = struct.Struct("<IHHQQqqII")  # source_id .. proc_ns
HEADER = struct.Struct("<IIQqqIHHQQqqII")  # the whole 80-byte header
#: What a follower of the stream routes a frame by: ts_ns, source_id, type_id, source_seq.
ROUTE = struct.Struct("<16xq8xIH2xQ")
PREFIX_SIZE = PREFIX.size
INPUT_SIZE = INPUT.size
HEADER_SIZE = HEADER.size
assert PREFIX_SIZE + INPUT_SIZE == HEADER_SIZE == 80

#: Largest payload a frame may carry; bigger inputs are refused at the sequencer.
MAX_PAYLOAD = 1 << 20

_crc32 = zlib.crc32
_pack_prefix = PREFIX.pack
_pack_stamp = STAMP.pack
_unpack_header = HEADER.unpack_from


class Frame(NamedTuple):
    """A decoded frame header plus its payload bytes."""

    seq: int
    ts_ns: int
    recv_ns: int
    source_id: int
    type_id: int
    flags: int
    source_seq: int
    cause_seq: int
    sent_ns: int
    event_ns: int
    payload: bytes
    proc_ns: int = 0

    @property
    def size(self) -> int:
        return HEADER_SIZE + len(self.payload)


class FrameError(ValueError):
    """Bytes that are not a whole, valid frame."""


def encode_input(
    source_id: int,
    type_id: int,
    source_seq: int,
    payload: bytes,
    *,
    cause_seq: int = 0,
    sent_ns: int = 0,
    event_ns: int = 0,
    flags: int = 0,
    proc_ns: int = 0,
) -> bytes:
    """The input record a publisher offers to the sequencer."""
    return (
        INPUT.pack(
            source_id, type_id, flags, source_seq, cause_seq, sent_ns, event_ns, len(payload),
            min(proc_ns, 0xFFFFFFFF),
        )
        + payload
    )


def stamp(record: bytes, seq: int, ts_ns: int, recv_ns: int) -> bytes:
    """Turn an input record into a frame (what the sequencer does to each input)."""
    crc = _crc32(record, _crc32(_pack_stamp(seq, ts_ns, recv_ns)))
    return _pack_prefix(MAGIC, crc, seq, ts_ns, recv_ns) + record


def encode_frame(
    seq: int,
    ts_ns: int,
    source_id: int,
    type_id: int,
    source_seq: int,
    payload: bytes,
    *,
    recv_ns: int = 0,
    cause_seq: int = 0,
    sent_ns: int = 0,
    event_ns: int = 0,
    proc_ns: int = 0,
) -> bytes:
    record = encode_input(
        source_id, type_id, source_seq, payload, cause_seq=cause_seq, sent_ns=sent_ns,
        event_ns=event_ns, proc_ns=proc_ns,
    )
    return stamp(record, seq, ts_ns, recv_ns)


def frame_length_at(buf: bytes | bytearray | memoryview, off: int) -> int:
    """Total length of the frame starting at `off` per its header, or -1 if the header is cut."""
    if len(buf) - off < HEADER_SIZE:
        return -1
    length: int = struct.unpack_from("<I", buf, off + 72)[0]
    return HEADER_SIZE + length


def check_at(buf: bytes | bytearray | memoryview, off: int) -> str | None:
    """None if a whole valid frame starts at `off`, else why not."""
    avail = len(buf) - off
    if avail < HEADER_SIZE:
        return f"only {avail} bytes left, a frame header needs {HEADER_SIZE}"
    magic, crc = struct.unpack_from("<II", buf, off)
    if magic != MAGIC:
        return f"bad magic 0x{magic:08x}"
    (length,) = struct.unpack_from("<I", buf, off + 72)
    if length > MAX_PAYLOAD:
        return f"payload length {length} is over the {MAX_PAYLOAD} limit"
    end = off + HEADER_SIZE + length
    if end > len(buf):
        return f"frame needs {HEADER_SIZE + length} bytes, only {avail} left"
    if _crc32(memoryview(buf)[off + 8 : end]) != crc:
        return "checksum mismatch"
    return None


def parse_at(buf: bytes | bytearray | memoryview, off: int) -> Frame:
    """The frame at `off`, assumed already checked (see `check_at`)."""
    h = _unpack_header(buf, off)
    end = off + HEADER_SIZE + h[12]
    payload = bytes(buf[off + HEADER_SIZE : end])
    return Frame(h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], payload, h[13])


def decode_frame(raw: bytes) -> Frame:
    """Check and parse one whole frame."""
    why = check_at(raw, 0)
    if why is not None:
        raise FrameError(why)
    return parse_at(raw, 0)


def iter_frames(buf: bytes | bytearray | memoryview, verify: bool = True) -> list[Frame]:
    """Every frame in a buffer of concatenated whole frames (a stream batch)."""
    out: list[Frame] = []
    off = 0
    n = len(buf)
    while off < n:
        if verify:
            why = check_at(buf, off)
            if why is not None:
                raise FrameError(f"at byte {off}: {why}")
        f = parse_at(buf, off)
        out.append(f)
        off += HEADER_SIZE + len(f.payload)
    return out


def frame_bytes_equal_ignoring_telemetry(a: bytes, b: bytes) -> bool:
    """Equal as the determinism check sees frames: all but checksum and telemetry."""
    if len(a) != len(b):
        return False
    return (
        a[:4] == b[:4] and a[8:24] == b[8:24] and a[32:56] == b[32:56]
        and a[64:76] == b[64:76] and a[80:] == b[80:]
    )
