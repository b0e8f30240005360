"""Latency from a journal's telemetry: where the time goes between the sequencer and the apps.

Every frame carries wall-clock telemetry (see `sequencer.frames`): `recv_ns`
(the sequencer received it), `sent_ns` (its publisher offered it), `proc_ns`
(the publisher's time from receiving the frame `cause_seq` to offering this
one). From them, for each source (app) and message type:

- **transit** = recv_ns - sent_ns, for every frame with a send time: publisher
  offer to sequencer receive (transport and sequencer queueing);

and for an output caused by an earlier frame C (`cause_seq` = C's seq):

- **queueing** = (sent_ns - proc_ns) - C.recv_ns: the sequencer received C to
  the app received it (journal, publish, transport, the app's queue);
- **processing** = proc_ns: the app's own time;
- **return** = recv_ns - sent_ns: the output's way back to the sequencer;
- **end to end** = recv_ns - C.recv_ns, the sum of the three.

Queueing and end to end compare the app's clock with the sequencer's: across
hosts they are only as good as the clock sync. A negative figure (a clock
step) is clamped to 0 and counted. `proc_ns` saturates at about 4.29 s; such
outputs are counted too (their queueing is understated).

The journal is read once, header fields only (no payload decode); the receive
time of every frame is kept in an `array('q')` indexed by seq (8 bytes a frame)
so causes are found in O(1). Percentiles are numpy's (linear interpolation).
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sequencer import sources
from sequencer.journal import JournalReader, resolve_journal_dir
from sequencer.messages import type_name

# seq, (ts_ns skipped), recv_ns, source_id, type_id, (flags, source_seq skipped),
# cause_seq, sent_ns, (event_ns, length skipped), proc_ns
_TELEMETRY = struct.Struct("<8xQ8xqIH10xQq12xI")
assert _TELEMETRY.size == 80

PROC_SATURATED = 0xFFFFFFFF
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
DEFAULT_SLOWEST = 10


@dataclass(frozen=True)
class Dist:
    """A distribution of one figure, in microseconds (None when there are no samples)."""

    count: int = 0
    clamped: int = 0  # negative samples (clock steps) counted as 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p99_9: float | None = None
    max: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "clamped": self.clamped,
            "p50_us": self.p50,
            "p90_us": self.p90,
            "p99_us": self.p99,
            "p99_9_us": self.p99_9,
            "max_us": self.max,
        }


@dataclass(frozen=True)
class GroupLatency:
    """One source and message type: its transit and, for caused outputs, the split."""

    source_id: int
    app: str
    type: str
    transit: Dist
    queueing: Dist
    processing: Dist
    return_: Dist
    end_to_end: Dist

    def to_json(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "app": self.app,
            "type": self.type,
            "transit": self.transit.to_json(),
            "queueing": self.queueing.to_json(),
            "processing": self.processing.to_json(),
            "return": self.return_.to_json(),
            "end_to_end": self.end_to_end.to_json(),
        }


@dataclass(frozen=True)
class SourceTransit:
    source_id: int
    app: str
    transit: Dist

    def to_json(self) -> dict[str, Any]:
        return {"source_id": self.source_id, "app": self.app, "transit": self.transit.to_json()}


@dataclass(frozen=True)
class SlowCase:
    """One caused output, with where its end-to-end time went (each part clamped at 0)."""

    seq: int
    cause_seq: int
    source_id: int
    app: str
    type: str
    cause_type: str
    end_to_end_us: float
    queueing_us: float
    processing_us: float
    return_us: float
    # Queueing split at the moment the sequencer published the cause (from the day's
    # telemetry/published.bin; None when the day has no such file).
    sequencer_us: float | None = None
    transport_us: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LatencyReport:
    frames: int = 0
    first_seq: int = 0
    last_seq: int = 0
    transit_frames: int = 0  # frames with a send time
    caused: int = 0  # frames with a cause_seq
    matched: int = 0  # ... whose cause was found with a receive time, and that have their own
    unmatched: int = 0
    clamped: int = 0  # negative figures counted as 0, over all groups and figures
    proc_saturated: int = 0
    groups: list[GroupLatency] = field(default_factory=list)
    transit_by_source: list[SourceTransit] = field(default_factory=list)
    slowest: list[SlowCase] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "transit_frames": self.transit_frames,
            "caused": self.caused,
            "matched": self.matched,
            "unmatched": self.unmatched,
            "clamped": self.clamped,
            "proc_saturated": self.proc_saturated,
            "percentile_method": "linear",
            "groups": [g.to_json() for g in self.groups],
            "transit_by_source": [s.to_json() for s in self.transit_by_source],
            "slowest": [s.to_json() for s in self.slowest],
        }


class _Acc:
    """Raw (unclamped) samples in ns of one (source, type)."""

    __slots__ = ("e2e", "proc", "queue", "ret", "transit")

    def __init__(self) -> None:
        self.transit = array("q")
        self.queue = array("q")
        self.proc = array("q")
        self.ret = array("q")
        self.e2e = array("q")


def _us(ns: float) -> float:
    return round(float(ns) / 1000.0, 3)


def _dist(samples: array[int] | np.ndarray[Any, np.dtype[np.int64]]) -> Dist:
    if len(samples) == 0:
        return Dist()
    a = np.asarray(np.frombuffer(samples, dtype=np.int64) if isinstance(samples, array)
                   else samples)
    clamped = int(np.count_nonzero(a < 0))
    a = np.maximum(a, 0)
    p50, p90, p99, p999 = (float(x) for x in np.percentile(a, PERCENTILES))
    return Dist(len(a), clamped, _us(p50), _us(p90), _us(p99), _us(p999), _us(int(a.max())))


def app_names() -> dict[int, str]:
    """Source id -> its name in the source registry (`sequencer.sources`)."""
    return {s.id: s.name for s in sources.SOURCES}


def source_label(source_id: int, names: dict[int, str]) -> str:
    return names.get(source_id) or sources.name(source_id)


def compute(path: Path, slowest: int = DEFAULT_SLOWEST) -> LatencyReport:
    """Read the journal at `path` once and compute its latency report."""
    jdir = resolve_journal_dir(Path(path))
    rep = LatencyReport()
    recv = array("q")  # recv_ns by seq - base
    types = array("H")  # type id by seq - base
    accs: dict[int, _Acc] = {}  # (source_id << 16 | type_id) -> samples
    heap: list[tuple[int, int, int, int, int, int, int, int]] = []
    unpack = _TELEMETRY.unpack_from
    base = 0
    frames = caused = matched = saturated = transit_frames = 0
    last_seq = 0
    with JournalReader(jdir) as reader:
        while True:
            batch = reader.read_raw()
            if not batch:
                break
            for raw in batch:
                seq, recv_ns, src, typ, cause, sent, proc = unpack(raw)
                if not base:
                    base = seq
                recv.append(recv_ns)
                types.append(typ)
                frames += 1
                last_seq = seq
                if sent <= 0 and not cause:
                    continue
                key = src << 16 | typ
                acc = accs.get(key)
                if acc is None:
                    acc = accs[key] = _Acc()
                if sent > 0 and recv_ns > 0:
                    transit_frames += 1
                    acc.transit.append(recv_ns - sent)
                if not cause:
                    continue
                caused += 1
                if not (base <= cause < seq and sent > 0 and recv_ns > 0):
                    continue
                c_recv = recv[cause - base]
                if c_recv <= 0:
                    continue
                matched += 1
                if proc == PROC_SATURATED:
                    saturated += 1
                queue = sent - proc - c_recv
                ret = recv_ns - sent
                e2e = recv_ns - c_recv
                acc.queue.append(queue)
                acc.proc.append(proc)
                acc.ret.append(ret)
                acc.e2e.append(e2e)
                if slowest > 0:
                    if len(heap) < slowest:
                        heapq.heappush(heap, (e2e, -seq, queue, proc, ret, src, typ, cause))
                    elif e2e > heap[0][0]:  # a later frame wins no tie: earliest first
                        heapq.heapreplace(heap, (e2e, -seq, queue, proc, ret, src, typ, cause))
    rep.frames = frames
    rep.first_seq = base
    rep.last_seq = last_seq
    rep.transit_frames = transit_frames
    rep.caused = caused
    rep.matched = matched
    rep.unmatched = caused - matched
    rep.proc_saturated = saturated

    names = app_names() if accs else {}
    by_source: dict[int, list[array[int]]] = {}
    groups: list[GroupLatency] = []
    for key, acc in accs.items():
        src, typ = key >> 16, key & 0xFFFF
        g = GroupLatency(
            src, source_label(src, names), type_name(typ), _dist(acc.transit),
            _dist(acc.queue), _dist(acc.proc), _dist(acc.ret), _dist(acc.e2e),
        )
        groups.append(g)
        rep.clamped += sum(d.clamped for d in (g.transit, g.queueing, g.processing,
                                               g.return_, g.end_to_end))
        if len(acc.transit):
            by_source.setdefault(src, []).append(acc.transit)
    rep.groups = sorted(groups, key=lambda g: (g.source_id, g.type))
    rep.transit_by_source = [
        SourceTransit(src, source_label(src, names),
                      _dist(np.concatenate([np.frombuffer(a, dtype=np.int64) for a in parts])))
        for src, parts in sorted(by_source.items())
    ]
    published = _published_times(jdir)
    rep.slowest = [
        _split(published, recv[cause - base], queue, SlowCase(
            seq=-nseq, cause_seq=cause, source_id=src, app=source_label(src, names),
            type=type_name(typ), cause_type=type_name(types[cause - base]),
            end_to_end_us=_us(max(e2e, 0)), queueing_us=_us(max(queue, 0)),
            processing_us=_us(proc), return_us=_us(max(ret, 0)),
        ))
        for e2e, nseq, queue, proc, ret, src, typ, cause in sorted(heap, reverse=True)
    ]
    return rep


def _published_times(jdir: Path) -> tuple[list[int], list[int]] | None:
    """(last seq, wall time) of every chunk the sequencer published, if the day kept them."""
    from sequencer.service import PUBLISHED_FILE

    path = jdir.parent / PUBLISHED_FILE
    if not path.exists():
        return None
    raw = path.read_bytes()
    rec = struct.Struct("<Qq")
    seqs: list[int] = []
    times: list[int] = []
    for off in range(0, len(raw) - rec.size + 1, rec.size):
        s, t = rec.unpack_from(raw, off)
        seqs.append(s)
        times.append(t)
    return seqs, times


def _split(published: tuple[list[int], list[int]] | None, cause_recv: int, queue: int,
           case: SlowCase) -> SlowCase:
    """Split a slow case's queueing into sequencer time and transport time."""
    if published is None:
        return case
    seqs, times = published
    i = bisect.bisect_left(seqs, case.cause_seq)
    if i == len(seqs):
        return case
    in_sequencer = times[i] - cause_recv
    in_transport = queue - in_sequencer
    return dataclasses.replace(case, sequencer_us=_us(max(in_sequencer, 0)),
                               transport_us=_us(max(in_transport, 0)))
