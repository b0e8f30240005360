"""Frames: stamping, encoding, decoding, checksums and the determinism comparison."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sequencer import frames
from sequencer.frames import (
    HEADER_SIZE,
    MAGIC_BYTES,
    MAX_PAYLOAD,
    Frame,
    FrameError,
    check_at,
    decode_frame,
    encode_frame,
    encode_input,
    frame_bytes_equal_ignoring_telemetry,
    frame_length_at,
    iter_frames,
    stamp,
)

U16 = st.integers(0, 2**16 - 1)
U32 = st.integers(0, 2**32 - 1)
U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
PAYLOAD = st.binary(max_size=300)

# Byte ranges the determinism comparison must ignore: the checksum and the telemetry.
CRC = range(4, 8)
RECV_NS = range(24, 32)
SENT_NS = range(56, 64)
PROC_NS = range(76, 80)
IGNORED = set(CRC) | set(RECV_NS) | set(SENT_NS) | set(PROC_NS)


@st.composite
def frame_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "seq": draw(U64),
        "ts_ns": draw(I64),
        "recv_ns": draw(I64),
        "source_id": draw(U32),
        "type_id": draw(U16),
        "source_seq": draw(U64),
        "cause_seq": draw(U64),
        "sent_ns": draw(I64),
        "event_ns": draw(I64),
        "proc_ns": draw(U32),
        "payload": draw(PAYLOAD),
    }


def build(f: dict[str, Any]) -> bytes:
    record = encode_input(
        f["source_id"], f["type_id"], f["source_seq"], f["payload"], cause_seq=f["cause_seq"],
        sent_ns=f["sent_ns"], event_ns=f["event_ns"], proc_ns=f["proc_ns"],
    )
    return stamp(record, f["seq"], f["ts_ns"], f["recv_ns"])


def flip(raw: bytes, off: int, mask: int = 0xFF) -> bytes:
    b = bytearray(raw)
    b[off] ^= mask
    return bytes(b)


# --------------------------------------------------------------------------- round trip


@settings(max_examples=200, deadline=None)
@given(f=frame_fields())
def test_encode_decode_round_trip(f: dict[str, Any]) -> None:
    raw = build(f)
    assert len(raw) == HEADER_SIZE + len(f["payload"])
    assert raw[:4] == MAGIC_BYTES == b"TPF1"
    got = decode_frame(raw)
    assert got == Frame(
        f["seq"], f["ts_ns"], f["recv_ns"], f["source_id"], f["type_id"], 0, f["source_seq"],
        f["cause_seq"], f["sent_ns"], f["event_ns"], f["payload"], proc_ns=f["proc_ns"],
    )
    assert got.size == len(raw)
    assert frame_length_at(raw, 0) == len(raw)
    assert frames.ROUTE.unpack_from(raw) == (
        f["ts_ns"], f["source_id"], f["type_id"], f["source_seq"])


@settings(max_examples=200, deadline=None)
@given(f=frame_fields())
def test_stamp_prefixes_the_input_record_unchanged(f: dict[str, Any]) -> None:
    record = encode_input(
        f["source_id"], f["type_id"], f["source_seq"], f["payload"],
        cause_seq=f["cause_seq"], sent_ns=f["sent_ns"], event_ns=f["event_ns"],
        proc_ns=f["proc_ns"],
    )
    assert len(record) == frames.INPUT_SIZE + len(f["payload"])
    raw = stamp(record, f["seq"], f["ts_ns"], f["recv_ns"])
    assert raw[frames.PREFIX_SIZE :] == record
    assert raw == build(f)
    # The checksum covers every byte after it.
    (crc,) = struct.unpack_from("<I", raw, 4)
    assert crc == zlib.crc32(raw[8:])
    # encode_frame is the same thing in one call.
    assert encode_frame(
        f["seq"], f["ts_ns"], f["source_id"], f["type_id"], f["source_seq"], f["payload"],
        recv_ns=f["recv_ns"], cause_seq=f["cause_seq"], sent_ns=f["sent_ns"],
        event_ns=f["event_ns"],
    ) == build({**f, "proc_ns": 0})


def test_header_layout_is_pinned() -> None:
    record = encode_input(44, 33, 66, b"xyz", cause_seq=77, sent_ns=88, event_ns=99, proc_ns=5)
    raw = stamp(record, 0x0102030405060708, 11, 22)
    fields = struct.unpack_from("<4sIQqqIHHQQqqII", raw, 0)
    assert fields[0] == b"TPF1"
    assert fields[2:] == (0x0102030405060708, 11, 22, 44, 33, 0, 66, 77, 88, 99, 3, 5)
    assert raw[80:] == b"xyz"


def test_proc_ns_saturates() -> None:
    raw = stamp(encode_input(1, 2, 3, b"", proc_ns=2**40), 1, 0, 0)
    assert decode_frame(raw).proc_ns == 0xFFFFFFFF


# --------------------------------------------------------------------------- checksum


@settings(max_examples=200, deadline=None)
@given(f=frame_fields(), data=st.data())
def test_any_single_flipped_byte_is_caught(f: dict[str, Any], data: st.DataObject) -> None:
    raw = build(f)
    off = data.draw(st.integers(0, len(raw) - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    bad = flip(raw, off, mask)
    assert check_at(bad, 0) is not None
    with pytest.raises(FrameError):
        decode_frame(bad)


def test_every_byte_of_a_frame_is_covered() -> None:
    raw = encode_frame(5, 6, 7, 8, 9, b"payload!", recv_ns=1, cause_seq=2, sent_ns=3, event_ns=4)
    for off in range(len(raw)):
        assert check_at(flip(raw, off, 0x01), 0) is not None, off


# --------------------------------------------------------------------------- check_at


def test_check_at_reasons() -> None:
    raw = encode_frame(1, 2, 3, 4, 5, b"0123456789")
    assert check_at(raw, 0) is None

    assert check_at(raw[:79], 0) == "only 79 bytes left, a frame header needs 80"
    assert check_at(b"", 0) == "only 0 bytes left, a frame header needs 80"

    assert check_at(b"XXXX" + raw[4:], 0) == "bad magic 0x58585858"

    huge = bytearray(raw)
    struct.pack_into("<I", huge, 72, MAX_PAYLOAD + 1)
    assert check_at(huge, 0) == f"payload length {MAX_PAYLOAD + 1} is over the {MAX_PAYLOAD} limit"

    assert check_at(raw[:-1], 0) == f"frame needs {len(raw)} bytes, only {len(raw) - 1} left"

    assert check_at(flip(raw, 85), 0) == "checksum mismatch"
    assert check_at(flip(raw, 5), 0) == "checksum mismatch"


def test_check_at_an_offset_inside_a_buffer() -> None:
    a = encode_frame(1, 10, 0, 3, 1, b"")
    b = encode_frame(2, 11, 900, 101, 1, b"hello")
    buf = b"junk" + a + b
    assert check_at(buf, 4) is None
    assert check_at(buf, 4 + len(a)) is None
    assert check_at(buf, 0) is not None
    assert check_at(buf, 5) is not None
    assert frame_length_at(buf, 4 + len(a)) == len(b)
    assert frame_length_at(buf, len(buf) - 79) == -1
    assert check_at(memoryview(buf), 4) is None
    assert check_at(bytearray(buf), 4 + len(a)) is None


def test_iter_frames() -> None:
    fs = [encode_frame(i, 100 + i, 7, 101, i, bytes([i]) * i) for i in range(1, 6)]
    got = iter_frames(b"".join(fs))
    assert [f.seq for f in got] == [1, 2, 3, 4, 5]
    assert [f.payload for f in got] == [bytes([i]) * i for i in range(1, 6)]
    assert iter_frames(b"") == []
    damaged = b"".join(fs[:2]) + flip(fs[2], 81)
    with pytest.raises(FrameError, match=f"at byte {len(fs[0]) + len(fs[1])}: checksum mismatch"):
        iter_frames(damaged + b"".join(fs[3:]))
    # Without verification the bytes are trusted.
    assert [f.seq for f in iter_frames(damaged, verify=False)] == [1, 2, 3]


# --------------------------------------------------------------------------- determinism compare


@settings(max_examples=200, deadline=None)
@given(f=frame_fields(), recv=I64, sent=I64, proc=U32)
def test_telemetry_is_ignored(f: dict[str, Any], recv: int, sent: int, proc: int) -> None:
    a = build(f)
    b = build({**f, "recv_ns": recv, "sent_ns": sent, "proc_ns": proc})
    assert frame_bytes_equal_ignoring_telemetry(a, b)
    assert frame_bytes_equal_ignoring_telemetry(b, a)
    assert check_at(b, 0) is None


@settings(max_examples=200, deadline=None)
@given(f=frame_fields(), data=st.data())
def test_nothing_but_telemetry_and_checksum_is_ignored(
    f: dict[str, Any], data: st.DataObject
) -> None:
    a = build(f)
    off = data.draw(
        st.integers(0, len(a) - 1).filter(lambda o: o not in IGNORED), label="offset"
    )
    mask = data.draw(st.integers(1, 255), label="xor mask")
    assert not frame_bytes_equal_ignoring_telemetry(a, flip(a, off, mask))
    assert not frame_bytes_equal_ignoring_telemetry(flip(a, off, mask), a)


def test_every_compared_byte_counts_and_only_those() -> None:
    a = encode_frame(5, 6, 7, 8, 9, b"body", recv_ns=1, cause_seq=2, sent_ns=3, event_ns=4)
    for off in range(len(a)):
        same = frame_bytes_equal_ignoring_telemetry(a, flip(a, off))
        assert same == (off in IGNORED), off


def test_different_payload_lengths_are_different() -> None:
    a = encode_frame(1, 2, 3, 4, 5, b"ab")
    b = encode_frame(1, 2, 3, 4, 5, b"abc")
    assert not frame_bytes_equal_ignoring_telemetry(a, b)
    assert not frame_bytes_equal_ignoring_telemetry(a, a + b"x")
