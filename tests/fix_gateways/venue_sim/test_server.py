"""The FIX venue simulator (fix_gateways.venue_sim.server) in process, without sockets:
the venue gateway's own requests (`venue_fix.VenueOrders`) go in, the server's
reports come out checked by QuickFIX's data dictionary of the session's version and
translated back by the gateway. ExecInst (post only, pegs, unsupported values),
replaces that must re-declare it, and the scripted commands bust, correct and a
restatement reason (378), in FIX 4.4 and 4.2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fix_gateways.config import VenueGateway, VenueSession
from fix_gateways.fixmsg import FIX42, FIX44, SOH, Fields, compose, read
from fix_gateways.venue_fix import VenueEvent, VenueOrders
from fix_gateways.venue_sim import server
from fix_gateways.venue_sim.server import VenueSimServer
from sequencer.messages.executions import (
    RestatementReason,
    VenueAck,
    VenueCanceled,
    VenueCancelRejected,
    VenueFill,
    VenueReject,
    VenueReplaced,
    VenueRestated,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.orders import ChildOrderSent
from tests.fix_gateways.test_fixmsg import validate

PX = 1_000_000  # $100.00
NS = 1_704_205_800_000_000_000
VENUE = {FIX44: "ARCX", FIX42: "XNYS"}
BOTH = pytest.mark.parametrize("v", [FIX44, FIX42])


class Sim:
    """The server, what it sent, what it said on stdout, and the gateway's side."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        cfg = VenueGateway(sessions=[
            VenueSession(destination="DMA-ARCX", venue="ARCX", port=1, target_comp_id="ARCX",
                         fix_version="4.4"),
            VenueSession(destination="DMA-XNYS", venue="XNYS", port=1, target_comp_id="XNYS",
                         fix_version="4.2")])
        self.srv = VenueSimServer(cfg, tmp, scripted_mode=True)
        self.sent: list[str] = []
        self.said: list[dict[str, Any]] = []
        monkeypatch.setattr(server, "send_raw", self._send_raw)
        monkeypatch.setattr(VenueSimServer, "_say", staticmethod(self.said.append))
        self.gw = VenueOrders()

    def _send_raw(self, raw: str, _sid: object) -> bool:
        self.sent.append(raw)
        return True

    def request(self, v: str, m: ChildOrderSent) -> list[Fields]:
        """The gateway's request for `m` to the venue of version `v`; the server's answers."""
        return self.raw(v, self.gw.request(v, m, NS))

    def raw(self, v: str, raw: str) -> list[Fields]:
        validate(raw)
        before = len(self.sent)
        self.srv._on_fix(self.srv._session_of_venue[VENUE[v]], read(raw))
        return self._answers(before)

    def command(self, **cmd: Any) -> tuple[dict[str, Any], list[Fields]]:
        before = len(self.sent)
        self.srv._on_command(cmd)
        return self.said[-1], self._answers(before)

    def _answers(self, before: int) -> list[Fields]:
        out = []
        for raw in self.sent[before:]:
            validate(raw)  # every report is one QuickFIX's dictionary accepts
            out.append(read(raw))
        return out

    def events(self, v: str, answers: list[Fields]) -> list[VenueEvent | None]:
        return [self.gw.from_venue(v, f) for f in answers]


@pytest.fixture
def sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sim:
    return Sim(tmp_path, monkeypatch)


def child(v: str, action: str = "new", **kw: Any) -> ChildOrderSent:
    base: dict[str, Any] = dict(
        action=action, parent_id="P1", child_id="K1", venue=VENUE[v],
        destination=f"DMA-{VENUE[v]}", symbol="IBM", side="buy", qty=500, ord_type="limit",
        limit_px=PX, tif="day")
    base.update(kw)
    return ChildOrderSent(**base)


def quote(sim: Sim, v: str, bid: int, ask: int, size: int = 300) -> list[Fields]:
    return sim.command(op="quote", venue=VENUE[v], symbol="IBM", bid_px=bid, bid_size=size,
                       ask_px=ask, ask_size=size)[1]


def tags(f: Fields, *names: str) -> tuple[str | None, ...]:
    return tuple(f.get(t) for t in names)


# ---------------------------------------------------------------- ExecInst


@BOTH
def test_a_pegged_child_reaches_the_venue_pegged_and_capped(sim: Sim, v: str) -> None:
    quote(sim, v, PX - 200, PX + 200)
    answers = sim.request(v, child(v, exec_inst=("mid_peg",), limit_px=PX - 100))
    assert [e for e in sim.events(v, answers)] == [VenueAck("K1", f"{VENUE[v]}-O1")]
    o = sim.srv.venues[VENUE[v]].venue.order("K1")
    assert o is not None and (o.peg, o.cap, o.px, o.ord_type) == (
        "mid", PX - 100, PX - 100, "limit")  # the midpoint, capped
    # uncapped (a market child): pegged at the touch
    sim.request(v, child(v, child_id="K2", exec_inst=("primary_peg",), ord_type="market",
                         limit_px=0))
    o = sim.srv.venues[VENUE[v]].venue.order("K2")
    assert o is not None and (o.peg, o.cap, o.px, o.ord_type) == (
        "primary", 0, PX - 200, "market")


@BOTH
def test_exec_inst_6_is_post_only(sim: Sim, v: str) -> None:
    quote(sim, v, PX - 100, PX)
    [rej] = sim.request(v, child(v, exec_inst=("participate_dont_initiate",), limit_px=PX))
    assert tags(rej, "35", "150", "39", "58") == (
        "8", "8", "8", "post-only order would take liquidity")
    assert sim.events(v, [rej]) == [VenueReject("K1", "post-only order would take liquidity")]
    [ack] = sim.request(v, child(v, child_id="K2", exec_inst=("participate_dont_initiate",),
                                 limit_px=PX - 100))
    assert tags(ack, "150", "39") == ("0", "0")
    o = sim.srv.venues[VENUE[v]].venue.order("K2")
    assert o is not None and o.post_only and not o.peg


@BOTH
@pytest.mark.parametrize(("inst", "ord_type", "why"), [
    ("P", "2", "ExecInst (18) value 'P' is not supported"),  # not post only
    ("6 G", "2", "ExecInst (18) value 'G' is not supported"),
    ("M", "2", "a pegged order (ExecInst M or R) must be OrdType P"),
    ("", "P", "OrdType P (pegged) needs ExecInst M or R"),
    ("M R", "P", "an order cannot peg to both the midpoint and the touch"),
])
def test_unsupported_exec_inst_is_rejected(sim: Sim, v: str, inst: str, ord_type: str,
                                           why: str) -> None:
    body = (f"11=K1{SOH}21=1{SOH}" + (f"18={inst}{SOH}" if inst else "")
            + f"38=100{SOH}40={ord_type}{SOH}44=100{SOH}54=1{SOH}55=IBM{SOH}59=0{SOH}"
            f"60=20240102-14:30:00{SOH}")
    [rej] = sim.raw(v, compose(v, "D", body))
    assert tags(rej, "35", "150", "39", "11", "58") == ("8", "8", "8", "K1", why)
    assert sim.srv.venues[VENUE[v]].venue.open_orders() == []


@BOTH
def test_a_replace_must_declare_the_exec_inst_again(sim: Sim, v: str) -> None:
    quote(sim, v, PX - 200, PX + 200)
    sim.events(v, sim.request(v, child(v, exec_inst=("mid_peg",), limit_px=PX + 500)))
    # the gateway re-declares 18 and 40=P: the venue replaces (a lower cap now binds)
    answers = sim.request(v, child(v, "replace", qty=400, limit_px=PX - 100))
    assert sim.events(v, answers) == [VenueReplaced("K1", 400, PX - 100)]
    o = sim.srv.venues[VENUE[v]].venue.order("K1")
    assert o is not None and (o.peg, o.qty, o.px) == ("mid", 400, PX - 100)
    # a replace that drops the ExecInst (or the pegging) is refused
    for n, (inst, typ) in enumerate((("", "2"), ("M", "2"), ("6 M", "P"))):
        body = (f"11=X{n}{SOH}21=1{SOH}41=K1.1{SOH}" + (f"18={inst}{SOH}" if inst else "")
                + f"38=300{SOH}40={typ}{SOH}44=99{SOH}54=1{SOH}55=IBM{SOH}59=0{SOH}"
                f"60=20240102-14:30:00{SOH}")
        [cxl] = sim.raw(v, compose(v, "G", body))
        assert tags(cxl, "35", "434", "41") == ("9", "2", "K1.1")
        assert "cannot change" in cxl["58"]
    o = sim.srv.venues[VENUE[v]].venue.order("K1")
    assert o is not None and o.qty == 400


def test_a_replace_of_a_plain_order_still_goes_through(sim: Sim) -> None:
    sim.request(FIX44, child(FIX44, limit_px=PX - 1000))
    answers = sim.request(FIX44, child(FIX44, "replace", qty=300, limit_px=PX - 1000))
    assert sim.events(FIX44, answers) == [VenueReplaced("K1", 300, PX - 1000)]


# ---------------------------------------------------------------- bust, correct


@BOTH
def test_fill_then_bust_then_correct(sim: Sim, v: str) -> None:
    sim.events(v, sim.request(v, child(v, limit_px=PX)))
    said, answers = sim.command(op="fill", venue=VENUE[v], cl_ord_id="K1", qty=200, px=PX)
    assert said == {"done": "fill", "exec_ids": [f"{VENUE[v]}-2"]}
    fill = sim.events(v, answers)[0]
    assert isinstance(fill, VenueFill) and fill.exec_id == f"{VENUE[v]}-2"
    sim.command(op="fill", venue=VENUE[v], cl_ord_id="K1", qty=100, px=PX - 100)  # -3

    said, [bust] = sim.command(op="bust", venue=VENUE[v], cl_ord_id="K1", exec_id=fill.exec_id)
    assert said == {"done": "bust", "exec_id": f"{VENUE[v]}-4"}
    head = ("H", "0") if v == FIX44 else ("1", "1")  # 4.2: ExecTransType cancel
    assert tags(bust, "150", "20") == (head[0], None if v == FIX44 else head[1])
    assert tags(bust, "17", "19", "32", "31", "14", "151", "38", "39", "6") == (
        f"{VENUE[v]}-4", f"{VENUE[v]}-2", "0", "0", "100", "200", "300", "1", "99.99")
    assert sim.events(v, [bust]) == [
        VenueTradeCanceled("K1", f"{VENUE[v]}-4", f"{VENUE[v]}-2")]

    said, [corr] = sim.command(op="correct", venue=VENUE[v], cl_ord_id="K1",
                               exec_id=f"{VENUE[v]}-3", qty=150, px=PX - 50)
    assert said == {"done": "correct", "exec_id": f"{VENUE[v]}-5"}
    assert tags(corr, "150", "20") == (("G", None) if v == FIX44 else ("1", "2"))
    assert tags(corr, "17", "19", "32", "31", "14", "151", "38", "39", "6") == (
        f"{VENUE[v]}-5", f"{VENUE[v]}-3", "150", "99.995", "150", "200", "350", "1", "99.995")
    assert sim.events(v, [corr]) == [
        VenueTradeCorrected("K1", f"{VENUE[v]}-5", f"{VENUE[v]}-3", 150, PX - 50)]
    # a correction of the correction names it; the old exec id is gone
    said, _ = sim.command(op="correct", venue=VENUE[v], cl_ord_id="K1",
                          exec_id=f"{VENUE[v]}-3", qty=1, px=PX)
    assert "error" in said and "no fill" in said["error"]
    said, [again] = sim.command(op="bust", venue=VENUE[v], cl_ord_id="K1",
                                exec_id=f"{VENUE[v]}-5")
    assert said["done"] == "bust" and tags(again, "19", "14", "151", "39") == (
        f"{VENUE[v]}-5", "0", "200", "0")


@BOTH
def test_a_bust_of_a_filled_order_keeps_it_done(sim: Sim, v: str) -> None:
    sim.request(v, child(v, qty=300, limit_px=PX))
    _, [f1] = sim.command(op="fill", venue=VENUE[v], cl_ord_id="K1", qty=100, px=PX)
    _, [f2] = sim.command(op="fill", venue=VENUE[v], cl_ord_id="K1", qty=200, px=PX)
    assert f2["39"] == "2"
    _, [bust] = sim.command(op="bust", venue=VENUE[v], cl_ord_id="K1", exec_id=f1["17"])
    # still filled: the order's quantity went down with its cum (leaves unchanged at 0)
    assert tags(bust, "39", "14", "151", "38") == ("2", "200", "0", "200")
    if v == FIX42:
        assert tags(bust, "20", "150") == ("1", "2")
    _, [last] = sim.command(op="bust", venue=VENUE[v], cl_ord_id="K1", exec_id=f2["17"])
    assert tags(last, "39", "14", "151", "38") == ("3", "0", "0", "0")  # done for day
    if v == FIX42:
        assert tags(last, "20", "150") == ("1", "1")


def test_a_bust_of_a_cancelled_order_reports_it_cancelled(sim: Sim) -> None:
    sim.request(FIX44, child(FIX44, limit_px=PX))
    _, [f1] = sim.command(op="fill", venue="ARCX", cl_ord_id="K1", qty=100, px=PX)
    sim.request(FIX44, child(FIX44, "cancel"))
    _, [bust] = sim.command(op="bust", venue="ARCX", cl_ord_id="K1.1", exec_id=f1["17"])
    assert tags(bust, "150", "39", "14", "151") == ("H", "4", "0", "0")


def test_bad_bust_and_correct_commands_are_errors(sim: Sim) -> None:
    sim.request(FIX44, child(FIX44))
    for cmd in ({"op": "bust", "cl_ord_id": "K1", "exec_id": "ARCX-99"},
                {"op": "correct", "cl_ord_id": "K1", "exec_id": "ARCX-1", "qty": 5, "px": PX},
                {"op": "bust", "cl_ord_id": "K1"},
                {"op": "bust", "cl_ord_id": "NOPE", "exec_id": "ARCX-1"}):
        said, answers = sim.command(venue="ARCX", **cmd)
        assert "error" in said and answers == []
    sim.command(op="fill", venue="ARCX", cl_ord_id="K1", qty=10, px=PX)
    said, _ = sim.command(op="correct", venue="ARCX", cl_ord_id="K1", exec_id="ARCX-2",
                          qty=0, px=PX)
    assert "positive" in said["error"]


# ---------------------------------------------------------------- restatement reasons


@BOTH
def test_restatement_reasons_go_out_as_378(sim: Sim, v: str) -> None:
    sim.events(v, sim.request(v, child(v, limit_px=PX)))
    said, [rst] = sim.command(op="restate", venue=VENUE[v], cl_ord_id="K1", qty=400, px=PX,
                              restatement_reason="partial_decline")
    assert said == {"done": "restate"} and tags(rst, "150", "378") == ("D", "5")
    assert sim.events(v, [rst]) == [VenueRestated("K1", 400, PX, "restated by the venue",
                                                  "partial_decline")]
    said, [cxl] = sim.command(op="unsolicited_cancel", venue=VENUE[v], cl_ord_id="K1",
                              reason="halted", restatement_reason="trading_halt")
    # 4.2 knows 0-5 only: a halt goes as broker option (4)
    word: RestatementReason
    code, word = "6", "trading_halt"
    if v == FIX42:
        code, word = "4", "broker_option"
    assert tags(cxl, "150", "39", "378", "58") == ("4", "4", code, "halted")
    assert sim.events(v, [cxl]) == [VenueCanceled("K1", True, "halted", word)]


def test_no_restatement_reason_no_378_and_an_unknown_one_is_an_error(sim: Sim) -> None:
    sim.request(FIX44, child(FIX44))
    said, [rst] = sim.command(op="restate", venue="ARCX", cl_ord_id="K1", qty=400, px=PX)
    assert "378" not in rst
    said, answers = sim.command(op="unsolicited_cancel", venue="ARCX", cl_ord_id="K1",
                                restatement_reason="because")
    assert "unknown restatement_reason 'because'" in said["error"] and answers == []
    assert sim.srv.venues["ARCX"].venue.order("K1") is not None


def test_a_refused_cancel_still_works(sim: Sim) -> None:
    sim.request(FIX44, child(FIX44))
    sim.command(op="refuse_cancels", venue="ARCX", cl_ord_id="K1")
    assert sim.events(FIX44, sim.request(FIX44, child(FIX44, "cancel"))) == [
        VenueCancelRejected("K1", "cancel", "refused by the venue (scripted)")]
