"""Batched input (`StreamPublisher.add`/`flush`: many records in one Aeron message, split by
the sequencer) and the type-filtered follower (`StreamSubscriber.poll` with `types`), against a
real sequencer."""

from __future__ import annotations

import time

from sequencer import sources
from sequencer.config import TransportConfig
from sequencer.frames import INPUT
from sequencer.journal import read_all
from sequencer.messages import TYPE_ID, encode
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import Probe
from sequencer.transport import StreamPublisher, StreamSubscriber, connect
from tests.conftest import Stack

PROBE = TYPE_ID[Probe]
BATCHER, TORN = sources.adhoc(500), sources.adhoc(501)
NOTE = TYPE_ID[OperatorNote]


def _wait_frames(stack: Stack, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while stack.status()["last_seq"] < n:
        assert time.monotonic() < deadline, f"fewer than {n} frames sequenced"
        time.sleep(0.02)


def test_a_batch_is_sequenced_record_by_record_in_order(stack: Stack) -> None:
    seq = stack.start_sequencer()
    cfg = TransportConfig.for_day(stack.day)
    aeron = connect(cfg)
    try:
        pub = StreamPublisher(aeron, cfg, BATCHER, batch_bytes=2048)
        for i in range(1, 1001):  # ~40 records fill a batch: 25 full batches, then a tail
            assert pub.add(PROBE, encode(Probe(n=i)), 0, 0) == i
        pub.flush()
        pub.publish(OperatorNote(author="t", text="after"))  # a single record still works
        # A batch resent whole (a gap notice asks for that) is dropped record by record.
        resent = pub._sent[3][1]
        pub.resend_raw(resent, remember=False)
        _wait_frames(stack, 1002)
        sub = StreamSubscriber(aeron, cfg, stack.day / "journal", 1)
        notes: list[bytes] = []
        deadline = time.monotonic() + 10
        while sub.next_seq <= 1002 and time.monotonic() < deadline:
            notes += sub.poll(types={NOTE})
        assert sub.next_seq > 1002  # (clock ticks may follow)
        assert len(notes) == 1 and notes[0][80:] == encode(OperatorNote(author="t", text="after"))
        sub.close()
    finally:
        aeron.close()
    stack.stop_sequencer(seq)
    frames = [f for f in read_all(stack.day / "journal") if f.source_id == BATCHER]
    assert [f.source_seq for f in frames] == list(range(1, 1002))
    assert [f.payload for f in frames[:1000]] == [encode(Probe(n=i)) for i in range(1, 1001)]
    in_batch = 0
    off = 0
    while off < len(resent):
        off += INPUT.size + INPUT.unpack_from(resent, off)[7]
        in_batch += 1
    assert in_batch > 30
    assert stack.status()["counters"]["duplicates"] == in_batch


def test_a_batch_with_a_torn_tail_keeps_its_whole_records(stack: Stack) -> None:
    seq = stack.start_sequencer()
    cfg = TransportConfig.for_day(stack.day)
    aeron = connect(cfg)
    try:
        pub = StreamPublisher(aeron, cfg, TORN)
        good = [INPUT.pack(TORN, PROBE, 0, i, 0, 0, 0, len(p), 0) + p
                for i, p in ((1, encode(Probe(n=1))), (2, encode(Probe(n=2))))]
        torn = INPUT.pack(TORN, PROBE, 0, 3, 0, 0, 0, 50, 0) + b"short"
        pub.resend_raw(b"".join(good) + torn, remember=False)
        deadline = time.monotonic() + 10
        while not pub.poll_notices() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [n.code for n in pub.refused] == ["malformed"]
    finally:
        aeron.close()
    stack.stop_sequencer(seq)
    frames = [f for f in read_all(stack.day / "journal") if f.source_id == TORN]
    assert [f.source_seq for f in frames] == [1, 2]
