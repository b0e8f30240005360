"""The venue gateway's handling of venue messages, in process (no sockets, no stream):
fills, trade cancels and trade corrects are published once per child and ExecID, also
when a venue resends one that the stream already holds (read back on catch-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fix_gateways.config import VenueGateway, VenueSession
from fix_gateways.fixmsg import FIX44, SOH, compose
from fix_gateways.venue_gateway import VenueGatewayProcess
from sequencer import sources
from sequencer.messages import Message
from sequencer.messages.executions import (
    VenueAck,
    VenueFill,
    VenueTradeCanceled,
    VenueTradeCorrected,
)
from sequencer.messages.orders import ChildOrderSent


@pytest.fixture
def gw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[VenueGatewayProcess,
                                                                   list[Message]]:
    cfg = VenueGateway(sessions=[VenueSession(
        destination="DMA-ARCX", venue="ARCX", port=1, target_comp_id="ARCX",
        fix_version="4.4")])
    g = VenueGatewayProcess(tmp_path, cfg)
    out: list[Message] = []
    monkeypatch.setattr(g, "publish", out.append)
    g.orders.request(FIX44, ChildOrderSent(
        action="new", parent_id="P1", child_id="K1", venue="ARCX", destination="DMA-ARCX",
        symbol="IBM", side="buy", qty=500, ord_type="limit", limit_px=1_000_000), 0)
    return g, out


def report(**tags: str) -> str:
    base = {"37": "V1", "11": "K1", "17": "E0", "150": "0", "39": "0", "55": "IBM", "54": "1",
            "151": "500", "14": "0", "6": "0"}
    base.update(tags)
    return compose(FIX44, "8", "".join(f"{k}={v}{SOH}" for k, v in base.items()))


def deliver(g: VenueGatewayProcess, raw: str) -> None:
    g.on_message(raw, next(iter(g.sid.values())))


def test_fills_busts_and_corrects_are_published_once(
        gw: tuple[VenueGatewayProcess, list[Message]]) -> None:
    g, out = gw
    deliver(g, report())
    fill = report(**{"17": "E1", "150": "F", "39": "1", "32": "100", "31": "100",
                     "151": "400", "14": "100"})
    bust = report(**{"17": "E2", "19": "E1", "150": "H", "32": "0", "31": "0"})
    fix_ = report(**{"17": "E3", "19": "E1", "150": "G", "32": "90", "31": "99.99"})
    for raw in (fill, fill, bust, bust, fix_, fix_):
        deliver(g, raw)
    assert out == [VenueAck("K1", "V1"), VenueFill("K1", "E1", 100, 1_000_000, "", 400),
                   VenueTradeCanceled("K1", "E2", "E1"),
                   VenueTradeCorrected("K1", "E3", "E1", 90, 999_900)]
    assert g.counts.events == 4 and g.counts.ignored == 3


def test_a_resend_of_what_the_stream_holds_is_not_published_again(
        gw: tuple[VenueGatewayProcess, list[Message]]) -> None:
    g, out = gw
    # catch-up: our own earlier outputs, read back from the stream
    g.frame_source = sources.VENUE_GATEWAY
    read_back: list[Any] = [VenueTradeCanceled("K1", "E2", "E1"),
                            VenueTradeCorrected("K1", "E3", "E1", 90, 999_900)]
    for m in read_back:
        g.on_trade_amended(m)
    # another source's message with the same ids does not count as ours
    g.frame_source = sources.VENUE_SIM
    g.on_trade_amended(VenueTradeCanceled("K1", "E4", "E1"))
    deliver(g, report(**{"17": "E2", "19": "E1", "150": "H", "32": "0", "31": "0"}))
    deliver(g, report(**{"17": "E3", "19": "E1", "150": "G", "32": "90", "31": "99.99"}))
    deliver(g, report(**{"17": "E4", "19": "E1", "150": "H", "32": "0", "31": "0"}))
    assert out == [VenueTradeCanceled("K1", "E4", "E1")]
