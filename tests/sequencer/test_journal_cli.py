"""`tape journal verify | cat | stats` on journals built here, through the real `tape` app."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deploy.cli import app
from sequencer import sources
from sequencer.frames import HEADER_SIZE, encode_frame
from sequencer.journal import JournalWriter, list_segments
from sequencer.messages import TYPE_ID, Message, encode
from sequencer.messages.admin import OperatorNote, TakeSnapshot
from sequencer.messages.control import ClockTick, SystemStart, SystemStop

T0 = 1_710_509_400_000_000_000
SEC = 1_000_000_000
N_NOTES = 20
CLOCK, OPS, OTHER = sources.SEQUENCER, sources.INJECT, sources.adhoc(1)


def day_messages() -> list[tuple[int, int, Message]]:
    """(source id, ts, message) of a small day: start, notes and ticks, a snapshot, stop."""
    out: list[tuple[int, int, Message]] = [
        (CLOCK, T0, SystemStart(session_date=dt.date(2024, 3, 15), seed=1,
                                config_digest="d")),
    ]
    for i in range(N_NOTES):
        ts = T0 + (i + 1) * 5 * SEC
        out.append((OPS, ts, OperatorNote(author="ops", text=f"note {i}")))
        if i % 4 == 3:
            out.append((CLOCK, ts, ClockTick()))
    out.append((OTHER, T0 + 101 * SEC, TakeSnapshot(target="oms")))
    out.append((OPS, T0 + 102 * SEC, SystemStop(reason="eod")))
    return out


def build_day(day: Path) -> list[tuple[int, int, Message]]:
    msgs = day_messages()
    w = JournalWriter(day / "journal", segment_bytes=600, index_every_bytes=200)
    w.open()
    sseq: dict[int, int] = {}
    for seq, (src, ts, msg) in enumerate(msgs, start=1):
        sseq[src] = sseq.get(src, 0) + 1
        w.append(encode_frame(seq, ts, src, TYPE_ID[type(msg)], sseq[src], encode(msg)), seq)
        w.state.last_seq, w.state.last_ts, w.state.sources = seq, ts, dict(sseq)
    w.close()
    assert len(list_segments(day / "journal")) >= 3
    return msgs


@pytest.fixture
def day(tmp_path: Path) -> Path:
    d = tmp_path / "day"
    build_day(d)
    return d


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def cat_json(*args: str) -> list[dict[str, Any]]:
    code, outp = run("journal", "cat", "--json", *args)
    assert code == 0, outp
    return [json.loads(line) for line in outp.splitlines()]


# --------------------------------------------------------------------------- verify


def test_verify_clean_exits_0(day: Path) -> None:
    code, outp = run("journal", "verify", str(day))
    assert code == 0, outp
    assert "clean" in outp
    n = len(day_messages())
    code, outp = run("journal", "verify", "--json", str(day / "journal"))
    assert code == 0
    rep = json.loads(outp)
    assert rep["clean"] is True
    assert rep["damage"] == []
    assert (rep["frames"], rep["first_seq"], rep["last_seq"]) == (n, 1, n)
    assert rep["segments"] == len(list_segments(day / "journal"))


def test_verify_damaged_exits_1(day: Path) -> None:
    seg = list_segments(day / "journal")[1]
    data = bytearray(seg.read_bytes())
    data[HEADER_SIZE + 2] ^= 0xFF  # payload of the segment's first frame
    seg.write_bytes(bytes(data))
    first = int(seg.stem)
    code, outp = run("journal", "verify", str(day))
    assert code == 1
    assert "DAMAGED" in outp
    code, outp = run("journal", "verify", "--json", str(day))
    assert code == 1
    rep = json.loads(outp)
    assert rep["clean"] is False
    d = rep["damage"][0]
    assert (d["file"], d["offset"], d["seq"]) == (str(seg), 0, first)
    assert "checksum mismatch" in d["what"]


def test_verify_torn_tail_exits_1(day: Path) -> None:
    seg = list_segments(day / "journal")[-1]
    with open(seg, "ab") as f:
        f.write(b"TPF1\x00\x00")
    code, _ = run("journal", "verify", str(day))
    assert code == 1


@pytest.mark.parametrize("cmd", ["verify", "cat", "stats"])
def test_bad_path_exits_2(tmp_path: Path, cmd: str) -> None:
    code, outp = run("journal", cmd, str(tmp_path / "nowhere"))
    assert code == 2
    assert "no journal at" in outp
    not_a_journal = tmp_path / "notes.txt"
    not_a_journal.write_text("hello")
    code, _ = run("journal", cmd, str(not_a_journal))
    assert code == 2


# --------------------------------------------------------------------------- cat


def test_cat_json_prints_every_frame_decoded(day: Path) -> None:
    msgs = day_messages()
    rows = cat_json(str(day))
    assert [r["seq"] for r in rows] == list(range(1, len(msgs) + 1))
    assert rows[0]["msg"] == {
        "type": "SystemStart", "session_date": "2024-03-15", "seed": 1, "config_digest": "d",
        "time_mode": "wall", "refdata_digest": "",
    }
    assert rows[0]["source_id"] == CLOCK
    assert rows[0]["ts_ns"] == T0
    assert rows[1]["msg"] == {"type": "OperatorNote", "author": "ops", "text": "note 0"}
    assert (rows[1]["source_id"], rows[1]["source_seq"], rows[1]["cause_seq"]) == (OPS, 1, 0)
    assert rows[-1]["msg"] == {"type": "SystemStop", "reason": "eod"}
    assert [r["ts_ns"] for r in rows] == [ts for _, ts, _ in msgs]
    # A segment file names the same journal.
    assert cat_json(str(list_segments(day / "journal")[0])) == rows


def test_cat_from_to(day: Path) -> None:
    rows = cat_json("--from", "7", "--to", "15", str(day))
    assert [r["seq"] for r in rows] == list(range(7, 16))
    assert len(day_messages()) == 28
    assert [r["seq"] for r in cat_json("--from", "26", str(day))] == [26, 27, 28]
    assert cat_json("--from", "5", "--to", "4", str(day)) == []
    assert cat_json("--from", "1000", str(day)) == []


def test_cat_type_filter(day: Path) -> None:
    rows = cat_json("--type", "ClockTick", str(day))
    assert [r["msg"] for r in rows] == [{"type": "ClockTick"}] * (N_NOTES // 4)
    rows = cat_json("--type", "TakeSnapshot", "--type", "SystemStop", str(day))
    assert [r["msg"]["type"] for r in rows] == ["TakeSnapshot", "SystemStop"]
    assert [r["seq"] for r in cat_json("--type", "ClockTick", str(day))] == [6, 11, 16, 21, 26]
    rows = cat_json("--type", "OperatorNote", "--from", "10", "--to", "12", str(day))
    assert [r["seq"] for r in rows] == [10, 12]  # 11 is a ClockTick
    assert all(r["msg"]["type"] == "OperatorNote" for r in rows)


def test_cat_unknown_type_exits_2(day: Path) -> None:
    code, outp = run("journal", "cat", "--type", "Bogus", str(day))
    assert code == 2
    assert "unknown message type(s) ['Bogus']" in outp


def test_cat_text_output(day: Path) -> None:
    code, outp = run("journal", "cat", "--from", "2", "--to", "2", str(day))
    assert code == 0
    assert outp.split() == [
        "2", "2024-03-15T13:30:05.000000+00:00", f"src={OPS}/1", "OperatorNote", "author='ops'",
        "text='note", "0'",
    ]


def test_cat_shows_undecodable_payloads(tmp_path: Path) -> None:
    w = JournalWriter(tmp_path / "j")
    w.open()
    w.append(encode_frame(1, T0, OTHER, TYPE_ID[OperatorNote], 1, b"\xc1garbage"), 1)
    w.append(encode_frame(2, T0, OTHER, 999, 2, b""), 2)
    w.close()
    rows = cat_json(str(tmp_path / "j"))
    assert [r["msg"]["type"] for r in rows] == ["OperatorNote", "type#999"]
    assert all("undecodable" in r["msg"] for r in rows)


# --------------------------------------------------------------------------- stats


def test_stats_json(day: Path) -> None:
    msgs = day_messages()
    code, outp = run("journal", "stats", "--json", str(day))
    assert code == 0, outp
    st = json.loads(outp)
    assert st["frames"] == len(msgs)
    assert st["segments"] == len(list_segments(day / "journal"))
    assert st["bytes"] == sum(p.stat().st_size for p in list_segments(day / "journal"))
    assert (st["first_seq"], st["last_seq"]) == (1, len(msgs))
    assert (st["first_ts_ns"], st["last_ts_ns"]) == (T0, T0 + 102 * SEC)
    assert st["first_time"] == "2024-03-15T13:30:00.000000+00:00"
    assert st["span_s"] == 102.0
    assert st["by_type"] == {
        "ClockTick": N_NOTES // 4, "OperatorNote": N_NOTES, "SystemStart": 1, "SystemStop": 1,
        "TakeSnapshot": 1,
    }
    assert st["by_source"] == {str(CLOCK): 1 + N_NOTES // 4, str(OPS): N_NOTES + 1,
                               str(OTHER): 1}
    assert st["rate_bucket_s"] == 5
    assert sum(r["frames"] for r in st["rate"]) == len(msgs)
    assert st["rate"][0] == {"start": "2024-03-15T13:30:00.000000+00:00", "frames": 1}


def test_stats_text(day: Path) -> None:
    code, outp = run("journal", "stats", str(day))
    assert code == 0
    assert f"{len(day_messages())} frames" in outp
    assert "OperatorNote" in outp


def test_stats_of_an_empty_journal(tmp_path: Path) -> None:
    (tmp_path / "journal").mkdir()
    code, outp = run("journal", "stats", "--json", str(tmp_path))
    assert code == 0
    st = json.loads(outp)
    assert (st["frames"], st["segments"], st["by_type"], st["rate"]) == (0, 0, {}, [])
