"""Journal statistics: what a day's stream held, by type, by source and over time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sequencer.frames import HEADER
from sequencer.journal import JournalReader, list_segments, resolve_journal_dir
from sequencer.messages import type_name

_unpack = HEADER.unpack_from


@dataclass
class JournalStats:
    frames: int = 0
    bytes: int = 0
    segments: int = 0
    first_seq: int = 0
    last_seq: int = 0
    first_ts: int = 0
    last_ts: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_source: dict[int, int] = field(default_factory=dict)
    bucket_s: int = 1
    rate: list[tuple[int, int]] = field(default_factory=list)  # (bucket start ns, frames)

    @property
    def span_s(self) -> float:
        return (self.last_ts - self.first_ts) / 1e9

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "bytes": self.bytes,
            "segments": self.segments,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "first_ts_ns": self.first_ts,
            "last_ts_ns": self.last_ts,
            "first_time": iso(self.first_ts),
            "last_time": iso(self.last_ts),
            "span_s": self.span_s,
            "by_type": dict(sorted(self.by_type.items())),
            "by_source": {str(k): v for k, v in sorted(self.by_source.items())},
            "rate_bucket_s": self.bucket_s,
            "rate": [{"start": iso(t), "frames": n} for t, n in self.rate],
        }


def iso(ns: int) -> str:
    if not ns:
        return ""
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="microseconds")


_BUCKETS_S = (1, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86400)


def compute(path: Path, buckets: int = 24, *, verify: bool = True) -> JournalStats:
    """The journal's figures. With `verify`, every frame's checksum and seq are checked
    on the way (`JournalCorruption` at the first damaged frame)."""
    jdir = resolve_journal_dir(Path(path))
    st = JournalStats(segments=len(list_segments(jdir)))
    by_type_id: dict[int, int] = {}
    by_source: dict[int, int] = {}
    per_second: dict[int, int] = {}
    with JournalReader(jdir, verify=verify) as r:
        while True:
            batch = r.read_raw()
            if not batch:
                break
            for raw in batch:
                h = _unpack(raw, 0)
                seq, ts, src, typ = h[2], h[3], h[5], h[6]
                if not st.frames:
                    st.first_seq, st.first_ts = seq, ts
                st.frames += 1
                st.bytes += len(raw)
                st.last_seq, st.last_ts = seq, ts
                by_type_id[typ] = by_type_id.get(typ, 0) + 1
                by_source[src] = by_source.get(src, 0) + 1
                sec = ts // 1_000_000_000
                per_second[sec] = per_second.get(sec, 0) + 1
    st.by_type = {type_name(t): n for t, n in sorted(by_type_id.items())}
    st.by_source = dict(sorted(by_source.items()))
    span = max(1, int(st.span_s) + 1)
    st.bucket_s = next((b for b in _BUCKETS_S if span / b <= buckets), _BUCKETS_S[-1])
    rate: dict[int, int] = {}
    for sec, n in per_second.items():
        b = sec - sec % st.bucket_s
        rate[b] = rate.get(b, 0) + n
    st.rate = [(b * 1_000_000_000, n) for b, n in sorted(rate.items())]
    return st
