"""The CAT order events of a day (`post_trade.cat`): what `write` reports for the planted
day and a routed-to-a-broker day, known by construction; the files' bytes on a rerun
and under another hash seed; and `check` passing on what was written and finding each
kind of tampering."""

from __future__ import annotations

import bz2
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from post_trade import cat
from post_trade.record import read_day
from post_trade.report import ReportResult
from sequencer import sources
from sequencer.messages.executions import VenueAck, VenueReplaced
from sequencer.messages.orders import NewChild, NewOrder, ReplaceChild
from tests.oms.fixtures import MS
from tests.post_trade.daykit import Facts, KitDay, planted_day

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "TAPE_TAPE_20131008_OrderEvents"
DATA = f"{PREFIX}_000001.json.bz2"
META = f"{PREFIX}_000001.meta.json"
DAY_TIF = {"DAY": 20131008}


def _written(day: Path) -> tuple[ReportResult, list[dict[str, Any]]]:
    out = day / "post_trade" / "cat"
    res = cat.write(read_day(day), out)
    lines = bz2.decompress((out / DATA).read_bytes()).decode().splitlines()
    return res, [json.loads(s) for s in lines]


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Facts, list[dict[str, Any]]]:
    day = tmp_path / "day"
    _, facts = planted_day(day)
    _, evs = _written(day)
    return day, facts, evs


def _of(evs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == kind]


def test_new_order_per_accepted_order(planted: tuple[Path, Facts, list[dict[str, Any]]]
                                      ) -> None:
    _, facts, evs = planted
    meno = {e["orderID"]: e for e in _of(evs, "MENO")}
    assert sorted(meno) == sorted(facts.orders.values())
    beta = meno[facts.orders["B-1"]]
    assert beta == {
        "actionType": "NEW", "firmROEID": beta["firmROEID"], "type": "MENO",
        "orderKeyDate": beta["eventTimestamp"], "orderID": facts.orders["B-1"],
        "symbol": "IBM", "eventTimestamp": beta["eventTimestamp"], "manualFlag": False,
        "electronicDupFlag": False, "deptType": "A", "side": "B", "price": "182.5000",
        "quantity": 2_000, "orderType": "LMT", "timeInForce": DAY_TIF,
        "tradingSession": "REG", "custDspIntrFlag": False, "firmDesignatedID": "FDID-BETA",
        "accountHolderType": "A", "affiliateFlag": False, "negotiatedTradeFlag": False,
        "representativeInd": "N"}
    sell = meno[facts.orders["A-SELL"]]
    assert (sell["side"], sell["quantity"], sell["price"], sell["firmDesignatedID"]) == (
        "SL", 500, "181.0000", "FDID-ALPHA")
    # firmROEIDs run in stream order, one per event
    assert [e["firmROEID"] for e in evs] == [f"20131008_{n:09d}" for n in
                                             range(1, len(evs) + 1)]
    assert [e["eventTimestamp"] for e in evs] == sorted(e["eventTimestamp"] for e in evs)


def test_order_key_is_the_new_order_frames_time(tmp_path: Path) -> None:
    d = KitDay(tmp_path / "day")
    sent_at = d.now + MS  # `send` stamps the frame one gap after the kit's clock
    oid = d.order("ALPHA", "K-1", "sell", 700, 181_2500)
    # a short sale without a locate: the OMS rejects it, and a rejected order is not reported
    d.send(NewOrder(client="ALPHA", cl_ord_id="K-2", symbol="IBM", side="sell_short",
                    qty=100, ord_type="market"), sources.CLIENT_GATEWAY)
    day = d.finish()
    assert [o.cl_ord_id for o in read_day(day).rejected] == ["K-2"]
    _, evs = _written(day)
    (meno,) = evs
    assert (meno["orderKeyDate"], meno["eventTimestamp"], meno["orderID"]) == (
        sent_at, sent_at, oid)
    assert (meno["side"], meno["quantity"], meno["price"]) == ("SL", 700, "181.2500")


def test_amendment_and_cancel_of_beta(planted: tuple[Path, Facts, list[dict[str, Any]]]
                                      ) -> None:
    _, facts, evs = planted
    beta = facts.orders["B-1"]
    (meno,) = [e for e in _of(evs, "MENO") if e["orderID"] == beta]
    (meom,) = _of(evs, "MEOM")
    key = (meno["orderKeyDate"], beta, "IBM")
    assert (meom["orderKeyDate"], meom["orderID"], meom["symbol"]) == key
    assert (meom["quantity"], meom["leavesQty"], meom["price"], meom["initiator"]) == (
        1_500, 1_500, "182.5000", "C")
    assert "priorOrderID" not in meom  # the OMS keeps the OrderID: the spec leaves it blank
    (meoc,) = _of(evs, "MEOC")
    assert (meoc["orderKeyDate"], meoc["orderID"], meoc["symbol"]) == key
    assert (meoc["cancelQty"], meoc["leavesQty"], meoc["initiator"]) == (1_500, 0, "C")
    assert meno["firmROEID"] < meom["firmROEID"] < meoc["firmROEID"]


def test_routes_carry_what_the_venue_got(planted: tuple[Path, Facts, list[dict[str, Any]]]
                                         ) -> None:
    day, facts, evs = planted
    meor = {e["routedOrderID"]: e for e in _of(evs, "MEOR")}
    parents = {"C1": "A-BUY", "C2": "A-BUY", "C3": "A-SELL", "C4": "B-1"}
    assert sorted(meor) == sorted(parents)
    meno = {e["orderID"]: e for e in _of(evs, "MENO")}
    for cid, cl in parents.items():
        r, o = meor[cid], meno[facts.orders[cl]]
        assert (r["orderKeyDate"], r["orderID"], r["symbol"]) == (
            o["orderKeyDate"], o["orderID"], o["symbol"])
        assert (r["senderIMID"], r["destination"], r["destinationType"], r["session"]) == (
            "999001:TAPE", "NYSE", "E", "TAPE->XNYS")
        assert (r["isoInd"], r["dupROIDCond"], r["routeRejectedFlag"]) == ("N", False, False)
    assert (meor["C2"]["quantity"], meor["C2"]["price"], meor["C3"]["side"]) == (
        500, "183.0000", "SL")
    # The OMS's cancel of C4 went out as ClOrdID "C4.1" naming "C4"; the Route Cancelled
    # names the route it cancels (the spec: the Order Route's routedOrderID).
    (route,) = [r for r in read_day(day).children["C4"].routes if r.action == "cancel"]
    assert (route.cl_ord_id, route.orig_cl_ord_id) == ("C4.1", "C4")
    (mecr,) = _of(evs, "MECR")
    assert (mecr["routedOrderID"], mecr["orderID"], mecr["cancelQty"], mecr["leavesQty"]) == (
        "C4", facts.orders["B-1"], 1_000, 0)
    assert mecr["eventTimestamp"] == route.ts_ns
    assert _of(evs, "MEMR") == []


def test_route_replaced_and_cancelled_at_a_broker(tmp_path: Path) -> None:
    d = KitDay(tmp_path / "day")
    oid = d.order("ALPHA", "R-1", "buy", 1_000, 183_0000)
    d.send(NewChild(parent_id=oid, child_id="K1", venue="XNYS", qty=600, ord_type="limit",
                    limit_px=182_5000, destination="ALT-XNYS"), sources.ALGO)
    d.send(VenueAck(child_id="K1", venue_order_id="VK1"), sources.VENUE_GATEWAY)
    d.send(ReplaceChild(parent_id=oid, child_id="K1", qty=400), sources.ALGO)
    d.send(VenueReplaced(child_id="K1", qty=400, limit_px=182_5000), sources.VENUE_GATEWAY)
    d.fill("K1", 100, 182_5000)
    d.cancel_child(oid, "K1")
    day = d.finish()
    res, evs = _written(day)
    assert [e["type"] for e in evs] == ["MENO", "MEOR", "MEMR", "MECR"]
    _, meor, memr, mecr = evs
    assert (meor["routedOrderID"], meor["destination"], meor["destinationType"]) == (
        "K1", "ALTB", "F")
    assert "session" not in meor  # a broker route has no exchange session
    assert (memr["routedOrderID"], memr["priorRoutedOrderID"], memr["quantity"]) == (
        "K1.1", "K1", 400)
    assert (mecr["routedOrderID"], mecr["cancelQty"]) == ("K1.1", 300)  # 400 less 100 filled
    assert res.summary["events"] == {"MENO": 1, "MEOM": 0, "MEOC": 0, "MEOR": 1, "MEMR": 1,
                                     "MECR": 1}
    assert cat.check(day).breaks == []


def test_files_and_meta(planted: tuple[Path, Facts, list[dict[str, Any]]]) -> None:
    day, _, evs = planted
    out = day / "post_trade" / "cat"
    assert sorted(p.name for p in out.iterdir()) == [DATA, META]
    meta = json.loads((out / META).read_text())
    data = (out / DATA).read_bytes()
    assert meta["dataFiles"] == [{"fileName": DATA, "recordCount": 11,
                                  "sha256": hashlib.sha256(data).hexdigest()}]
    assert (meta["totalRecords"], meta["complete"], len(evs)) == (11, True, 11)
    text = bz2.decompress(data)
    assert text.endswith(b"\n") and b" " not in text.replace(b"TAPE->", b"")
    assert max(len(s) for s in text.splitlines()) <= cat.MAX_LINE


def test_result_and_split_files(tmp_path: Path) -> None:
    day = tmp_path / "day"
    planted_day(day)
    out = day / "post_trade" / "cat"
    res = cat.write(read_day(day), out, max_records=4)
    names = [f"{PREFIX}_{n:06d}.json.bz2" for n in (1, 2, 3)]
    assert [p.name for p in res.files] == [*names, META]
    assert res.summary == {"events": {"MENO": 4, "MEOM": 1, "MEOC": 1, "MEOR": 4,
                                      "MEMR": 0, "MECR": 1},
                           "files": names, "records": 11, "complete": True, "problems": []}
    assert (res.name, res.breaks) == ("cat", 0)
    assert res.lines == ["cat: 11 events (MENO 4, MEOM 1, MEOC 1, MEOR 4, MEMR 0, MECR 1) "
                         "in 3 file(s)"]
    meta = json.loads((out / META).read_text())
    assert [f["recordCount"] for f in meta["dataFiles"]] == [4, 4, 3]
    assert cat.check(day).breaks == []


def test_same_bytes_on_rerun_and_another_hash_seed(tmp_path: Path) -> None:
    day = tmp_path / "day"
    planted_day(day)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    cat.write(read_day(day), a)
    cat.write(read_day(day), b)
    code = ("import sys; from pathlib import Path; from post_trade import cat; "
            "from post_trade.record import read_day; "
            "cat.write(read_day(Path(sys.argv[1])), Path(sys.argv[2]))")
    for seed in ("1", "4242"):
        subprocess.run([sys.executable, "-c", code, str(day), str(c)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        for name in (DATA, META):
            assert (a / name).read_bytes() == (b / name).read_bytes() == \
                (c / name).read_bytes(), name


# ------------------------------------------------------------------ check and tampering

def _rewrite(day: Path, edit: Any, *, fix_meta: bool = True) -> None:
    """Edit the data file's events (a function of the list) and, unless told not to,
    restate the meta's count and SHA-256 so only the edit itself is wrong."""
    out = day / "post_trade" / "cat"
    evs = [json.loads(s) for s in bz2.decompress((out / DATA).read_bytes()).splitlines()]
    evs = edit(evs)
    data = bz2.compress("".join(json.dumps(e, separators=(",", ":")) + "\n"
                                for e in evs).encode(), 9)
    (out / DATA).write_bytes(data)
    if fix_meta:
        meta = json.loads((out / META).read_text())
        meta["dataFiles"][0] |= {"recordCount": len(evs),
                                 "sha256": hashlib.sha256(data).hexdigest()}
        meta["totalRecords"] = len(evs)
        (out / META).write_text(json.dumps(meta))


def test_check_passes_on_written_files(planted: tuple[Path, Facts, list[dict[str, Any]]]
                                       ) -> None:
    day, _, _ = planted
    res = cat.check(day)
    assert res.breaks == [] and res.ok
    assert res.counts == res.expected == {"MENO": 4, "MEOM": 1, "MEOC": 1, "MEOR": 4,
                                          "MEMR": 0, "MECR": 1}
    assert (res.files, res.records, res.complete) == ([DATA], 11, True)


def test_check_finds_orphans_when_a_new_order_is_gone(
        planted: tuple[Path, Facts, list[dict[str, Any]]]) -> None:
    day, facts, evs = planted
    beta = facts.orders["B-1"]
    orphans = [e["firmROEID"] for e in evs if e["orderID"] == beta and e["type"] != "MENO"]
    _rewrite(day, lambda es: [e for e in es if not (e["type"] == "MENO"
                                                    and e["orderID"] == beta)])
    res = cat.check(day)
    linked = [b for b in res.breaks if "links to no New Order" in b]
    assert [b.split(" ")[0] for b in linked] == orphans  # MEOR C4, MEOM, MECR, MEOC
    assert "MENO: 3 events in the files, the journal has 4" in res.breaks
    assert len(res.breaks) == len(orphans) + 1


def test_check_finds_duplicate_ids_and_missing_fields(
        planted: tuple[Path, Facts, list[dict[str, Any]]]) -> None:
    day, _, evs = planted
    second, third = evs[1]["firmROEID"], evs[2]["firmROEID"]

    def tamper(es: list[dict[str, Any]]) -> list[dict[str, Any]]:
        es[2]["firmROEID"] = second
        del es[4]["routedOrderID"]  # an exchange route without the venue's ClOrdID
        del es[0]["side"]
        return es

    _rewrite(day, tamper)
    res = cat.check(day)
    assert res.breaks == [
        f"{evs[0]['firmROEID']} (MENO): required field(s) missing: side",
        f"{second} (MEOR): firmROEID already used at {DATA} line 2",
        f"{evs[4]['firmROEID']} (MEOR): required field(s) missing: routedOrderID",
    ]
    assert third not in " ".join(res.breaks)


def test_check_finds_a_wrong_meta(planted: tuple[Path, Facts, list[dict[str, Any]]]
                                  ) -> None:
    day, _, _ = planted
    meta_path = day / "post_trade" / "cat" / META
    meta = json.loads(meta_path.read_text())
    meta["dataFiles"][0]["recordCount"] = 12
    meta_path.write_text(json.dumps(meta))
    assert cat.check(day).breaks == [f"{DATA}: 11 records, the meta file says 12"]
    # a line dropped without restating the meta: its hash, count and total all break
    _rewrite(day, lambda es: es[:-1], fix_meta=False)
    breaks = cat.check(day).breaks
    assert f"{DATA}: SHA-256 differs from the meta file's" in breaks
    assert f"{DATA}: 10 records, the meta file says 12" in breaks
    assert f"{META}: 10 records in its files, totalRecords says 11" in breaks


def test_check_finds_long_lines_and_bad_route_links(
        planted: tuple[Path, Facts, list[dict[str, Any]]]) -> None:
    day, _, evs = planted
    mecr = _of(evs, "MECR")[0]["firmROEID"]

    def tamper(es: list[dict[str, Any]]) -> list[dict[str, Any]]:
        es[0]["handlingInstructions"] = "X" * cat.MAX_LINE
        for e in es:
            if e["type"] == "MECR":
                e["routedOrderID"] = "C9"
        return es

    _rewrite(day, tamper)
    breaks = cat.check(day).breaks
    assert len(breaks) == 2
    assert breaks[0].startswith(f"{DATA} line 1: ") and "over the 8190 limit" in breaks[0]
    assert breaks[1] == (f"{mecr} (MECR): route 'C9' it modifies or cancels is no route "
                         f"(MEOR/MEMR) of order 20131008-3")


def test_check_without_files(tmp_path: Path) -> None:
    day = tmp_path / "day"
    planted_day(day)
    res = cat.check(day)
    assert res.breaks[0].startswith(f"{day / 'post_trade' / 'cat'}: no CAT meta file")
    assert "MENO: 0 events in the files, the journal has 4" in res.breaks
    (day / "post_trade" / "cat").mkdir(parents=True)
    cat.write(read_day(day), day / "post_trade" / "cat")
    (day / "post_trade" / "cat" / DATA).unlink()
    assert cat.check(day).breaks[0] == f"{META}: data file {DATA} is missing"


def test_check_of_an_incomplete_day(tmp_path: Path) -> None:
    d, _ = planted_day(tmp_path / "day", stop=False)
    d.close()
    day = d.day
    res = cat.write(read_day(day), day / "post_trade" / "cat")
    assert res.summary["complete"] is False and res.lines[0].endswith("day INCOMPLETE")
    assert cat.check(day).breaks == []
    meta_path = day / "post_trade" / "cat" / META
    meta_path.write_text(meta_path.read_text().replace('"complete": false',
                                                       '"complete": true'))
    assert cat.check(day).breaks == ["meta: complete=True but the journal does not end "
                                     "with SystemStop"]
