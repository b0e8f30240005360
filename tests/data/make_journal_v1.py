"""Write `tests/data/journal_v1/journal/`: the checked-in journal that pins the schema.

This was run ONCE, when the control and admin families were the whole schema
(type ids 1-4, 90, 100-104). Its bytes are the record that
`tests/sequencer/test_schema_compat.py` decodes with today's code: never
regenerate them to make that test pass. A schema change that cannot read them
breaks every journal ever written (see `sequencer/messages/base.py`).

    python tests/data/make_journal_v1.py            # refuses if the journal exists
    python tests/data/make_journal_v1.py --force    # only to repair a deleted copy
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

from sequencer.frames import encode_frame
from sequencer.journal import JournalWriter
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.admin import (
    HaltTrading,
    OperatorNote,
    ResumeTrading,
    SetParameter,
    TakeSnapshot,
)
from sequencer.messages.control import Alert, ClockTick, Probe, SystemStart, SystemStop

OUT = Path(__file__).resolve().parent / "journal_v1" / "journal"

#: 2024-03-15 09:30:00 America/New_York, in ns since the epoch.
T0 = 1_710_509_400_000_000_000
MS = 1_000_000

# (source id, source seq, cause seq, event ns offset or None, message), in stream order.
FRAMES: list[tuple[int, int, int, int | None, Message]] = [
    (0, 1, 0, None, SystemStart(
        session_date=dt.date(2024, 3, 15), seed=0x1234_5678_9ABC_DEF0,
        config_digest="0123456789abcdef", time_mode="sim",
    )),
    (0, 2, 0, None, ClockTick()),
    (7, 1, 0, 5, Probe(n=-42, data=b"\x00\x01\xfe\xff")),
    (7, 2, 0, None, Probe(n=2**63 - 1)),
    (0, 3, 4, None, Alert(severity="warning", source="sequencer",
                          text="source 7 skipped numbers 3..4")),
    (900, 1, 0, None, TakeSnapshot()),
    (900, 2, 0, None, TakeSnapshot(target="oms")),
    (900, 3, 0, None, OperatorNote(author="ops",
                                   text="open \u2014 na\u00efve \u00fcnicode \u2713")),
    (900, 4, 8, None, SetParameter(target="vwap", key="max_pov", value="0.12")),
    (900, 5, 0, None, HaltTrading(scope="AAPL", reason="news pending")),
    (900, 6, 10, None, ResumeTrading(scope="AAPL")),
    (0, 4, 0, None, Alert(severity="critical", source="replay", text="")),
    (900, 7, 0, None, SystemStop(reason="end of day")),
]

BATCHES = [(0, 2), (2, 5), (5, len(FRAMES))]  # frame index ranges appended together


def frame_bytes(i: int) -> bytes:
    src, sseq, cause, ev, msg = FRAMES[i]
    seq = i + 1
    ts = T0 + i * MS
    return encode_frame(
        seq, ts, src, TYPE_ID[type(msg)], sseq, encode(msg),
        recv_ns=ts + 17 * (i + 1), cause_seq=cause,
        sent_ns=0 if src == 0 else ts - 1000 * (i + 1),
        event_ns=0 if ev is None else ts - ev * MS,
    )


def main(argv: list[str]) -> int:
    if OUT.exists():
        if "--force" not in argv:
            print(f"{OUT} exists; it is the record, not a build output. Not overwriting.")
            return 1
        shutil.rmtree(OUT)
    w = JournalWriter(OUT)
    w.open()
    for lo, hi in BATCHES:
        w.append(b"".join(frame_bytes(i) for i in range(lo, hi)), lo + 1)
        w.state.last_seq = hi
        w.state.last_ts = T0 + (hi - 1) * MS
    w.close()
    for p in sorted(OUT.iterdir()):
        print(p.relative_to(OUT.parent.parent), p.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
