"""Routing around destinations that are down: `VenueStatus` from the venue gateway."""

from __future__ import annotations

from sequencer.messages.control import Alert
from sequencer.messages.executions import VenueStatus
from sequencer.messages.orders import ChildOrderSent, ChildRequestRejected, NewChild
from tests.oms.fixtures import Session, of_type
from tests.oms.test_scenarios import OID, PX, new


def _child(s: Session, cid: str, dest: str = "") -> ChildOrderSent | ChildRequestRejected:
    outs = s.algo(NewChild(parent_id=OID, child_id=cid, venue="XNYS", qty=100,
                           ord_type="limit", limit_px=PX, destination=dest))
    found = of_type(outs, ChildOrderSent) + of_type(outs, ChildRequestRejected)
    assert len(found) == 1
    return found[0]


def test_a_down_destination_is_avoided_and_used_again_once_up() -> None:
    s = Session()
    new(s)
    first = _child(s, "C1")
    assert isinstance(first, ChildOrderSent) and first.destination == "DMA-XNYS"
    outs = s.venue(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="down",
                               reason="logout"))
    assert [a.code for a in of_type(outs, Alert)] == ["destination_down"]
    second = _child(s, "C2")
    assert isinstance(second, ChildOrderSent) and second.destination == "ALT-XNYS"
    named = _child(s, "C3", dest="DMA-XNYS")
    assert isinstance(named, ChildRequestRejected)
    assert named.reason == "destination DMA-XNYS is down (logout)"
    outs = s.venue(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="up"))
    assert [a.code for a in of_type(outs, Alert)] == ["destination_up"]
    third = _child(s, "C4")
    assert isinstance(third, ChildOrderSent) and third.destination == "DMA-XNYS"


def test_a_venue_with_every_destination_down_takes_no_children() -> None:
    s = Session()
    new(s)
    for dest in ("DMA-XNYS", "ALT-XNYS"):
        s.venue(VenueStatus(destination=dest, venue="XNYS", status="down"))
    refused = _child(s, "C1")
    assert isinstance(refused, ChildRequestRejected)
    assert refused.reason == "venue XNYS is down: no destination to it is up"
    # Repeated "down" news raises no second alert.
    outs = s.venue(VenueStatus(destination="DMA-XNYS", venue="XNYS", status="down"))
    assert of_type(outs, Alert) == []
