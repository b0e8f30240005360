"""The day archive: a finished day's folder, packed write-once into the archive store
(`tape archive pack | verify | list`, the `archive` stage of the daily jobs).

SEC Rule 17a-4 wants records kept non-rewriteable and non-erasable (since 2022 an
audit trail that lets the original be recreated is allowed instead). Here:

- `pack(day, store)` copies a stopped, clean day into `STORE/<session date>/` and
  writes its manifest: every file's path, size and SHA-256, the journal's last seq and
  digest, how long the day is kept (`retain_until`, the session date plus the
  retention in years) and the SHA-256 of the previous day's manifest, so the days form
  a hash chain: changing, adding or removing anything in an archived day, or a whole
  day, shows. Then the day is made write-once: as root on Linux every file and folder
  gets `chattr +i` (immutable: not even root writes or deletes it until the flag is
  lifted); elsewhere, or where the filesystem does not take the flag (tmpfs), read-only
  permissions, which with the hash chain give tamper evidence, not prevention.
- `verify(store)` checks every day (or one) against its manifest and the chain.
- `list_days(store)` / `expired(store, today)`: what is kept and until when. Nothing
  here deletes anything: a day past `retain_until` is only listed.

The store:

```
STORE/
  2013-10-07/                       one day: the day folder's files, as they were
    ARCHIVE-MANIFEST.json           files (path, size, sha256), session_date, journal
                                    (last seq, sha256 of the segments in order),
                                    retain_until, previous (sha256 of the previous
                                    day's manifest file, null for the first), position
    journal/..., refdata/..., logs/..., post_trade/..., db/...
  2013-10-08/
    ARCHIVE-MANIFEST.json           previous = sha256 of 2013-10-07/ARCHIVE-MANIFEST.json
  .archive.lock                     held while a pack runs (one pack at a time)
  .staging-<date>/                  a pack in progress (renamed into place when whole)
```

Not archived: what only a live day has (`*.sock`, `*.lock`, `*.tmp`, `post_trade.new/`,
an Aeron directory, symlinks and other non-regular files); the pack result lists them.

A day is refused (exit 1) while its sequencer runs, when its journal fails
verification, when it has no `SystemStop`, when the store already holds a later day
(the chain runs forward in date order) and when it is archived already with other
content. Packing a day archived with the same content says so and exits 0.
"""

# determinism: edge module, ops tooling: copies and protects a finished day's files

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

MANIFEST = "ARCHIVE-MANIFEST.json"
FORMAT = 1
LOCK = ".archive.lock"
STAGING = ".staging-"
DEFAULT_RETENTION_YEARS = 6  # 17a-4(a): six years for the blotters and ledgers
IMMUTABLE = "immutable"
READ_ONLY = "read-only"
UNPROTECTED = "none"

#: Live-only files and folders of a day folder (see the module docstring).
_SKIP_SUFFIXES = (".sock", ".lock", ".tmp")
_SKIP_DIRS = ("post_trade.new",)
_AERON_MARK = "cnc.dat"  # every Aeron directory has its command-and-control file
_CHUNK = 1 << 20
_CHATTR_BATCH = 256


class ArchiveError(Exception):
    """A pack or verify that cannot go on; `code` is the exit code (1 refused, 2 usage)."""

    code = 1


class ArchiveRefused(ArchiveError):
    """The day may not be archived (or archived again): exit 1."""

    code = 1


class ArchiveUsageError(ArchiveError):
    """No such day, store or date; a bad retention: exit 2."""

    code = 2


# --------------------------------------------------------------------------- results


@dataclass
class PackResult:
    date: str
    folder: Path
    files: int
    bytes: int
    last_seq: int
    journal_sha256: str
    manifest_sha256: str
    position: int
    previous: str | None
    retain_until: str
    protection: str  # immutable | read-only (never in the manifest: not content)
    already: bool = False  # archived before, with the same content
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.already:
            return (f"{self.date} already archived in {self.folder} ({self.files} files, "
                    f"{_size(self.bytes)}, {self.protection}, retained until "
                    f"{self.retain_until}): nothing to do")
        return (f"archived {self.date} to {self.folder}: {self.files} files, "
                f"{_size(self.bytes)}, journal to seq {self.last_seq}, chain position "
                f"{self.position}, {self.protection}, retained until {self.retain_until}")

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date, "folder": str(self.folder), "files": self.files,
                "bytes": self.bytes, "last_seq": self.last_seq,
                "journal_sha256": self.journal_sha256,
                "manifest_sha256": self.manifest_sha256, "position": self.position,
                "previous": self.previous, "retain_until": self.retain_until,
                "protection": self.protection, "already": self.already,
                "skipped": self.skipped, "notes": self.notes, "summary": self.summary()}


@dataclass
class VerifyResult:
    store: Path
    days: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        what = (f"{len(self.days)} day(s), {self.files} files, {_size(self.bytes)} in "
                f"{self.store}")
        if self.ok:
            return f"archive intact: {what}, chain unbroken"
        return f"archive DAMAGED: {len(self.problems)} problem(s) over {what}"

    def to_json(self) -> dict[str, Any]:
        return {"store": str(self.store), "ok": self.ok, "days": self.days,
                "files": self.files, "bytes": self.bytes, "problems": self.problems,
                "notes": self.notes, "summary": self.summary()}


@dataclass
class DayEntry:
    date: str
    position: int
    files: int
    bytes: int
    retain_until: str
    protection: str

    def expired(self, today: dt.date) -> bool:
        return dt.date.fromisoformat(self.retain_until) < today

    def to_json(self, today: dt.date) -> dict[str, Any]:
        return {"date": self.date, "position": self.position, "files": self.files,
                "bytes": self.bytes, "retain_until": self.retain_until,
                "protection": self.protection, "expired": self.expired(today)}


# --------------------------------------------------------------------------- helpers


def _size(n: int) -> str:
    if n < 1024:
        return f"{n:,} bytes"
    f = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        f /= 1024
        if f < 1024 or unit == "GiB":
            break
    return f"{f:,.1f} {unit}"


def retain_until(session_date: dt.date, years: int) -> dt.date:
    """`session_date` plus `years`. A 29 February with no match that year goes to 1 March:
    a record is never kept a day less than the rule says."""
    try:
        return session_date.replace(year=session_date.year + years)
    except ValueError:
        return dt.date(session_date.year + years, 3, 1)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _manifest_bytes(m: dict[str, Any]) -> bytes:
    # Sorted keys, fixed layout: the manifest is a function of the day's content, so the
    # next day's `previous` names that content.
    return (json.dumps(m, indent=1, sort_keys=True) + "\n").encode()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _aeron_dir_in(day: Path) -> Path | None:
    """The day's Aeron directory when it lies inside the day folder (usually /dev/shm)."""
    from sequencer.config import ConfigError, TransportConfig

    try:
        where = Path(TransportConfig.for_day(day).aeron_dir).resolve()
    except (ConfigError, OSError):
        return None
    return where if where.is_relative_to(day.resolve()) else None


def _day_files(day: Path) -> tuple[list[str], list[str]]:
    """The files of a day folder to archive (relative paths, sorted) and what is left out
    (each with why)."""
    day = Path(day)
    aeron = _aeron_dir_in(day)
    keep: list[str] = []
    skipped: list[str] = []
    for top, dirs, names in os.walk(day, followlinks=False):
        top_p = Path(top)
        rel_top = top_p.relative_to(day)
        for d in sorted(dirs):
            p = top_p / d
            why = ""
            if p.is_symlink():
                why = "a symlink (not followed)"
            elif d in _SKIP_DIRS and rel_top == Path("."):
                why = "a live-only folder"
            elif (p / _AERON_MARK).exists() or (aeron is not None and p.resolve() == aeron):
                why = "an Aeron directory"
            if why:
                dirs.remove(d)
                skipped.append(f"{(rel_top / d).as_posix()}/: {why}")
        dirs.sort()
        for n in sorted(names):
            p = top_p / n
            rel = (rel_top / n).as_posix()
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                skipped.append(f"{rel}: a symlink (not followed)")
            elif not stat.S_ISREG(st.st_mode):
                skipped.append(f"{rel}: not a regular file (a socket or pipe)")
            elif n.endswith(_SKIP_SUFFIXES):
                skipped.append(f"{rel}: a live-only file")
            elif rel_top == Path(".") and n == MANIFEST:
                skipped.append(f"{rel}: the archive's own file name")
            else:
                keep.append(rel)
    return sorted(keep), skipped


def _hash_files(root: Path, rels: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Each file's entry and the journal digest: the segments' bytes in seq order (their
    names sort so), the same as `StreamKit.journal_sha256` of a kit's journal."""
    entries: list[dict[str, Any]] = []
    journal = hashlib.sha256()
    for rel in rels:
        h = hashlib.sha256()
        size = 0
        seg = _is_segment(rel)
        with open(root / rel, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
                if seg:
                    journal.update(chunk)
        entries.append({"path": rel, "size": size, "sha256": h.hexdigest()})
    return entries, journal.hexdigest()


def _is_segment(rel: str) -> bool:
    return rel.startswith("journal/") and rel.count("/") == 1 and rel.endswith(".seg")


def _copy(src: Path, dst: Path, rels: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Copy the files, hashing what is written, each fsynced before the manifest exists."""
    entries: list[dict[str, Any]] = []
    journal = hashlib.sha256()
    made: set[Path] = set()
    for rel in rels:
        target = dst / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        h = hashlib.sha256()
        size = 0
        seg = _is_segment(rel)
        with open(src / rel, "rb") as fin, open(target, "xb") as fout:
            while chunk := fin.read(_CHUNK):
                fout.write(chunk)
                h.update(chunk)
                size += len(chunk)
                if seg:
                    journal.update(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        st = os.stat(src / rel)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # when the day wrote it
        entries.append({"path": rel, "size": size, "sha256": h.hexdigest()})
    for d in sorted(made, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(d)
    return entries, journal.hexdigest()


# --------------------------------------------------------------------------- the day


@dataclass
class _Day:
    session_date: dt.date
    first_seq: int
    last_seq: int
    frames: int


def _check_day(day: Path) -> _Day:
    """The day may be archived: not running, journal clean, started and stopped."""
    from sequencer.journal import read_all, resolve_journal_dir
    from sequencer.journal import verify as verify_journal
    from sequencer.messages import TYPE_ID, decode
    from sequencer.messages.control import SystemStart, SystemStop
    from sequencer.ownership import owner_of_day

    if not day.is_dir():
        raise ArchiveUsageError(f"no day folder {day}" + (" (it is a file)" if day.exists()
                                                           else ""))
    if not (day / "journal").is_dir():
        raise ArchiveUsageError(f"{day} has no journal/: not a day folder")
    owner = owner_of_day(day)
    if owner is not None:
        raise ArchiveRefused(
            f"{day} is run by the sequencer pid {owner.pid}: a running day is never "
            "archived; run `tape day stop` first (or `tape sequencer stop --day DAY`) and "
            "let the sequencer exit")
    jdir = resolve_journal_dir(day, strict=True)
    rep = verify_journal(jdir)
    if not rep.clean:
        d = rep.damage[0]
        more = f" (and {len(rep.damage) - 1} more)" if len(rep.damage) > 1 else ""
        raise ArchiveRefused(
            f"the journal of {day} fails verification at seq {d.seq} ({d.file}, byte "
            f"{d.offset}): {d.what}{more}; a damaged day is not archived (`tape journal "
            f"verify {day}`)")
    if rep.frames == 0:
        raise ArchiveRefused(f"the journal of {day} is empty: the day never started")
    first = next(read_all(jdir, rep.first_seq, rep.first_seq))
    start = decode(first.type_id, first.payload) if first.type_id == TYPE_ID[SystemStart] \
        else None
    if not isinstance(start, SystemStart):
        raise ArchiveRefused(f"the journal of {day} does not begin with SystemStart: no "
                             "session date to archive it under")
    last = next(read_all(jdir, rep.last_seq, rep.last_seq))
    if last.type_id != TYPE_ID[SystemStop]:
        raise ArchiveRefused(
            f"{day} is not stopped: its journal ends at seq {rep.last_seq} without "
            "SystemStop; run `tape day stop` first (or `tape sequencer stop --day DAY`)")
    return _Day(start.session_date, rep.first_seq, rep.last_seq, rep.frames)


# --------------------------------------------------------------------------- the store


def _day_folders(store: Path) -> list[Path]:
    """The store's day folders, oldest first (named YYYY-MM-DD)."""
    out = []
    for p in store.iterdir():
        if p.is_dir() and not p.name.startswith("."):
            try:
                dt.date.fromisoformat(p.name)
            except ValueError:
                continue
            out.append(p)
    return sorted(out, key=lambda p: p.name)


def _load_manifest(folder: Path) -> dict[str, Any]:
    m = json.loads((folder / MANIFEST).read_bytes())
    if not isinstance(m, dict) or not isinstance(m.get("files"), list):
        raise ValueError("not an archive manifest")
    return m


@contextlib.contextmanager
def _store_lock(store: Path) -> Iterator[None]:
    with open(store / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise ArchiveRefused(f"another pack is running on {store}; one at a time, so "
                                 "the chain has one next day") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- protection


def _can_chattr() -> bool:
    return (sys.platform.startswith("linux") and os.geteuid() == 0
            and shutil.which("chattr") is not None and shutil.which("lsattr") is not None)


def _immutable_flag(path: Path) -> bool:
    """`lsattr` shows the immutable flag on `path` (False where it cannot tell)."""
    if shutil.which("lsattr") is None:
        return False
    r = subprocess.run(["lsattr", "-d", "--", str(path)], capture_output=True, text=True,
                       check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return False
    return "i" in r.stdout.split()[0]


def _tree(folder: Path) -> list[Path]:
    """Every file and folder under `folder`, deepest first, `folder` itself last."""
    paths: list[Path] = []
    for top, dirs, names in os.walk(folder, topdown=False):
        paths += [Path(top) / n for n in sorted(names)]
        paths += [Path(top) / d for d in sorted(dirs)]
    paths.append(folder)
    return paths


def protection_of(folder: Path) -> str:
    """How an archived day is protected now: immutable, read-only or none (judged by its
    manifest and its folder)."""
    m = folder / MANIFEST
    if _immutable_flag(m) and _immutable_flag(folder):
        return IMMUTABLE
    try:
        if not (m.stat().st_mode & 0o222) and not (folder.stat().st_mode & 0o222):
            return READ_ONLY
    except OSError:
        pass
    return UNPROTECTED


def _protect(folder: Path, notes: list[str]) -> str:
    """Make an archived day write-once; the protection applied."""
    paths = _tree(folder)
    refused: list[Path] = []
    for p in paths:
        try:
            os.chmod(p, 0o555 if p.is_dir() else 0o444, follow_symlinks=False)
        except PermissionError:
            refused.append(p)  # already immutable (a pack cut short while protecting)
    if _can_chattr():
        for i in range(0, len(paths), _CHATTR_BATCH):
            batch = [str(p) for p in paths[i:i + _CHATTR_BATCH]]
            r = subprocess.run(["chattr", "+i", "--", *batch], capture_output=True,
                               text=True, check=False)
            if r.returncode != 0:
                break
        # Checked, not assumed: tmpfs and some filesystems refuse the flag.
        if all(_immutable_flag(p) for p in (folder, folder / MANIFEST)):
            return IMMUTABLE
        notes.append(f"chattr +i did not take on {folder} (the filesystem does not support "
                     "the immutable flag?): read-only permissions and the hash chain only")
    if refused and not all(_immutable_flag(p) for p in refused):
        raise ArchiveRefused(f"cannot make {refused[0]} read-only")
    return READ_ONLY


# --------------------------------------------------------------------------- pack


def pack(day: Path, store: Path, *, retention_years: int = DEFAULT_RETENTION_YEARS
         ) -> PackResult:
    """Archive a finished day into `store` (see the module docstring). `ArchiveRefused`
    (exit 1) or `ArchiveUsageError` (exit 2) when it may not."""
    day, store = Path(day), Path(store)
    if retention_years < 1:
        raise ArchiveUsageError(f"retention of {retention_years} years: at least 1 "
                                "(17a-4 asks six years of most records, three of others)")
    if store.exists() and not store.is_dir():
        raise ArchiveUsageError(f"the archive store {store} is a file")
    info = _check_day(day)
    date = info.session_date.isoformat()
    store.mkdir(parents=True, exist_ok=True)
    rels, skipped = _day_files(day)
    with _store_lock(store):
        folder = store / date
        if folder.exists():
            return _rerun(day, folder, rels, skipped, retention_years)
        days = _day_folders(store)
        later = [p.name for p in days if p.name > date]
        if later:
            raise ArchiveRefused(
                f"the store already holds a later day ({later[-1]}): days are archived in "
                f"date order, each chained to the one before, so {date} cannot go in now")
        prev_folder = days[-1] if days else None
        previous: str | None = None
        position = 1
        if prev_folder is not None:
            try:
                prev = _load_manifest(prev_folder)
                previous = hashlib.sha256((prev_folder / MANIFEST).read_bytes()).hexdigest()
                position = int(prev["position"]) + 1
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ArchiveRefused(
                    f"the store's last day {prev_folder.name} has no readable manifest "
                    f"({e}): the chain cannot go on; run `tape archive verify --store "
                    f"{store}`") from None
        staging = store / f"{STAGING}{date}"
        if staging.exists():
            shutil.rmtree(staging)  # a pack cut short: never protected, never in place
        staging.mkdir()
        entries, journal_sha = _copy(day, staging, rels)
        until = retain_until(info.session_date, retention_years)
        total = sum(int(e["size"]) for e in entries)
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "session_date": date,
            "position": position,
            "previous": previous,
            "previous_date": prev_folder.name if prev_folder is not None else None,
            "retention_years": retention_years,
            "retain_until": until.isoformat(),
            "journal": {"first_seq": info.first_seq, "last_seq": info.last_seq,
                        "frames": info.frames, "sha256": journal_sha},
            "files": entries,
            "totals": {"files": len(entries), "bytes": total},
        }
        data = _manifest_bytes(manifest)
        tmp = staging / (MANIFEST + ".tmp")
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(staging / MANIFEST)
        _fsync_dir(staging)
        # The day appears whole or not at all: a crash leaves only the staging folder.
        staging.rename(folder)
        _fsync_dir(store)
        notes: list[str] = []
        protection = _protect(folder, notes)
        return PackResult(
            date=date, folder=folder, files=len(entries),
            bytes=total, last_seq=info.last_seq,
            journal_sha256=journal_sha, manifest_sha256=hashlib.sha256(data).hexdigest(),
            position=position, previous=previous, retain_until=until.isoformat(),
            protection=protection, skipped=skipped, notes=notes)


def _rerun(day: Path, folder: Path, rels: list[str], skipped: list[str],
           retention_years: int) -> PackResult:
    """The day is in the store already: the same content is done (protected again if a
    pack was cut short before protecting); other content is refused (write-once)."""
    try:
        m = _load_manifest(folder)
    except (OSError, ValueError) as e:
        raise ArchiveRefused(f"{folder} is in the store without a readable manifest ({e}); "
                             f"run `tape archive verify --store {folder.parent}`") from None
    entries, _ = _hash_files(day, rels)
    diff = _differences(m["files"], entries, "archived", "the day folder")
    if diff:
        shown = "; ".join(diff[:5]) + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
        raise ArchiveRefused(f"{m['session_date']} is already archived in {folder} with "
                             f"other content ({shown}): an archive is write-once")
    notes: list[str] = []
    if int(m.get("retention_years", 0)) != retention_years:
        notes.append(f"retained until {m['retain_until']} as archived: a retention is not "
                     "changed after the fact")
    protection = protection_of(folder)
    if protection != IMMUTABLE and not (protection == READ_ONLY and not _can_chattr()):
        protection = _protect(folder, notes)
    return PackResult(
        date=str(m["session_date"]), folder=folder, files=len(entries),
        bytes=sum(e["size"] for e in entries), last_seq=int(m["journal"]["last_seq"]),
        journal_sha256=str(m["journal"]["sha256"]),
        manifest_sha256=file_sha256(folder / MANIFEST), position=int(m["position"]),
        previous=m["previous"], retain_until=str(m["retain_until"]), protection=protection,
        already=True, skipped=skipped, notes=notes)


def _differences(want: list[dict[str, Any]], have: list[dict[str, Any]], want_name: str,
                 have_name: str) -> list[str]:
    w = {e["path"]: e for e in want}
    h = {e["path"]: e for e in have}
    out: list[str] = []
    for p in sorted(w.keys() | h.keys()):
        if p not in h:
            out.append(f"missing {p} (in the {want_name} list, not in {have_name})")
        elif p not in w:
            out.append(f"added {p} (in {have_name}, not in the {want_name} list)")
        elif (w[p]["size"], w[p]["sha256"]) != (h[p]["size"], h[p]["sha256"]):
            out.append(f"changed {p} (sha256 {h[p]['sha256'][:12]}, {h[p]['size']:,} bytes;"
                       f" {want_name} {w[p]['sha256'][:12]}, {w[p]['size']:,} bytes)")
    return out


# --------------------------------------------------------------------------- verify


def _all_entries(folder: Path) -> tuple[list[str], list[str]]:
    """Every regular file under an archived day (relative, sorted, the manifest left out)
    and everything else found (folders with no file, symlinks, sockets)."""
    files: list[str] = []
    other: list[str] = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        rel_top = Path(top).relative_to(folder)
        for n in dirs + names:
            p = Path(top) / n
            rel = (rel_top / n).as_posix()
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                continue
            if stat.S_ISREG(st.st_mode):
                if rel != MANIFEST:
                    files.append(rel)
            else:
                other.append(rel)
    return sorted(files), other


def _verify_day(folder: Path, res: VerifyResult) -> dict[str, Any] | None:
    date = folder.name
    try:
        m = _load_manifest(folder)
    except FileNotFoundError:
        res.problems.append(f"{date}: no {MANIFEST}: the day's record cannot be checked and "
                            "the chain is broken there")
        return None
    except (OSError, ValueError) as e:
        res.problems.append(f"{date}: {MANIFEST} unreadable ({e})")
        return None
    if m.get("session_date") != date:
        res.problems.append(f"{date}: the manifest is of {m.get('session_date')!r}, not of "
                            "the folder it is in")
    before = len(res.problems)
    files, other = _all_entries(folder)
    have, journal_sha = _hash_files(folder, files)
    for line in _differences(m["files"], have, "manifest", "the archive"):
        res.problems.append(f"{date}: {line}")
    for rel in other:
        res.problems.append(f"{date}: added {rel} (not a regular file; not in the manifest)")
    listed_dirs = {p for e in m["files"] for p in Path(e["path"]).parents}
    for top, dirs, _ in os.walk(folder, followlinks=False):
        for d in dirs:
            sub = (Path(top) / d).relative_to(folder)
            if sub not in listed_dirs and not (Path(top) / d).is_symlink():
                res.problems.append(f"{date}: added folder {sub.as_posix()}/ (no archived "
                                    "file is in it)")
    if len(res.problems) == before and journal_sha != m.get("journal", {}).get("sha256"):
        # Every file matches, yet the journal digest does not: the manifest was edited.
        res.problems.append(f"{date}: the manifest's journal digest is not that of the "
                            "archived segments")
    res.files += len(have)
    res.bytes += sum(e["size"] for e in have)
    return m


def verify(store: Path, date: str | None = None) -> VerifyResult:
    """Every archived day (or the one of `date`) against its manifest, and the chain:
    each manifest's `previous` is the SHA-256 of the day before's manifest file."""
    store = Path(store)
    if not store.is_dir():
        raise ArchiveUsageError(f"no archive store {store}")
    res = VerifyResult(store=store)
    days = _day_folders(store)
    for p in sorted(store.iterdir()):
        if p.name.startswith(STAGING):
            res.notes.append(f"{p.name}: a pack cut short (not part of the archive; the next "
                             "pack of that day removes it)")
        elif not p.name.startswith(".") and p not in days:
            res.problems.append(f"added {p.name} in the store (not a day folder)")
    if date is not None:
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise ArchiveUsageError(f"--date {date!r}: expected YYYY-MM-DD") from None
        if not (store / date).is_dir():
            raise ArchiveUsageError(f"no day {date} in {store}")
    index = {p.name: i for i, p in enumerate(days)}
    manifests: dict[str, dict[str, Any] | None] = {}
    targets = [store / date] if date is not None else days
    for folder in targets:
        res.days.append(folder.name)
        manifests[folder.name] = _verify_day(folder, res)
    for folder in targets:
        m = manifests[folder.name]
        if m is not None:
            _check_link(store, days, index[folder.name], m, res)
    return res


def _check_link(store: Path, days: list[Path], i: int, m: dict[str, Any],
                res: VerifyResult) -> None:
    """The chain at day `i`: its `previous` is the day before's manifest digest."""
    date = days[i].name
    named = m.get("previous_date")
    if i == 0:
        if m.get("previous") is not None or named is not None:
            res.problems.append(f"chain broken at {date}: the day before it, "
                                f"{named or '(unnamed)'}, is missing from the store")
        elif m.get("position") != 1:
            res.problems.append(f"chain broken at {date}: it is day {m.get('position')} of "
                                "the chain, the days before it are gone")
        return
    before = days[i - 1]
    if named != before.name:
        if named is not None and not (store / str(named)).exists():
            res.problems.append(f"chain broken at {date}: the day before it, {named}, is "
                                "missing from the store")
        else:
            res.problems.append(f"chain broken at {date}: it follows {named}, the store "
                                f"has {before.name} before it")
        return
    try:
        got = file_sha256(before / MANIFEST)
    except OSError:
        res.problems.append(f"chain broken at {date}: the manifest of {before.name} is "
                            "missing")
        return
    if m.get("previous") != got:
        res.problems.append(f"chain broken at {date}: it names the manifest of {before.name}"
                            f" as {str(m.get('previous'))[:12]}, that manifest hashes to "
                            f"{got[:12]} (changed after {date} was archived)")
        return
    try:
        want_pos = int(_load_manifest(before)["position"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return
    if m.get("position") != want_pos:
        res.problems.append(f"chain broken at {date}: position {m.get('position')}, "
                            f"expected {want_pos}")


# --------------------------------------------------------------------------- retention


def list_days(store: Path) -> list[DayEntry]:
    """The archived days, oldest first (a day whose manifest cannot be read is left out:
    `verify` reports it)."""
    store = Path(store)
    if not store.is_dir():
        raise ArchiveUsageError(f"no archive store {store}")
    out: list[DayEntry] = []
    for folder in _day_folders(store):
        try:
            m = _load_manifest(folder)
            out.append(DayEntry(folder.name, int(m["position"]), int(m["totals"]["files"]),
                                int(m["totals"]["bytes"]), str(m["retain_until"]),
                                protection_of(folder)))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def expired(store: Path, today: dt.date) -> list[DayEntry]:
    """The days whose `retain_until` has passed by `today` (kept on its last day)."""
    return [d for d in list_days(store) if d.expired(today)]


# --------------------------------------------------------------------------- CLI

archive_app = typer.Typer(help="The day archive: pack a finished day write-once, verify "
                          "the store, list what is kept.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[Path, typer.Option("--store", help="The archive store folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(msg: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {msg}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


@archive_app.command("pack")
def pack_cmd(
    day: Annotated[Path, typer.Option("--day", help="The day folder (stopped).")],
    store: StoreOpt,
    retention_years: Annotated[int, typer.Option(
        "--retention-years", min=1, help="How long the day is kept.")] = (
            DEFAULT_RETENTION_YEARS),
    json_: JsonOpt = False,
) -> None:
    """Pack a stopped day into the store, chained and write-once. Exit 0 archived (or
    already), 1 refused, 2 bad usage."""
    try:
        res = pack(day, store, retention_years=retention_years)
    except ArchiveError as e:
        raise _fail(str(e), e.code) from None
    if json_:
        print(json.dumps(res.to_json()))
        return
    for s in res.skipped:
        out.print(f"  not archived: {s}", highlight=False, soft_wrap=True)
    for n in res.notes:
        out.print(f"[yellow]note:[/yellow] {n}", highlight=False, soft_wrap=True)
    out.print(res.summary(), highlight=False, soft_wrap=True)


@archive_app.command("verify")
def verify_cmd(
    store: StoreOpt,
    date: Annotated[str | None, typer.Option("--date", help="Only this day (YYYY-MM-DD).")
                    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Check every archived day against its manifest and the chain. Exit 0 intact, 1 a
    file changed, missing or added or the chain broken, 2 bad usage."""
    try:
        res = verify(store, date)
    except ArchiveError as e:
        raise _fail(str(e), e.code) from None
    if json_:
        print(json.dumps(res.to_json()))
    else:
        for p in res.problems:
            out.print(f"  [red]{p}[/red]", highlight=False, soft_wrap=True)
        for n in res.notes:
            out.print(f"  [yellow]note:[/yellow] {n}", highlight=False, soft_wrap=True)
        out.print(res.summary(), highlight=False, soft_wrap=True)
    raise typer.Exit(0 if res.ok else 1)


@archive_app.command("list")
def list_cmd(
    store: StoreOpt,
    today: Annotated[str | None, typer.Option(
        "--today", help="Judge retention as of this date (YYYY-MM-DD; default today).")
                     ] = None,
    json_: JsonOpt = False,
) -> None:
    """Each archived day: size, retained until, protection, past retention or not."""
    try:
        when = dt.date.fromisoformat(today) if today else dt.date.today()
    except ValueError:
        raise _fail(f"--today {today!r}: expected YYYY-MM-DD", 2) from None
    try:
        days = list_days(store)
    except ArchiveError as e:
        raise _fail(str(e), e.code) from None
    gone = [d for d in days if d.expired(when)]
    summary = (f"{len(days)} day(s) in {store}"
               + (f", {days[0].date}..{days[-1].date}" if days else "")
               + f", {_size(sum(d.bytes for d in days))}; {len(gone)} past retention on "
               f"{when.isoformat()}")
    if json_:
        print(json.dumps({"store": str(store), "today": when.isoformat(),
                          "days": [d.to_json(when) for d in days], "summary": summary}))
        return
    if days:
        t = Table(title=f"archived days in {store}")
        t.add_column("date")
        t.add_column("#", justify="right")
        t.add_column("files", justify="right")
        t.add_column("size", justify="right")
        t.add_column("retain until")
        t.add_column("protection")
        for d in days:
            until = (f"[yellow]{d.retain_until} (passed)[/yellow]" if d.expired(when)
                     else d.retain_until)
            t.add_row(d.date, str(d.position), f"{d.files:,}", _size(d.bytes), until,
                      d.protection)
        out.print(t)
    out.print(summary, highlight=False, soft_wrap=True)


__all__ = [
    "DEFAULT_RETENTION_YEARS", "IMMUTABLE", "MANIFEST", "READ_ONLY", "UNPROTECTED",
    "ArchiveError", "ArchiveRefused", "ArchiveUsageError", "DayEntry", "PackResult",
    "VerifyResult", "archive_app", "expired", "file_sha256", "list_days", "pack",
    "protection_of", "retain_until", "verify",
]
