"""The clearing trade file and the drop-copy reconciliation (`post_trade.clearing`), on the
planted day, whose trades are known by construction, and on a day with a bust, a
correction and a venue's repeat. The drop copy is written as QuickFIX's file log of the
clearing session would hold it: each client fill composed by `client_fix.drop_copy`, as
the client gateway does, under the real header. The last test reads the log a real
drop-copy session wrote (real processes, marked slow)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from fix_gateways import client_fix
from fix_gateways.fixmsg import SOH, fix_time
from post_trade import clearing
from post_trade.record import read_day
from post_trade.report import ReportResult, run
from sequencer import sources
from sequencer.journal import JournalReader
from sequencer.messages import decode
from sequencer.messages.executions import ExecutionReport, VenueTradeCanceled, VenueTradeCorrected
from tests.conftest import Stack
from tests.post_trade.daykit import KitDay, planted_day

D = "20131008"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def report(day: Path, out: Path) -> tuple[ReportResult, dict[str, list[dict[str, str]]]]:
    out.mkdir(parents=True, exist_ok=True)
    res = clearing.write(read_day(day), out)
    return res, {p.name.split("_")[0]: rows(p) for p in res.files if p.suffix == ".csv"}


def fills_sent(day: Path) -> list[tuple[int, ExecutionReport]]:
    """(stream time, report) of every fill, bust and correction a client got: what the
    client gateway copies to the drop-copy session."""
    out = []
    with JournalReader(day / "journal") as r:
        for f in r:
            m = decode(f.type_id, f.payload)
            if isinstance(m, ExecutionReport) and m.exec_type in (
                    "trade", "trade_cancel", "trade_correct"):
                out.append((f.ts_ns, m))
    return out


def header(raw: str, n: int, ns: int, sender: str, target: str, extra: str = "") -> str:
    """`raw` (a composed message) as QuickFIX sends it: our header, MsgSeqNum `n`,
    SendingTime, `extra` header fields (43=Y...), BodyLength and CheckSum again."""
    begin = raw.split(SOH, 1)[0]
    msg_type = raw.split(f"{SOH}35=", 1)[1].split(SOH, 1)[0]
    body = raw.split(f"{SOH}52=", 1)[1].split(SOH, 1)[1].rsplit("10=", 1)[0]
    rest = (f"35={msg_type}{SOH}49={sender}{SOH}56={target}{SOH}34={n}{SOH}{extra}"
            f"52={fix_time(ns)}{SOH}{body}")
    head = f"{begin}{SOH}9={len(rest.encode())}{SOH}"
    return f"{head}{rest}10={(sum(head.encode()) + sum(rest.encode())) % 256:03d}{SOH}"


def drop_copy_log(day: Path, begin: str = "FIX.4.4") -> list[str]:
    """The clearing session's message log lines for the day (a logon each way first)."""
    sent = fills_sent(day)
    t0 = sent[0][0] - 1_000_000_000
    logon = f"{begin}{SOH}9=5{SOH}35=A{SOH}52=x{SOH}98=0{SOH}108=30{SOH}10=000{SOH}"
    msgs = [header(logon, 1, t0, "CLEARING", "TAPE"), header(logon, 1, t0, "TAPE", "CLEARING")]
    for i, (ns, er) in enumerate(sent):
        raw = client_fix.drop_copy(begin, er, ns)
        assert raw is not None
        msgs.append(header(raw, i + 2, ns, "TAPE", "CLEARING"))
    return msgs


def write_log(day: Path, msgs: list[str], begin: str = "FIX.4.4",
              name: str = "messages.current") -> Path:
    log = day / "fix" / "client" / "log"
    log.mkdir(parents=True, exist_ok=True)
    path = log / f"{begin}-TAPE-CLEARING.{name}.log"
    path.write_text("".join(f"20131008-13:30:00.000 : {m}\n" for m in msgs))
    return path


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    day, _facts = planted_day(tmp_path_factory.mktemp("clearing") / "day")
    return day.day


def fresh(planted: Path, tmp: Path) -> Path:
    day = tmp / "day"
    shutil.copytree(planted, day)
    return day


# ------------------------------------------------------------------ the trade file

def test_trade_file_is_the_days_executions_final(planted: Path, tmp_path: Path) -> None:
    res, f = report(planted, tmp_path / "out")
    assert [p.name for p in res.files] == [f"trades_{D}.csv", f"amendments_{D}.csv",
                                          f"recon_{D}.csv", "clearing.html"]
    assert tuple(f["trades"][0]) == clearing.TRADE_COLUMNS
    got = [(r["client"], r["account"], r["side"], r["quantity"], r["price"], r["gross_amount"],
            r["venue_exec_id"], r["street_order_id"], r["cl_ord_id"], r["alloc_account"],
            r["alloc_qty"], r["status"]) for r in f["trades"]]
    assert got == [
        ("ALPHA", "ALPHA-001", "B", "500", "182.0000", "91000.0000", "X1", "C1", "A-BUY",
         "ALPHA-001", "500", "new"),
        ("ALPHA", "ALPHA-001", "B", "500", "182.1000", "91050.0000", "X2", "C2", "A-BUY",
         "ALPHA-001", "500", "new"),
        ("ALPHA", "ALPHA-001", "S", "500", "182.0000", "91000.0000", "X3", "C3", "A-SELL",
         "ALPHA-001", "500", "new"),
        # the late fill on the cancelled child: a street trade no client was told of
        ("BETA", "BETA-001", "B", "100", "182.0000", "18200.0000", "X4", "C4", "B-3", "",
         "0", "new"),
    ]
    first = f["trades"][0]
    assert (first["trade_date"], first["venue"], first["capacity"], first["liquidity"],
            first["exec_time"]) == ("2013-10-08", "XNYS", "A", "removed",
                                    "2013-10-08T13:29:00.006000000Z")
    # our ExecIDs and OrderIDs are the client's reports', in the order the OMS sent them
    assert [r["exec_id"] for r in f["trades"]] == ["20131008-E2", "20131008-E3",
                                                   "20131008-E5", ""]
    assert [int(r["seq"]) for r in f["trades"]] == sorted(int(r["seq"]) for r in f["trades"])
    assert f["amendments"] == []
    assert res.summary["trades"] == 4 and res.summary["shares"] == 1_600
    assert res.summary["notional"] == "291250.0000"


def test_a_day_without_fix_reconciles_the_venue_fills_only(planted: Path,
                                                            tmp_path: Path) -> None:
    res, f = report(planted, tmp_path / "out")
    assert res.summary["drop_copy"]["status"] == clearing.NOT_RECONCILED
    assert "drop copy: not reconciled: the day ran without FIX sessions" in res.lines
    assert [(r["check"], r["kind"], r["exec_id"], r["venue_exec_id"], r["client"])
            for r in f["recon"]] == [
        ("venue", "unbacked", "PLANTED-E1", "", "ALPHA"),
        ("venue", "unreported", "", "X4", "BETA"),
    ]
    assert "error account" in f["recon"][1]["detail"]
    assert res.breaks == 2
    assert res.summary["breaks"]["unbacked"] == res.summary["breaks"]["unreported"] == 1


def test_busts_corrections_and_repeats(tmp_path: Path) -> None:
    d = KitDay(tmp_path / "day")
    d.quote(181_9000, 182_0000)
    oid = d.order("ALPHA", "A1", "buy", 1_000, 183_0000)
    d.child(oid, "C1", 1_000)
    d.fill("C1", 300, 182_0000, exec_id="V1")
    d.fill("C1", 300, 182_0000, exec_id="V1")  # the venue's repeat: once
    d.fill("C1", 200, 182_1000, exec_id="V2")
    d.fill("C1", 100, 182_2000, exec_id="V3")
    d.send(VenueTradeCanceled(child_id="C1", exec_id="V4", ref_exec_id="V2"),
           sources.VENUE_GATEWAY)
    d.send(VenueTradeCorrected(child_id="C1", exec_id="V5", ref_exec_id="V3", qty=80,
                               px=181_9000), sources.VENUE_GATEWAY)
    d.finish()
    res, f = report(d.day, tmp_path / "out")
    assert [(r["venue_exec_id"], r["quantity"], r["price"], r["alloc_qty"], r["status"])
            for r in f["trades"]] == [("V1", "300", "182.0000", "300", "new"),
                                      ("V3", "80", "181.9000", "80", "corrected")]
    am = [(r["kind"], r["venue_exec_id"], r["ref_venue_exec_id"], r["old_quantity"],
           r["new_quantity"], r["new_price"]) for r in f["amendments"]]
    assert am == [("bust", "V4", "V2", "200", "0", ""),
                  ("correct", "V5", "V3", "100", "80", "181.9000")]
    # our reports of the bust and the correction name our reports of the fills
    by_venue = {r["venue_exec_id"]: r["exec_id"] for r in f["trades"]}
    assert all(r["exec_id"] and r["exec_ref_id"] for r in f["amendments"])
    assert f["amendments"][1]["exec_ref_id"] == by_venue["V3"]
    assert res.breaks == 0, f["recon"]
    # ... and the drop copy of them reconciles (150=H, 150=G with ExecRefID)
    write_log(d.day, drop_copy_log(d.day))
    res, f = report(d.day, tmp_path / "out2")
    assert res.breaks == 0, f["recon"]
    assert res.summary["drop_copy"]["messages"] == 5


# ------------------------------------------------------------------ the drop copy

@pytest.mark.parametrize("begin", ["FIX.4.4", "FIX.4.2"])
def test_the_drop_copy_reconciles(planted: Path, tmp_path: Path, begin: str) -> None:
    day = fresh(planted, tmp_path)
    msgs = drop_copy_log(day, begin)
    # rotated by QuickFIX: the older part in a backup file
    write_log(day, msgs[:3], begin, "messages.backup.1")
    write_log(day, msgs[3:], begin)
    res, f = report(day, tmp_path / "out")
    dc = res.summary["drop_copy"]
    assert (dc["status"], dc["sessions"], dc["messages"], dc["client_fills"]) == (
        "reconciled", [f"{begin}:TAPE->CLEARING"], 4, 4)
    # only the venue breaks of the planted day: every client fill is in the drop copy
    assert [r["check"] for r in f["recon"]] == ["venue", "venue"]


def test_drop_copy_breaks_are_found_and_named(planted: Path, tmp_path: Path) -> None:
    day = fresh(planted, tmp_path)
    msgs = drop_copy_log(day)
    fills = msgs[2:]  # after the logons: E2, E3, E5, PLANTED-E1
    assert all("35=8" in m for m in fills)
    ns = 1_381_240_000_000_000_000
    resent = header(fills[1], 40, ns, "TAPE", "CLEARING", f"43=Y{SOH}")
    dup = header(fills[2], 41, ns, "TAPE", "CLEARING")
    bad_qty = fills[3].replace(f"{SOH}32=100{SOH}", f"{SOH}32=90{SOH}")
    unknown = fills[1].replace(f"{SOH}17=20131008-E3{SOH}", f"{SOH}17=NOT-OURS{SOH}")
    # E2 dropped; E3 resent with PossDup (fine); E5 sent twice; PLANTED-E1's 32 changed
    write_log(day, [*msgs[:2], fills[1], resent, fills[2], dup, bad_qty, unknown])
    res, f = report(day, tmp_path / "out")
    got = [(r["kind"], r["exec_id"]) for r in f["recon"] if r["check"] == "drop_copy"]
    assert got == [("missing", "20131008-E2"), ("duplicate", "20131008-E5"),
                   ("mismatch", "PLANTED-E1"), ("extra", "NOT-OURS")]
    mismatch = next(r for r in f["recon"] if r["kind"] == "mismatch")
    assert mismatch["detail"] == "32: journal '100', drop copy '90'"
    assert mismatch["session"] == "FIX.4.4:TAPE->CLEARING"
    assert res.breaks == 6  # the four, and the planted day's two venue breaks
    assert res.summary["drop_copy"]["resends"] == 1
    assert "missing 1" in res.lines[-1] and "duplicate 1" in res.lines[-1]


def test_price_side_and_symbol_mismatches(planted: Path, tmp_path: Path) -> None:
    day = fresh(planted, tmp_path)
    msgs = drop_copy_log(day)
    msgs[2] = msgs[2].replace(f"{SOH}31=182{SOH}", f"{SOH}31=182.01{SOH}").replace(
        f"{SOH}54=1{SOH}", f"{SOH}54=2{SOH}").replace(f"{SOH}55=IBM{SOH}", f"{SOH}55=IBN{SOH}")
    write_log(day, msgs)
    _res, f = report(day, tmp_path / "out")
    (m,) = [r for r in f["recon"] if r["check"] == "drop_copy"]
    assert (m["kind"], m["exec_id"]) == ("mismatch", "20131008-E2")
    assert m["detail"] == ("31: journal '182.0000', drop copy '182.0100'; 54: journal '1', "
                           "drop copy '2'; 55: journal 'IBM', drop copy 'IBN'")


def test_client_sessions_without_a_drop_copy_are_a_break(planted: Path,
                                                         tmp_path: Path) -> None:
    day = fresh(planted, tmp_path)
    # a client's own order session: its reports carry no Account (1)
    er = fills_sent(day)[0][1]
    raw = header(client_fix.execution_report("FIX.4.4", er, 0), 2, 0, "TAPE", "ALPHA")
    log = day / "fix" / "client" / "log"
    log.mkdir(parents=True)
    (log / "FIX.4.4-TAPE-ALPHA.messages.current.log").write_text(f"x : {raw}\n")
    res, f = report(day, tmp_path / "out")
    assert f["recon"][0]["kind"] == "no_drop_copy"
    assert "sent nothing" in f["recon"][0]["detail"]
    assert res.breaks == 3
    # ... and a fix/client folder with no log at all, likewise
    shutil.rmtree(log)
    res, f = report(day, tmp_path / "out2")
    assert f["recon"][0]["kind"] == "no_drop_copy"


def test_rerun_gives_identical_bytes(planted: Path, tmp_path: Path) -> None:
    day = fresh(planted, tmp_path)
    write_log(day, drop_copy_log(day))
    first = run(day, ["clearing"])
    before = {p.name: p.read_bytes() for p in first.results[0].files}
    again = run(day, ["clearing"])
    assert {p.name: p.read_bytes() for p in again.results[0].files} == before
    assert again.manifest == first.manifest
    assert again.breaks == 2


# ------------------------------------------------------------------ a real session's log

@pytest.mark.slow
def test_a_real_drop_copy_session_log(stack: Stack, tmp_path: Path) -> None:
    """The real processes (`tests.fix_gateways.day`): ALPHA's order filled in two parts
    at the venue simulator, the CLEARING session connected; the log QuickFIX wrote for it
    reconciles with the journal."""
    from tests.fix_gateways.day import Day, got
    from tests.fix_gateways.test_e2e import PX, Flow

    d = Day(stack, tmp_path)
    d.start()
    alpha = Flow(d, d.client("ALPHA", "4.4"), "ALPHA", "4.4", "ARCX")
    clearing_session = d.client("CLEARING", "4.4", d.ports[1])
    a = alpha.order("R1")
    alpha.fill(a, 40, 170 * PX)
    alpha.trade("R1", "1", 100, 40, 60, 40, "170", "170")
    alpha.fill(a, 60, 171 * PX)
    alpha.trade("R1", "2", 100, 100, 0, 60, "171", "170.6")
    copies = [got(clearing_session) for _ in range(2)]
    assert [c["32"] for c in copies] == ["40", "60"]
    stack.close()  # the processes end: their logs are whole
    res, f = report(stack.day, tmp_path / "out")
    assert res.summary["drop_copy"]["status"] == "reconciled"
    assert res.summary["drop_copy"]["sessions"] == ["FIX.4.4:TAPE->CLEARING"]
    assert res.summary["drop_copy"]["messages"] == 2
    assert [r["quantity"] for r in f["trades"]] == ["40", "60"]
    assert res.breaks == 0, f["recon"]
