"""The day archive (`deploy/archive.py`): two finished days of different dates packed
into a store, chained and write-once; `verify` finds a changed, a missing and an added
file and a broken chain; damaged, unstopped and running days are refused; a rerun is
"already archived"; retention dates.

Archived files may be immutable (`chattr +i` as root): a test that tampers lifts the
flag first (`_lift`), and the `store` fixture always lifts it at teardown, or pytest
could not delete its tmp folders."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy import archive
from deploy.archive import (
    IMMUTABLE,
    MANIFEST,
    READ_ONLY,
    ArchiveRefused,
    ArchiveUsageError,
    archive_app,
    expired,
    list_days,
    pack,
    retain_until,
    verify,
)
from sequencer.journal import list_segments
from sequencer.kit import StreamKit
from sequencer.ownership import Ownership
from tests.oms.fixtures import DAY
from tests.post_trade.daykit import KitDay

SECOND = 1_000_000_000
DAY_A = DAY  # 2013-10-08, the kit day's date
DAY_B = dt.date(2013, 10, 9)
ROOT_CHATTR = archive._can_chattr()


def _lift(path: Path) -> None:
    """Lift the write-once protection (immutable flag, read-only modes) under `path`."""
    if not path.exists():
        return
    if ROOT_CHATTR:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=False, capture_output=True)
    for top, dirs, names in os.walk(path):
        for n in dirs:
            os.chmod(Path(top) / n, 0o755)
        for n in names:
            p = Path(top) / n
            if not p.is_symlink():
                os.chmod(p, 0o644)
    os.chmod(path, 0o755)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    s = tmp_path / "store"
    yield s
    _lift(s)


def bare_day(path: Path, date: dt.date, *, stop: bool = True) -> StreamKit:
    """A day with no apps: SystemStart, a few clock ticks, SystemStop (unless not)."""
    path.mkdir(parents=True, exist_ok=True)
    kit = StreamKit(journal=path / "journal", start_ns=SECOND)
    kit.start(date, seed=3)
    for _ in range(5):
        kit.advance(SECOND)
    if stop:
        kit.stop("end of day")
    kit.close()
    (path / "logs").mkdir()
    (path / "logs" / "sequencer.log").write_text('{"msg": "day over"}\n')
    return kit


def kit_day(path: Path) -> KitDay:
    """The post-trade kit day (the real OMS, ref data), plus what only a live day has."""
    d = KitDay(path)
    d.quote(181_9000, 182_0000)
    oid = d.order("ALPHA", "A1", "buy", 500, 183_0000)
    d.child(oid, "C1", 500)
    d.fill("C1", 500, 182_0000)
    d.finish()
    (path / "sequencer.lock").write_text("{}")
    (path / "stream.json.tmp").write_text("{}")
    (path / "post_trade.new").mkdir()
    (path / "post_trade.new" / "orders.csv").write_text("half written\n")
    (path / "db").mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path / "db" / "query.sock"))
    sock.close()
    return d


@pytest.fixture
def two_days(tmp_path: Path) -> tuple[Path, KitDay, Path, StreamKit]:
    a, b = tmp_path / "day-a", tmp_path / "day-b"
    return a, kit_day(a), b, bare_day(b, DAY_B)


def _manifest(store: Path, date: dt.date) -> dict[str, object]:
    m: dict[str, object] = json.loads((store / date.isoformat() / MANIFEST).read_text())
    return m


# --------------------------------------------------------------------------- pack


def test_pack_two_days_chained_and_protected(
        store: Path, two_days: tuple[Path, KitDay, Path, StreamKit]) -> None:
    a, kit_a, b, kit_b = two_days
    ra = pack(a, store)
    rb = pack(b, store, retention_years=7)
    fa, fb = store / "2013-10-08", store / "2013-10-09"
    assert (ra.folder, rb.folder) == (fa, fb)
    ma, mb = _manifest(store, DAY_A), _manifest(store, DAY_B)

    # the chain: the first day has no previous; the second names the first's manifest
    assert (ma["position"], ma["previous"], ma["previous_date"]) == (1, None, None)
    a_sha = hashlib.sha256((fa / MANIFEST).read_bytes()).hexdigest()
    assert (mb["position"], mb["previous"], mb["previous_date"]) == (2, a_sha, "2013-10-08")
    assert ra.manifest_sha256 == a_sha and rb.previous == a_sha

    # the journal: last seq and the digest of its frames, as the kit wrote them
    assert ma["journal"] == {"first_seq": 1, "last_seq": kit_a.seq, "frames": kit_a.seq,
                             "sha256": kit_a.journal_sha256}
    assert mb["journal"] == {"first_seq": 1, "last_seq": 7, "frames": 7,
                             "sha256": kit_b.journal_sha256}
    assert (ra.last_seq, rb.last_seq) == (kit_a.seq, 7)

    # retention
    assert (ma["retention_years"], ma["retain_until"]) == (6, "2019-10-08")
    assert (mb["retention_years"], mb["retain_until"]) == (7, "2020-10-09")

    # the files: every one the day wrote, sorted, each with its size and digest; never
    # the live-only ones
    files = ma["files"]
    assert isinstance(files, list)
    paths = [f["path"] for f in files]
    assert paths == sorted(paths)
    assert "refdata/manifest.json" in paths and "journal/00000000000000000001.seg" in paths
    for f in files:
        src = a / f["path"]
        assert f["size"] == src.stat().st_size
        assert f["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        assert (fa / f["path"]).read_bytes() == src.read_bytes()
    assert not any(p.startswith("post_trade.new") or p.endswith((".lock", ".sock", ".tmp"))
                   for p in paths)
    assert sorted(s.split(":")[0] for s in ra.skipped) == [
        "db/query.sock", "post_trade.new/", "sequencer.lock", "stream.json.tmp"]
    assert ma["totals"] == {"files": len(files), "bytes": sum(f["size"] for f in files)}
    assert [f["path"] for f in mb["files"]] == [  # type: ignore[attr-defined]
        "journal/00000000000000000001.idx", "journal/00000000000000000001.seg",
        "logs/sequencer.log"]

    # write-once: immutable as root on Linux, else read-only; the modes are read-only
    # either way
    want = IMMUTABLE if ROOT_CHATTR else READ_ONLY
    assert (ra.protection, rb.protection) == (want, want)
    assert stat.S_IMODE((fa / MANIFEST).stat().st_mode) == 0o444
    assert stat.S_IMODE((fa / "journal").stat().st_mode) == 0o555
    assert stat.S_IMODE(fa.stat().st_mode) == 0o555
    assert [d.protection for d in list_days(store)] == [want, want]
    assert "chain position 2" in rb.summary() and "retained until 2020-10-09" in rb.summary()

    res = verify(store)
    assert res.ok, res.problems
    assert res.days == ["2013-10-08", "2013-10-09"]
    assert res.files == len(files) + 3
    assert res.summary().startswith("archive intact: 2 day(s)")


@pytest.mark.skipif(not ROOT_CHATTR, reason="the immutable flag needs root on Linux")
def test_immutable_even_for_root(store: Path, tmp_path: Path) -> None:
    bare_day(tmp_path / "d", DAY_B)
    res = pack(tmp_path / "d", store)
    assert res.protection == IMMUTABLE and res.notes == []
    seg = res.folder / "journal" / "00000000000000000001.seg"
    with pytest.raises(PermissionError):
        seg.open("ab")
    with pytest.raises(PermissionError):
        seg.unlink()
    with pytest.raises(PermissionError):
        (res.folder / "new.txt").write_text("x")
    lsattr = subprocess.run(["lsattr", "-d", str(res.folder)], capture_output=True, text=True,
                            check=True).stdout
    assert "i" in lsattr.split()[0]


def test_read_only_without_chattr(store: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "_can_chattr", lambda: False)
    bare_day(tmp_path / "d", DAY_B)
    res = pack(tmp_path / "d", store)
    assert res.protection == READ_ONLY and res.notes == []
    assert archive.protection_of(res.folder) == READ_ONLY
    for p in res.folder.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o555 if p.is_dir() else 0o444), p


def test_chattr_that_does_not_take_falls_back(store: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # tmpfs and some filesystems refuse the flag: chattr is tried, lsattr says no
    monkeypatch.setattr(archive, "_can_chattr", lambda: True)
    monkeypatch.setattr(archive, "_immutable_flag", lambda p: False)
    calls: list[list[str]] = []
    real_run = subprocess.run

    def fake_run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        if argv[0] == "chattr":
            calls.append(argv)
            return subprocess.CompletedProcess(argv, 1, "", "Operation not supported")
        return real_run(argv, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "run", fake_run)
    bare_day(tmp_path / "d", DAY_B)
    res = pack(tmp_path / "d", store)
    assert calls and calls[0][:3] == ["chattr", "+i", "--"]
    assert res.protection == READ_ONLY
    assert len(res.notes) == 1 and "chattr +i did not take" in res.notes[0]
    assert stat.S_IMODE((res.folder / MANIFEST).stat().st_mode) == 0o444


# --------------------------------------------------------------------------- verify


@pytest.fixture
def packed(store: Path, two_days: tuple[Path, KitDay, Path, StreamKit]) -> Path:
    a, _, b, _ = two_days
    pack(a, store)
    pack(b, store)
    assert verify(store).ok
    _lift(store)  # the tests below tamper
    return store


def test_changed_file_found(packed: Path) -> None:
    f = packed / "2013-10-08" / "refdata" / "manifest.json"
    f.write_text(f.read_text().replace("{", "{ ", 1))
    res = verify(packed)
    assert not res.ok
    assert len(res.problems) == 1
    assert res.problems[0].startswith("2013-10-08: changed refdata/manifest.json (sha256 ")
    # one day alone
    assert verify(packed, "2013-10-09").ok
    assert not verify(packed, "2013-10-08").ok


def test_missing_file_found(packed: Path) -> None:
    (packed / "2013-10-09" / "logs" / "sequencer.log").unlink()
    res = verify(packed)
    assert res.problems == ["2013-10-09: missing logs/sequencer.log (in the manifest list, "
                            "not in the archive)"]


def test_added_file_and_folder_found(packed: Path) -> None:
    (packed / "2013-10-09" / "journal" / "extra.seg").write_bytes(b"x")
    (packed / "2013-10-08" / "notes").mkdir()
    res = verify(packed)
    assert res.problems == [
        "2013-10-08: added folder notes/ (no archived file is in it)",
        "2013-10-09: added journal/extra.seg (in the archive, not in the manifest list)"]


def test_same_size_change_in_journal_found(packed: Path) -> None:
    seg = packed / "2013-10-09" / "journal" / "00000000000000000001.seg"
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x01
    seg.write_bytes(bytes(data))
    res = verify(packed)
    assert len(res.problems) == 1
    assert res.problems[0].startswith(
        "2013-10-09: changed journal/00000000000000000001.seg")


def test_edited_manifest_breaks_the_chain(packed: Path) -> None:
    # a consistent edit of the first day's manifest (its files still match) shows only in
    # the next day's link to it
    m = packed / "2013-10-08" / MANIFEST
    m.write_text(m.read_text().replace('"retain_until": "2019-10-08"',
                                       '"retain_until": "2014-10-08"'))
    res = verify(packed)
    assert len(res.problems) == 1
    assert res.problems[0].startswith("chain broken at 2013-10-09: it names the manifest of "
                                      "2013-10-08 as ")
    assert verify(packed, "2013-10-08").ok  # the day alone still matches its manifest


def test_missing_manifest_breaks_the_chain(packed: Path) -> None:
    (packed / "2013-10-08" / MANIFEST).unlink()
    res = verify(packed)
    assert res.problems == [
        "2013-10-08: no ARCHIVE-MANIFEST.json: the day's record cannot be checked and the "
        "chain is broken there",
        "chain broken at 2013-10-09: the manifest of 2013-10-08 is missing"]


def test_missing_day_breaks_the_chain(packed: Path) -> None:
    shutil.rmtree(packed / "2013-10-08")
    res = verify(packed)
    assert res.problems == [
        "chain broken at 2013-10-09: the day before it, 2013-10-08, is missing from the "
        "store"]


def test_verify_usage(packed: Path, tmp_path: Path) -> None:
    with pytest.raises(ArchiveUsageError, match="no day 2013-10-10"):
        verify(packed, "2013-10-10")
    with pytest.raises(ArchiveUsageError, match="expected YYYY-MM-DD"):
        verify(packed, "yesterday")
    with pytest.raises(ArchiveUsageError, match="no archive store"):
        verify(tmp_path / "nowhere")


# --------------------------------------------------------------------------- refusals


def test_damaged_journal_refused(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B)
    seg = list_segments(day / "journal")[0]
    data = bytearray(seg.read_bytes())
    data[200] ^= 0xFF  # inside the third frame (bytes 185..): valid frames follow it
    seg.write_bytes(bytes(data))
    with pytest.raises(ArchiveRefused) as e:
        pack(day, store)
    assert f"fails verification at seq 3 ({seg}, byte 185): corrupt: checksum" in str(e.value)
    assert "a damaged day is not archived" in str(e.value)
    assert not store.exists()


def test_day_without_stop_refused(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B, stop=False)
    with pytest.raises(ArchiveRefused) as e:
        pack(day, store)
    assert "is not stopped: its journal ends at seq 6 without SystemStop" in str(e.value)
    assert "run `tape day stop` first" in str(e.value)
    assert not store.exists()


def test_running_day_refused(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B)
    own = Ownership(day, str(tmp_path / "aeron")).acquire()  # as a live sequencer holds it
    try:
        with pytest.raises(ArchiveRefused, match=f"run by the sequencer pid {os.getpid()}"):
            pack(day, store)
    finally:
        own.release()
    assert pack(day, store).position == 1  # the lock file itself is never archived


def test_earlier_day_after_a_later_one_refused(store: Path, tmp_path: Path) -> None:
    bare_day(tmp_path / "late", DAY_B)
    bare_day(tmp_path / "early", dt.date(2013, 10, 7))
    pack(tmp_path / "late", store)
    with pytest.raises(ArchiveRefused, match=r"already holds a later day \(2013-10-09\)"):
        pack(tmp_path / "early", store)
    assert [d.date for d in list_days(store)] == ["2013-10-09"]


def test_usage_errors(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ArchiveUsageError, match="no day folder"):
        pack(tmp_path / "nowhere", store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArchiveUsageError, match="has no journal"):
        pack(tmp_path / "empty", store)
    bare_day(tmp_path / "d", DAY_B)
    with pytest.raises(ArchiveUsageError, match="at least 1"):
        pack(tmp_path / "d", store, retention_years=0)


# --------------------------------------------------------------------------- reruns


def test_rerun_already_archived(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B)
    first = pack(day, store)
    manifest = (first.folder / MANIFEST).read_bytes()
    again = pack(day, store)
    assert again.already and not first.already
    assert again.summary().startswith("2013-10-09 already archived in ")
    assert again.manifest_sha256 == first.manifest_sha256
    assert again.protection == first.protection
    assert (first.folder / MANIFEST).read_bytes() == manifest
    # another retention on a rerun changes nothing, and says so
    third = pack(day, store, retention_years=10)
    assert third.already and third.retain_until == "2019-10-09"
    assert "a retention is not changed after the fact" in third.notes[0]


def test_rerun_with_other_content_refused(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B)
    pack(day, store)
    (day / "logs" / "sequencer.log").write_text("rewritten\n")
    (day / "reports").mkdir()
    (day / "reports" / "late.txt").write_text("late\n")
    with pytest.raises(ArchiveRefused) as e:
        pack(day, store)
    msg = str(e.value)
    assert "already archived" in msg and "write-once" in msg
    assert "changed logs/sequencer.log" in msg and "added reports/late.txt" in msg
    assert verify(store).ok  # the archive is untouched


def test_staging_left_by_a_crash_is_redone(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B)
    (store / ".staging-2013-10-09" / "journal").mkdir(parents=True)
    (store / ".staging-2013-10-09" / "journal" / "junk").write_text("half")
    assert verify(store).notes[0].startswith(".staging-2013-10-09: a pack cut short")
    res = pack(day, store)
    assert not (store / ".staging-2013-10-09").exists()
    assert verify(store).ok and res.files == 3


# --------------------------------------------------------------------------- retention


def test_retain_until() -> None:
    assert retain_until(dt.date(2013, 10, 8), 6) == dt.date(2019, 10, 8)
    # a 29 February keeps the record to 1 March, never a day short
    assert retain_until(dt.date(2024, 2, 29), 6) == dt.date(2030, 3, 1)
    assert retain_until(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 29)


def test_expired(store: Path, two_days: tuple[Path, KitDay, Path, StreamKit]) -> None:
    a, _, b, _ = two_days
    pack(a, store, retention_years=3)
    pack(b, store, retention_years=1)
    days = list_days(store)
    assert [(d.date, d.position, d.retain_until) for d in days] == [
        ("2013-10-08", 1, "2016-10-08"), ("2013-10-09", 2, "2014-10-09")]
    assert expired(store, dt.date(2014, 10, 9)) == []  # kept through its last day
    assert [d.date for d in expired(store, dt.date(2014, 10, 10))] == ["2013-10-09"]
    assert [d.date for d in expired(store, dt.date(2016, 10, 9))] == [
        "2013-10-08", "2013-10-09"]


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(archive_app, list(args), env={"COLUMNS": "200"})
    return r.exit_code, r.output


def test_cli(store: Path, two_days: tuple[Path, KitDay, Path, StreamKit]) -> None:
    a, _, b, _ = two_days
    code, text = _cli("pack", "--day", str(a), "--store", str(store))
    assert code == 0, text
    assert text.strip().splitlines()[-1].startswith(f"archived 2013-10-08 to {store}")
    code, text = _cli("pack", "--day", str(b), "--store", str(store), "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert (doc["date"], doc["position"], doc["already"]) == ("2013-10-09", 2, False)
    code, text = _cli("pack", "--day", str(b), "--store", str(store))
    assert code == 0 and "2013-10-09 already archived" in text.splitlines()[-1]

    code, text = _cli("verify", "--store", str(store))
    assert code == 0, text
    assert text.strip().splitlines()[-1].startswith("archive intact: 2 day(s)")
    code, text = _cli("list", "--store", str(store), "--today", "2019-10-09", "--json")
    assert code == 0
    doc = json.loads(text)
    assert [(d["date"], d["expired"]) for d in doc["days"]] == [
        ("2013-10-08", True), ("2013-10-09", False)]
    code, text = _cli("list", "--store", str(store), "--today", "2019-10-09")
    assert code == 0
    assert "2019-10-08 (passed)" in text
    assert text.strip().splitlines()[-1].startswith(
        f"2 day(s) in {store}, 2013-10-08..2013-10-09")
    assert text.strip().splitlines()[-1].endswith("1 past retention on 2019-10-09")

    _lift(store)
    (store / "2013-10-09" / "logs" / "sequencer.log").write_text("edited\n")
    code, text = _cli("verify", "--store", str(store))
    assert code == 1
    assert "2013-10-09: changed logs/sequencer.log" in text
    assert text.strip().splitlines()[-1].startswith("archive DAMAGED: 1 problem(s)")
    code, text = _cli("verify", "--store", str(store), "--json")
    assert code == 1 and json.loads(text)["ok"] is False


def test_cli_refusals_and_usage(store: Path, tmp_path: Path) -> None:
    day = tmp_path / "d"
    bare_day(day, DAY_B, stop=False)
    code, text = _cli("pack", "--day", str(day), "--store", str(store))
    assert code == 1 and "tape day stop" in text
    assert _cli("pack", "--day", str(tmp_path / "nowhere"), "--store", str(store))[0] == 2
    assert _cli("pack", "--day", str(day))[0] == 2  # no --store
    assert _cli("pack", "--day", str(day), "--store", str(store),
                "--retention-years", "0")[0] == 2
    assert _cli("verify", "--store", str(tmp_path / "nowhere"))[0] == 2
    assert _cli("list", "--store", str(store), "--today", "soon")[0] == 2


def test_the_tape_command_runs_it(tmp_path: Path) -> None:
    """`tape archive` is wired into the `tape` command: bad usage 2, an empty store lists
    no days and verifies clean."""
    import subprocess
    import sys

    def tape(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy", "archive", *args],
                              capture_output=True, text=True, timeout=120, check=False)

    store = tmp_path / "store"
    store.mkdir()
    r = tape("list", "--store", str(store), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["days"] == []
    assert tape("verify", "--store", str(store)).returncode == 0
    assert tape("pack", "--day", str(tmp_path / "no-such-day"), "--store",
                str(store)).returncode == 2
