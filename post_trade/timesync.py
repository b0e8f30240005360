"""Time synchronisation: each process's clock against the sequencer's over the day, and
the host clock's own checks, against the tolerance of FINRA Rule 4590 and the CAT plan
(50 ms for clocks that record electronic order events; `firm.time_tolerance_ms`).

What the journal proves. Every frame carries two wall-clock stamps: `sent_ns`, by the
publisher's clock when it offered the input, and `recv_ns`, by the sequencer's clock
when it received it; a publisher's output also names the frame that caused it and how
long it spent on it (`proc_ns`). Transport takes time in both directions, so for a
publisher P (offset = P's clock - the sequencer's):

    offset >= sent - recv                          (P offered before the sequencer got it)
    offset <= sent - proc - recv(cause)            (P got the cause after the sequencer did)

Over each ten minutes of the day the tightest bounds of all P's frames make an
interval [lo, hi] the offset is known to lie in (`post_trade.record.ClockBucket`).
A bucket is:

- `within`: the whole interval inside +-tolerance: the clock is proven in sync;
- `breach`: the whole interval outside it (lo > tol or hi < -tol): the clock was
  out by more than the tolerance, flagged with when and which process;
- `unproven`: the interval reaches past the tolerance but does not prove a breach
  (too little traffic both ways); `one-sided`: only the lower bound is known (a
  process that publishes nothing in answer to the stream, e.g. a gateway's inputs).

The host clock. The sequencer's own clock is the reference above; whether it was in
step with the national reference is the host's business (chrony / NTP / PTP). `tape
post-trade clock-check --day DAY` asks the kernel (adjtimex: synchronised or not, the
estimated and maximum error) and appends the answer to `DAY/logs/clock_checks.jsonl`;
the day's jobs run it before the open and during the day, which is the log of checks
the rule asks for. The report lists those checks and flags an unsynchronised host or
a maximum error beyond the tolerance. A day generated in one process (a backtest) has
no wall-clock telemetry: the report says so. (A day in `sim` time with live processes,
like the demo, has wall-clock telemetry all the same: the stamps are wall time in
either mode.)
"""

# determinism: edge module, offline tooling: reads the journal's telemetry and the day's clock log

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from post_trade import html
from post_trade.record import ClockBucket, DayRecord
from post_trade.report import ReportResult, write_csv, write_json, write_text

NAME = "timesync"
CHECKS_FILE = Path("logs") / "clock_checks.jsonl"
_NS_US = 1_000


@dataclass(frozen=True, slots=True)
class Bucket:
    source: str
    start_ns: int
    frames: int
    lo_us: float | None
    hi_us: float | None
    status: str  # within | breach | unproven | one-sided


def judge(b: ClockBucket, tol_ns: int) -> str:
    known_lo = b.lo > -(1 << 61)
    known_hi = b.hi < (1 << 61)
    if (known_lo and b.lo > tol_ns) or (known_hi and b.hi < -tol_ns):
        return "breach"
    if not known_hi or not known_lo:
        return "one-sided"
    if -tol_ns <= b.lo and b.hi <= tol_ns:
        return "within"
    return "unproven"


def buckets(rec: DayRecord) -> list[Bucket]:
    tol = rec.refs.firm.time_tolerance_ms * 1_000_000
    out = []
    for source in sorted(rec.clock):
        for b in rec.clock[source]:
            out.append(Bucket(source, b.start_ns, b.frames,
                              round(b.lo / _NS_US, 1) if b.lo > -(1 << 61) else None,
                              round(b.hi / _NS_US, 1) if b.hi < (1 << 61) else None,
                              judge(b, tol)))
    return out


def _utc(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_checks(day: Path) -> list[dict[str, Any]]:
    path = Path(day) / CHECKS_FILE
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                out.append(dict(json.loads(line)))
            except ValueError:
                out.append({"line": n, "error": "unreadable line"})
    return out


def _check_status(c: dict[str, Any], tol_ms: int) -> str:
    if "error" in c:
        return "unknown"
    if not c.get("synchronised"):
        return "breach"
    if float(c.get("max_error_us", 0)) > tol_ms * 1000:
        return "breach"
    return "within"


def write(rec: DayRecord, out: Path) -> ReportResult:
    tol_ms = rec.refs.firm.time_tolerance_ms
    rows = buckets(rec)
    checks = read_checks(rec.day)
    by_source: dict[str, list[Bucket]] = {}
    for b in rows:
        by_source.setdefault(b.source, []).append(b)
    sources: list[dict[str, Any]] = []
    for name in sorted(by_source):
        bs = by_source[name]
        breaches = [b for b in bs if b.status == "breach"]
        worst = max((max(abs(b.lo_us or 0.0), abs(b.hi_us or 0.0)) for b in bs
                     if b.status != "one-sided"), default=None)
        sources.append({
            "source": name, "frames": sum(b.frames for b in bs), "buckets": len(bs),
            "within": sum(b.status == "within" for b in bs), "breaches": len(breaches),
            "unproven": sum(b.status == "unproven" for b in bs),
            "one_sided": sum(b.status == "one-sided" for b in bs),
            "worst_bound_us": worst,
            "first_breach": _utc(breaches[0].start_ns) if breaches else None,
        })
    check_rows = [{**c, "status": _check_status(c, tol_ms)} for c in checks]
    flagged = sum(s["breaches"] for s in sources) + sum(
        c["status"] == "breach" for c in check_rows)
    files = [
        write_csv(out / "timesync.csv",
                  ("source", "bucket_start_utc", "frames", "offset_lo_us", "offset_hi_us",
                   "status"),
                  ((b.source, _utc(b.start_ns), b.frames, b.lo_us, b.hi_us, b.status)
                   for b in rows)),
    ]
    summary = {"tolerance_ms": tol_ms, "time_mode": rec.time_mode, "sources": sources,
               "host_checks": check_rows, "flags": flagged, "complete": rec.complete,
               "judged": bool(rows)}
    files.append(write_json(out / "timesync.json", summary))
    files.append(write_text(out / "timesync.html", _html(rec, summary, rows)))
    if not rows:
        line = "time sync: no wall-clock telemetry in the journal (a generated day): not judged"
    else:
        proc = sum(x["breaches"] for x in sources)
        host = (f"host clock: {check_rows[-1]['status']} at the last of "
                f"{len(check_rows)} checks" if check_rows else "no host clock checks logged")
        line = (f"time sync: {len(sources)} sources, {proc} ten-minute buckets proven "
                f"beyond {tol_ms} ms; {host}")
    return ReportResult(name=NAME, files=files, summary=summary, breaks=0, lines=[line])


def _html(rec: DayRecord, s: dict[str, Any], rows: list[Bucket]) -> str:
    tol = s["tolerance_ms"]
    parts = [f"<p>Tolerance {tol} ms (FINRA Rule 4590, CAT NMS Plan). Each process's clock "
             "against the sequencer's, bounded from the frames' send and receive stamps in "
             "ten-minute buckets; <b>within</b> proves the clock in sync, <b>breach</b> proves "
             "it out of sync, <b>unproven</b> / <b>one-sided</b> prove neither.</p>"]
    if not rows:
        parts.append('<p class="muted">The journal carries no wall-clock telemetry (a day '
                     "generated in process, such as a backtest): nothing to judge.</p>")
    parts.append(html.table(
        ("source", "frames", "buckets", "within", "breach", "unproven", "one-sided",
         "worst bound (us)", "first breach (UTC)"),
        [(x["source"], html.num(x["frames"]), x["buckets"], x["within"], x["breaches"],
          x["unproven"], x["one_sided"], html.num(x["worst_bound_us"], 1)
          if x["worst_bound_us"] is not None else "-", x["first_breach"] or "")
         for x in s["sources"]], numeric=range(1, 8)))
    breaches = [b for b in rows if b.status == "breach"]
    if breaches:
        parts.append(html.section("Breaches", html.table(
            ("source", "bucket (UTC)", "frames", "offset at least (us)", "offset at most (us)"),
            [(b.source, _utc(b.start_ns), b.frames, b.lo_us, b.hi_us) for b in breaches])))
    checks = s["host_checks"]
    parts.append(html.section("Host clock checks", html.table(
        ("time (UTC)", "host", "synchronised", "est. error (us)", "max error (us)", "status"),
        [(c.get("time_utc", ""), c.get("host", ""), c.get("synchronised", ""),
          c.get("est_error_us", ""), c.get("max_error_us", ""), c["status"]) for c in checks])
        if checks else '<p class="bad">No host clock checks were logged for this day '
        f"(run <code>tape post-trade clock-check --day DAY</code>; they go to "
        f"<code>{CHECKS_FILE}</code>).</p>"))
    return html.page(f"Time synchronisation, {rec.session_date}", "".join(parts),
                     subtitle=f"{rec.frames:,} frames, to seq {rec.last_seq:,}",
                     incomplete=not rec.complete)


# ------------------------------------------------------------------ the host clock


class _Timex(ctypes.Structure):
    # struct timex of <sys/timex.h> (Linux, 64-bit): the fields read here come first.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("constant", ctypes.c_long),
                ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time_sec", ctypes.c_long), ("time_usec", ctypes.c_long),
                ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long),
                ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
                ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
                ("_pad", ctypes.c_int * 11)]


_STA_UNSYNC = 0x0040
_TIME_ERROR = 5


def host_clock() -> dict[str, Any]:
    """The kernel's view of the host clock's synchronisation (Linux adjtimex)."""
    now = dt.datetime.now(dt.UTC)  # determinism: allowed, the check's own time stamp
    out: dict[str, Any] = {"time_utc": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           "host": platform.node()}
    lib = ctypes.util.find_library("c")
    if platform.system() != "Linux" or lib is None:
        return {**out, "error": "the host does not report its clock state (not Linux)"}
    tx = _Timex()
    state = ctypes.CDLL(lib, use_errno=True).adjtimex(ctypes.byref(tx))
    if state < 0:
        return {**out, "error": f"adjtimex failed: {os.strerror(ctypes.get_errno())}"}
    synced = state != _TIME_ERROR and not tx.status & _STA_UNSYNC
    return {**out, "synchronised": bool(synced), "est_error_us": int(tx.esterror),
            "max_error_us": int(tx.maxerror), "offset": int(tx.offset), "state": int(state)}


def clock_check(day: Path) -> dict[str, Any]:
    """Append the host clock's state to `DAY/logs/clock_checks.jsonl`; returns it."""
    c = host_clock()
    path = Path(day) / CHECKS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(c, sort_keys=True) + "\n")
    return c
