"""The day's reports: what each one returns, how its files are written, and the run of
all of them into `DAY/post_trade/` with a manifest.

A report is a module with `NAME` and `write(rec: DayRecord, out: Path) -> ReportResult`:
a pure function of the day's record (`post_trade.record`) that writes its files into
`out` (= `DAY/post_trade/NAME/`, made empty before it runs) and says what it found.
`REPORTS` lists the day's reports in the order they run.

`run(day, names, config)` reads the journal once, runs the reports, and writes
`DAY/post_trade/manifest.json`: the day, its last seq, whether it is complete, and
every file with its SHA-256 and size (paths relative to `DAY/post_trade`, sorted).
The files are written to `DAY/post_trade.new/` and moved into place at the end, so
a failed run leaves the previous reports as they were. Nothing written carries a
wall-clock time or a path outside the day, so a rerun gives identical bytes.
"""

# determinism: edge module, offline tooling: writes a day's report files

from __future__ import annotations

import csv
import hashlib
import importlib
import io
import json
import os
import pickle
import shutil
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from post_trade.record import Config, DayRecord, PostTradeError, no_gc, read_day

#: The day's reports, in the order they run: name -> module.
REPORTS: dict[str, str] = {
    "activity": "post_trade.activity",
    "cat": "post_trade.cat",
    "clearing": "post_trade.clearing",
    "timesync": "post_trade.timesync",
    "quality": "post_trade.quality_report",
}
MANIFEST = "manifest.json"


@dataclass
class ReportResult:
    """What a report wrote and found."""

    name: str
    files: list[Path] = field(default_factory=list)  # absolute paths of what it wrote
    summary: dict[str, Any] = field(default_factory=dict)  # JSON-able figures, for --json
    #: Breaks that make `tape post-trade` exit 1 (a reconciliation break, a broken CAT
    #: link). A supervisory flag is a finding for a person, not a failure: it is counted
    #: in the summary, not here.
    breaks: int = 0
    lines: list[str] = field(default_factory=list)  # what to print for a person


# ------------------------------------------------------------------ writing files

def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


_json_sorted = msgspec.json.Encoder(order="sorted").encode


def write_json(path: Path, obj: Any) -> Path:
    """Pretty, key-sorted JSON (UTF-8) with a final newline: the same object, the same
    bytes. (msgspec's encoder: a day's figures can run to a hundred megabytes.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(_json_sorted(obj), indent=2) + b"\n")
    return path


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue()


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    return write_text(path, csv_text(header, rows))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def px_str(fixed: int) -> str:
    """A fixed-point price (1/10,000) as an exact decimal string, e.g. "182.0100"."""
    sign = "-" if fixed < 0 else ""
    fixed = abs(fixed)
    return f"{sign}{fixed // 10_000}.{fixed % 10_000:04d}"


# ------------------------------------------------------------------ the run

@dataclass
class RunResult:
    day: Path
    out: Path
    record: DayRecord
    results: list[ReportResult]
    manifest: dict[str, Any]

    @property
    def breaks(self) -> int:
        return sum(r.breaks for r in self.results)


def module_of(name: str) -> Any:
    try:
        return importlib.import_module(REPORTS[name])
    except KeyError:
        raise PostTradeError(f"no report named {name!r}; reports: {', '.join(REPORTS)}") \
            from None


def run(day: Path, names: Sequence[str] | None = None, config: Config | None = None,
        *, record: DayRecord | None = None) -> RunResult:
    """Read the day once and write the reports named (all by default)."""
    day = Path(day)
    chosen = list(names) if names else list(REPORTS)
    mods = [module_of(n) for n in chosen]
    with no_gc():
        rec = record if record is not None else read(day, chosen, config)
        return _run(day, chosen, mods, rec)


def read(day: Path, names: Sequence[str] | None = None, config: Config | None = None,
         progress: Callable[[int], None] | None = None) -> DayRecord:
    """The day's record for the reports `names` (all by default): one pass, keeping the
    raw frames a report reads on its own (`KEEP` of its module) so it needs no second."""
    keep: frozenset[int] = frozenset()
    for n in names or list(REPORTS):
        keep |= getattr(module_of(n), "KEEP", frozenset())
    return read_day(day, config, progress=progress, keep=keep)


def _run(day: Path, chosen: list[str], mods: list[Any], rec: DayRecord) -> RunResult:
    final = day / "post_trade"
    tmp = day / "post_trade.new"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # Reports not asked for this time keep their files from an earlier run.
    if final.is_dir():
        for old in sorted(final.iterdir()):
            if old.is_dir() and old.name not in chosen:
                shutil.copytree(old, tmp / old.name)
    for name in chosen:
        (tmp / name).mkdir()
    results = _write_all(rec, tmp, chosen, mods)
    manifest = _manifest(rec, tmp, results, final)
    write_json(tmp / MANIFEST, manifest)
    if final.exists():
        old = day / "post_trade.old"
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(final)
    for r in results:  # the paths where the files now are
        r.files = [final / p.relative_to(tmp) for p in r.files]
    return RunResult(day, final, rec, results, manifest)


#: The order reports are started in when they run side by side: the longest first.
_LONGEST_FIRST = ("cat", "quality", "activity", "clearing", "timesync")


def _write_all(rec: DayRecord, tmp: Path, chosen: list[str], mods: list[Any]
               ) -> list[ReportResult]:
    """Each report into `tmp/NAME`; side by side in forked processes, one per core, when
    the machine has more than one (the reports are independent functions of the same
    record, which the children share with the parent; each writes only its own folder,
    so the files are the same bytes either way)."""
    cores = os.cpu_count() or 1
    if cores < 2 or len(chosen) < 2 or not hasattr(os, "fork"):
        return [mod.write(rec, tmp / name) for name, mod in zip(chosen, mods, strict=True)]
    rank = {n: i for i, n in enumerate(_LONGEST_FIRST)}
    todo = sorted(range(len(chosen)), key=lambda i: (rank.get(chosen[i], -1), i))
    done: dict[int, ReportResult] = {}
    running: dict[int, tuple[int, Path]] = {}
    failure: BaseException | None = None
    while todo or running:
        while todo and len(running) < cores and failure is None:
            i = todo.pop(0)
            answer = tmp / f".{chosen[i]}.result"
            with warnings.catch_warnings():
                # Python warns of any other OS thread; ours are NumPy's idle BLAS workers
                # (imported with the quality charts), which OpenBLAS makes fork-safe.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: one report, its result pickled to a file
                code = 0
                try:
                    out: tuple[str, Any] = ("ok", mods[i].write(rec, tmp / chosen[i]))
                except BaseException as e:  # handed to the parent whole, to raise there
                    out, code = ("error", e), 1
                try:
                    answer.write_bytes(pickle.dumps(out))
                except Exception as e:  # an exception that does not pickle: its text
                    answer.write_bytes(pickle.dumps(("error", RuntimeError(repr(e)))))
                os._exit(code)
            running[pid] = (i, answer)
        if not running:
            break
        pid, _status = os.wait()
        if pid not in running:
            continue
        i, answer = running.pop(pid)
        try:
            kind, value = pickle.loads(answer.read_bytes())
            answer.unlink()
        except (OSError, pickle.UnpicklingError, EOFError):
            kind, value = "error", PostTradeError(
                f"report {chosen[i]!r} ended without a result (status {_status})")
        if kind == "ok":
            done[i] = value
        elif failure is None:
            failure = value
            todo.clear()
    if failure is not None:
        raise failure
    return [done[i] for i in range(len(chosen))]


def _manifest(rec: DayRecord, tmp: Path, results: list[ReportResult], final: Path
              ) -> dict[str, Any]:
    files = []
    for p in sorted(q for q in tmp.rglob("*") if q.is_file() and q.name != MANIFEST):
        files.append({"path": p.relative_to(tmp).as_posix(), "sha256": sha256_file(p),
                      "bytes": p.stat().st_size})
    reports: dict[str, Any] = {}
    old = final / MANIFEST
    if old.is_file():  # reports kept from an earlier run keep their summaries
        try:
            reports = dict(json.loads(old.read_text()).get("reports", {}))
        except (ValueError, OSError):
            reports = {}
    for r in results:
        reports[r.name] = {"breaks": r.breaks, "summary": r.summary}
    reports = {k: v for k, v in reports.items() if (tmp / k).is_dir()}
    return {
        "format": 1,
        "session_date": rec.session_date.isoformat(),
        "journal_last_seq": rec.last_seq,
        "journal_frames": rec.frames,
        "complete": rec.complete,
        "refdata_digest": rec.refdata.digest,
        "reports": dict(sorted(reports.items())),
        "files": files,
    }


def verify_manifest(day: Path) -> list[str]:
    """Files of `DAY/post_trade` that differ from the manifest (empty: all as written)."""
    root = Path(day) / "post_trade"
    m = json.loads((root / MANIFEST).read_text())
    problems = []
    listed = set()
    for f in m["files"]:
        p = root / f["path"]
        listed.add(f["path"])
        if not p.is_file():
            problems.append(f"missing {f['path']}")
        elif sha256_file(p) != f["sha256"]:
            problems.append(f"changed {f['path']}")
    for p in sorted(q for q in root.rglob("*") if q.is_file() and q.name != MANIFEST):
        if p.relative_to(root).as_posix() not in listed:
            problems.append(f"added {p.relative_to(root).as_posix()}")
    return problems
