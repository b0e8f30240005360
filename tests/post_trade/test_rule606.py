"""Rule 606 reports on kit days whose figures are known by construction.

Four day folders side by side (the kit's session date is patched per day, so the days
fall in different months): 2013-10-08 (A), 2013-11-08 (B), 2013-12-09 (C) and
2014-05-01 (D, beyond six months of A), plus a folder that is no day. Fees are the
daykit's: -20 cents per 100 shares to add (a rebate), 30 to remove, at every venue.

Day A, NBBO 181.90 x 182.00 (mid 181.95):
- ALPHA's VWAP buy (A1, 1,000 shares, non-directed): child C1 500 at XNYS fills 400
  at the bid adding liquidity (near side) and 100 at the offer removing it (far side),
  the venue repeating that fill; C1 lives 253 ms (routed, acked 1 ms later, 250 ms
  pass, two fills 1 ms apart). Child C2, IOC 300 at ARCX: 100 at the mid, corrected to
  120; 50 at the offer, busted. Net: XNYS 500 executed, fee 400 x -20 + 100 x 30 = -50
  cents (a 50 cent rebate: +10 cents per 100); ARCX 120 at the mid, fee 36 cents.
- ALPHA's DMA buy (A2, 200 at XNAS, directed): 200 at the offer, removing.
- BETA's VWAP order fills at XNYS: not in ALPHA's report.
- Held (care) orders, planted as the OMS of today refuses them: K1 IBM buy limit
  182.10 (marketable) fills 100 at XNYS removing; K2 IBM buy limit 181.00
  (non-marketable) routed to ARCX, unfilled; K3 SPY market buy fills 100 at XNYS
  adding; K4 IBM limit OPG (other) routed to XNYS, unfilled.
Day B: ALPHA's VWAP sell of 300 fills at XNYS at the offer, adding (near side for a sale).
Day C: BETA only, a held IBM market sale filled 100 at XNAS removing, and K6, a held
buy marketable at its receipt whose own fill comes after the NBBO moved away.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from post_trade import rule606
from post_trade.record import read_day
from post_trade.report import ReportResult
from sequencer import sources
from sequencer.messages.executions import (
    VenueAck,
    VenueCanceled,
    VenueFill,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.orders import ChildOrderSent, NewChild, NewOrder, ParentAccepted
from tests.oms.fixtures import MS
from tests.post_trade import daykit

# the workspace's ../shared/specs, beside the checkout
SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "sec-rule-606"
ROOT = Path(__file__).resolve().parents[2]
A, B, C, D = (dt.date(2013, 10, 8), dt.date(2013, 11, 8), dt.date(2013, 12, 9),
              dt.date(2014, 5, 1))
Made = tuple[ReportResult, dict[str, Any]]  # a report's result and its JSON figures


def _kit(path: Path, date: dt.date) -> daykit.KitDay:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(daykit, "DAY", date)  # the kit starts its day on daykit.DAY
        return daykit.KitDay(path)


def _child(d: daykit.KitDay, oid: str, cid: str, qty: int, venue: str, tif: str = "day",
           px: int = 183_0000) -> None:
    d.send(NewChild(parent_id=oid, child_id=cid, venue=venue, qty=qty, ord_type="limit",
                    limit_px=px, tif=tif), sources.ALGO)  # type: ignore[arg-type]  # a test's str
    d.send(VenueAck(child_id=cid, venue_order_id="V" + cid), sources.VENUE_GATEWAY)


def _care(d: daykit.KitDay, oid: str, symbol: str, side: str, ord_type: str, px: int,
          venue: str, tif: str = "day", fill: tuple[int, int, str] | None = None) -> None:
    """A held order with one child, planted (the OMS refuses orders with no algo)."""
    d.send(ParentAccepted(order_id=oid, client="ALPHA", cl_ord_id=oid, symbol=symbol,
                          side=side, qty=100, ord_type=ord_type, limit_px=px,  # type: ignore[arg-type]
                          tif=tif, algo="", algo_params=()), sources.INJECT)  # type: ignore[arg-type]
    d.send(ChildOrderSent(action="new", parent_id=oid, child_id=oid + "C", venue=venue,
                          destination="DMA-" + venue, symbol=symbol, side=side, qty=100,  # type: ignore[arg-type]
                          ord_type=ord_type, limit_px=px, tif=tif), sources.INJECT)  # type: ignore[arg-type]
    if fill is not None:
        qty, fpx, liq = fill
        d.send(VenueFill(child_id=oid + "C", exec_id=oid + "X", qty=qty, px=fpx,
                         liquidity=liq), sources.INJECT)  # type: ignore[arg-type]


def _day_a(path: Path) -> None:
    d = _kit(path, A)
    d.quote(181_9000, 182_0000)
    a1 = d.order("ALPHA", "A1", "buy", 1_000, 183_0000)
    _child(d, a1, "C1", 500, "XNYS")
    d.at(d.now + 250 * MS)
    d.fill("C1", 400, 181_9000, "added")
    eid = d.fill("C1", 100, 182_0000, "removed")
    d.fill("C1", 100, 182_0000, "removed", exec_id=eid)  # the venue's repeat
    _child(d, a1, "C2", 300, "ARCX", tif="ioc")
    d.fill("C2", 100, 181_9500, "removed", exec_id="M1")
    d.fill("C2", 50, 182_0000, "removed", exec_id="M2")
    d.send(VenueTradeCanceled(child_id="C2", exec_id="BUST1", ref_exec_id="M2"),
           sources.VENUE_GATEWAY)
    d.send(VenueTradeCorrected(child_id="C2", exec_id="CORR1", ref_exec_id="M1", qty=120,
                               px=181_9500), sources.VENUE_GATEWAY)
    d.send(VenueCanceled(child_id="C2"), sources.VENUE_GATEWAY)
    outs = d.send(NewOrder(client="ALPHA", cl_ord_id="A2", symbol="IBM", side="buy", qty=200,
                           ord_type="limit", limit_px=183_0000, algo="dma",
                           algo_params=(("venue", "XNAS"),)), sources.CLIENT_GATEWAY)
    dma = next(o for o in outs if isinstance(o, ParentAccepted)).order_id
    _child(d, dma, "C3", 200, "XNAS")
    d.fill("C3", 200, 182_0000, "removed")
    b1 = d.order("BETA", "B1", "buy", 100, 183_0000)
    _child(d, b1, "BC1", 100, "XNYS")
    d.fill("BC1", 100, 181_9000, "added")
    _care(d, "K1", "IBM", "buy", "limit", 182_1000, "XNYS", fill=(100, 182_0000, "removed"))
    _care(d, "K2", "IBM", "buy", "limit", 181_0000, "ARCX")
    _care(d, "K3", "SPY", "buy", "market", 0, "XNYS", fill=(100, 170_0000, "added"))
    _care(d, "K4", "IBM", "buy", "limit", 181_0000, "XNYS", tif="opg")
    d.finish()


def _day_b(path: Path) -> None:
    d = _kit(path, B)
    d.quote(181_9000, 182_0000)
    s = d.order("ALPHA", "S1", "sell", 300, 181_0000)
    _child(d, s, "C1", 300, "XNYS", px=181_0000)
    d.fill("C1", 300, 182_0000, "added")
    b = d.order("BETA", "B1", "buy", 100, 183_0000)
    _child(d, b, "BC1", 100, "XNYS")
    d.finish()


def _day_c(path: Path) -> None:
    d = _kit(path, C)
    d.quote(181_9000, 182_0000)
    # K6 arrives marketable (limit 182.00 at the offer); BETA's fill shows that NBBO
    # after K6's receipt; the quote moves up before K6's own fill, whose NBBO would
    # make it look non-marketable.
    _care(d, "K6", "IBM", "buy", "limit", 182_0000, "XNAS")
    b = d.order("BETA", "B1", "buy", 100, 183_0000)
    _child(d, b, "BC1", 100, "XNYS")
    d.fill("BC1", 100, 182_0000, "removed")
    d.quote(182_0500, 182_1000)
    d.send(VenueFill(child_id="K6C", exec_id="K6X", qty=100, px=182_0000,
                     liquidity="removed"), sources.INJECT)
    _care(d, "K5", "IBM", "sell", "market", 0, "XNAS", fill=(100, 181_9000, "removed"))
    d.finish()


def _day_d(path: Path) -> None:
    d = _kit(path, D)
    d.quote(181_9000, 182_0000)
    d.finish()


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("days")
    build: dict[str, Callable[[Path], None]] = {"a": _day_a, "b": _day_b, "c": _day_c,
                                                 "d": _day_d}
    # Folder names out of date order: days_between sorts by the journals' dates.
    names = {"a": "3-first", "b": "1-second", "c": "2-third", "d": "0-far"}
    for k, fn in build.items():
        fn(root / names[k])
    (root / "notes").mkdir()  # not a day: no journal
    return {k: root / n for k, n in names.items()}


@pytest.fixture(scope="module")
def b3(days: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
       ) -> Made:
    res = rule606.write_b3(rule606.days_between(days["a"], days["c"]), "ALPHA",
                           tmp_path_factory.mktemp("b3"))
    js = next(p for p in res.files if p.suffix == ".json")
    return res, json.loads(js.read_text())


@pytest.fixture(scope="module")
def a1(days: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
       ) -> Made:
    res = rule606.write_a1(rule606.days_between(days["a"], days["c"]),
                           tmp_path_factory.mktemp("a1"))
    js = next(p for p in res.files if p.suffix == ".json")
    return res, json.loads(js.read_text())


def _schema() -> Any:
    return xmlschema.XMLSchema(str(SPECS / "oh-20191231.xsd"))


def _venues(month: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["mic"]: v for v in month["venues"]}


# ------------------------------------------------------------------------ the range

def test_days_between_sorts_by_session_date(days: dict[str, Path]) -> None:
    assert rule606.days_between(days["a"], days["c"]) == [days["a"], days["b"], days["c"]]
    assert rule606.days_between(days["b"], days["b"]) == [days["b"]]
    assert [rule606.session_date(p) for p in (days["a"], days["d"])] == [A, D]


def test_bad_ranges_are_refused(days: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exceeds six months"):
        rule606.days_between(days["a"], days["d"])
    with pytest.raises(ValueError, match="reversed"):
        rule606.days_between(days["c"], days["a"])
    with pytest.raises(ValueError, match="no journal"):
        rule606.days_between(days["a"].parent / "notes", days["c"])
    with pytest.raises(ValueError, match="exceeds six months"):
        rule606.write_b3([days["a"], days["d"]], "ALPHA", tmp_path)
    with pytest.raises(ValueError, match="one calendar quarter"):
        rule606.write_a1([days["a"], days["d"]], tmp_path)


def test_six_months_edges() -> None:
    assert rule606.add_months(dt.date(2013, 8, 31), 6) == dt.date(2014, 2, 28)
    rule606.check_span(dt.date(2013, 4, 1), dt.date(2013, 9, 30))
    with pytest.raises(ValueError):
        rule606.check_span(dt.date(2013, 4, 1), dt.date(2013, 10, 1))
    assert rule606.months_of(dt.date(2013, 11, 8), dt.date(2014, 2, 1)) == [
        (2013, 11), (2013, 12), (2014, 1), (2014, 2)]


# ------------------------------------------------------------------------ 606(b)(3)

def test_b3_october_figures(b3: Made) -> None:
    _, fig = b3
    assert (fig["customer"], fig["startDate"], fig["endDate"]) == ("ALPHA", "2013-10-08",
                                                                   "2013-12-09")
    oct_nd = fig["sections"]["nondirected"][0]
    assert (oct_nd["year"], oct_nd["mon"], oct_nd["sentShr"]) == (2013, 10, "1000")
    v = _venues(oct_nd)
    assert list(v) == ["XNYS", "ARCX"]  # by shares routed
    x = v["XNYS"]
    assert {k: x[k] for k in (
        "routedShr", "iocRoutedShr", "orderSizeShr", "executedShr", "filledPct",
        "fillSizeShr", "netFeeOrRebateCph", "netFeeOrRebateUsd", "midpointShr",
        "nearsideShr", "nearsidePct", "farsideShr", "farsidePct", "providedLiqudityShr",
        "providedLiquidityPct", "orderDurationMsec", "providedLiquidityNetCph",
        "removedLiquidityShr", "removedLiquidityPct", "removedLiquidityNetCph")} == {
        "routedShr": "500", "iocRoutedShr": "0", "orderSizeShr": "500.00",
        "executedShr": "500", "filledPct": "100.00", "fillSizeShr": "250.00",
        "netFeeOrRebateCph": "10.0000", "netFeeOrRebateUsd": "0.50", "midpointShr": "0",
        "nearsideShr": "400", "nearsidePct": "80.00", "farsideShr": "100",
        "farsidePct": "20.00", "providedLiqudityShr": "400", "providedLiquidityPct": "80.00",
        "orderDurationMsec": "253", "providedLiquidityNetCph": "20.0000",
        "removedLiquidityShr": "100", "removedLiquidityPct": "20.00",
        "removedLiquidityNetCph": "-30.0000"}
    r = v["ARCX"]
    assert {k: r[k] for k in ("routedShr", "iocRoutedShr", "executedShr", "filledPct",
                              "fillSizeShr", "midpointShr", "midpointPct",
                              "netFeeOrRebateCph", "netFeeOrRebateUsd",
                              "providedLiqudityShr", "orderDurationMsec",
                              "providedLiquidityNetCph", "removedLiquidityShr")} == {
        "routedShr": "300", "iocRoutedShr": "300", "executedShr": "120", "filledPct": "40.00",
        "fillSizeShr": "120.00", "midpointShr": "120", "midpointPct": "100.00",
        "netFeeOrRebateCph": "-30.0000", "netFeeOrRebateUsd": "-0.36",
        "providedLiqudityShr": "0", "orderDurationMsec": "", "providedLiquidityNetCph": "",
        "removedLiquidityShr": "120"}


def test_b3_directed_and_months(b3: Made) -> None:
    _, fig = b3
    d_oct = fig["sections"]["directed"][0]
    assert d_oct["sentShr"] == "200"
    n = _venues(d_oct)["XNAS"]
    assert (n["executedShr"], n["farsideShr"], n["removedLiquidityNetCph"]) == (
        "200", "200", "-30.0000")
    assert [m["mon"] for m in fig["sections"]["directed"]] == [10, 11, 12]
    assert [m["venues"] for m in fig["sections"]["directed"][1:]] == [[], []]
    nov, dec = fig["sections"]["nondirected"][1:]
    assert (nov["sentShr"], dec["sentShr"], dec["venues"]) == ("300", "0", [])
    s = _venues(nov)["XNYS"]  # a sale at the offer: the near side; a 60 cent rebate
    assert (s["executedShr"], s["nearsideShr"], s["farsideShr"], s["netFeeOrRebateCph"],
            s["providedLiquidityPct"]) == ("300", "300", "0", "20.0000", "100.00")


def test_b3_month_bucketing_of_the_aggregate(days: dict[str, Path]) -> None:
    agg = rule606.B3Agg(client="ALPHA")
    for k in ("b", "a"):  # any order: each day into its own month
        rule606.accumulate_b3(agg, read_day(days[k]))
    assert sorted(agg.sent.items()) == [(((2013, 10), False), 1_000), (((2013, 10), True), 200),
                                        (((2013, 11), False), 300)]
    assert sorted((m, d, c) for m, d, c in agg.venues) == [
        ((2013, 10), False, "ARCX"), ((2013, 10), False, "XNYS"), ((2013, 10), True, "XNAS"),
        ((2013, 11), False, "XNYS")]


def test_b3_xml_validates_and_matches(b3: Made
                                      ) -> None:
    res, _ = b3
    xml = next(p for p in res.files if p.suffix == ".xml")
    assert xml.name == "606b3_ALPHA_2013-10-08_2013-12-09.xml"
    _schema().validate(str(xml))
    root = ET.parse(xml).getroot()
    nd = root.find("hNondirected")
    assert nd is not None
    first = nd.find("hMonthly/routingVenueList/iVenue")
    assert first is not None
    assert [first.findtext(k) for k in ("mic", "netFeeOrRebateCph", "orderDurationMsec")] == [
        "XNYS", "10.0000", "253"]
    assert first.findtext("furtherRoutableShr") == ""
    page = next(p for p in res.files if p.suffix == ".html").read_text()
    assert "<svg" in page and "<td>XNYS</td>" in page and "Directed orders" in page


# ------------------------------------------------------------------------ 606(a)(1)

def test_a1_figures(a1: Made) -> None:
    _, fig = a1
    assert (fig["year"], fig["qtr"], [m["mon"] for m in fig["months"]]) == (2013, 4,
                                                                          [10, 11, 12])
    oct_, nov, dec = fig["months"]
    sp = oct_["sp500"]
    assert {k: sp[k] for k in ("orders", "ndoPct", "ndoMarketPct", "ndoMarketableLimitPct",
                               "ndoNonmarketableLimitPct", "ndoOtherPct")} == {
        "orders": 3, "ndoPct": "100.00", "ndoMarketPct": "0.00",
        "ndoMarketableLimitPct": "33.33", "ndoNonmarketableLimitPct": "33.33",
        "ndoOtherPct": "33.33"}
    v = _venues(sp)
    assert list(v) == ["XNYS", "ARCX"]
    assert {k: v["XNYS"][k] for k in (
        "orderPct", "marketPct", "marketableLimitPct", "nonMarketableLimitPct", "otherPct",
        "netPmtPaidRecvMarketableLimitOrdersUsd", "netPmtPaidRecvMarketableLimitOrdersCph",
        "netPmtPaidRecvOtherOrdersUsd", "netPmtPaidRecvOtherOrdersCph")} == {
        "orderPct": "66.67", "marketPct": "", "marketableLimitPct": "100.00",
        "nonMarketableLimitPct": "0.00", "otherPct": "100.00",
        "netPmtPaidRecvMarketableLimitOrdersUsd": "-0.30",
        "netPmtPaidRecvMarketableLimitOrdersCph": "-30.0000",
        "netPmtPaidRecvOtherOrdersUsd": "0.00", "netPmtPaidRecvOtherOrdersCph": ""}
    assert (v["ARCX"]["orderPct"], v["ARCX"]["nonMarketableLimitPct"]) == ("33.33", "100.00")
    other = oct_["other"]  # SPY is an ETF: other stocks
    assert (other["orders"], other["ndoMarketPct"]) == (1, "100.00")
    assert (_venues(other)["XNYS"]["netPmtPaidRecvMarketOrdersUsd"],
            _venues(other)["XNYS"]["netPmtPaidRecvMarketOrdersCph"]) == ("0.20", "20.0000")
    assert (nov["sp500"]["orders"], nov["sp500"]["ndoPct"], nov["sp500"]["venues"]) == (
        0, "", [])
    x = _venues(dec["sp500"])["XNAS"]
    assert (dec["sp500"]["ndoMarketPct"], dec["sp500"]["ndoMarketableLimitPct"], x["orderPct"],
            x["marketPct"], x["marketableLimitPct"], x["netPmtPaidRecvMarketOrdersCph"]
            ) == ("50.00", "50.00", "100.00", "100.00", "100.00", "-30.0000")
    assert "no payment for order flow" in x["materialAspects"]


def test_a1_xml_validates(a1: Made) -> None:
    res, _ = a1
    xml = next(p for p in res.files if p.suffix == ".xml")
    assert xml.name == "606a1_2013Q4.xml"
    _schema().validate(str(xml))
    root = ET.parse(xml).getroot()
    assert root.tag == "heldOrderRoutingPublicReport"
    assert [m.findtext("mon") for m in root.findall("rMonthly")] == ["10", "11", "12"]


# ------------------------------------------------------------------------ the validator

@pytest.mark.parametrize("sample", ["606a1_held_order_public_report.xml",
                                    "606b3_not_held_customer_handling_1mo.xml",
                                    "606b3_empty.xml"])
def test_the_secs_samples_validate(sample: str) -> None:
    _schema().validate(str(SPECS / sample))


def test_the_validator_refuses_a_broken_report(
        b3: Made, tmp_path: Path) -> None:
    xml = next(p for p in b3[0].files if p.suffix == ".xml").read_text()
    for bad in (xml.replace("<mon>10</mon>", "<mon>13</mon>", 1),
                xml.replace("<netFeeOrRebateCph>10.0000<", "<netFeeOrRebateCph>10.00<", 1),
                re.sub(r"<iocRoutedShr>[^<]*</iocRoutedShr>", "", xml, count=1)):
        assert bad != xml
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            _schema().validate(bad)


# ------------------------------------------------------------------------ determinism

def test_same_bytes_on_rerun(days: dict[str, Path], tmp_path: Path,
                             b3: Made,
                             a1: Made) -> None:
    rng = rule606.days_between(days["a"], days["c"])
    again = [*rule606.write_b3(rng, "ALPHA", tmp_path / "b3").files,
             *rule606.write_a1(rng, tmp_path / "a1").files]
    first = [*b3[0].files, *a1[0].files]
    assert [p.name for p in again] == [p.name for p in first]
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in first]
    # And in another interpreter with another string hash seed.
    code = ("import sys; from pathlib import Path; from post_trade import rule606 as r; "
            "d = r.days_between(Path(sys.argv[1]), Path(sys.argv[2])); "
            "r.write_b3(d, 'ALPHA', Path(sys.argv[3])); r.write_a1(d, Path(sys.argv[3]))")
    out = tmp_path / "sub"
    subprocess.run([sys.executable, "-c", code, str(days["a"]), str(days["c"]), str(out)],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "4242"})
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in first)
    assert all((out / p.name).read_bytes() == p.read_bytes() for p in first)
