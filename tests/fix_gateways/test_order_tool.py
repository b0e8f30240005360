"""`tape gateway order`'s follow loop, driven by the events its QuickFIX session would
hand it (no live stack): a session-level Reject (35=3) or a BusinessMessageReject (35=j)
of the order is shown with what it names and exits 1; stopping while the order still
works says so; reports of other messages are not taken for the order's."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from fix_gateways.fixmsg import SOH, read
from fix_gateways.order_tool import _Client, _follow, describe_reject

CL = "T123"


class Sid:
    def toString(self) -> str:  # noqa: N802 - QuickFIX's name
        return "FIX.4.4:DEMO->TAPE"


def follow(*messages: dict[str, str], wait: float = 5.0) -> tuple[int, str, str, list[str]]:
    """Log on, then hand the loop `messages`; (exit code, stdout, stderr, what was sent)."""
    client = _Client()
    client.events.put(("logon", Sid()))
    for m in messages:
        client.events.put(("message", m))
    sent: list[str] = []

    def send(raw: str, _sid: Any) -> bool:
        sent.append(raw)
        return True

    out = Console(file=io.StringIO(), width=200, highlight=False)
    err = Console(file=io.StringIO(), width=200, highlight=False)
    rc = _follow(client, "FIX.4.4", "4.4", "IBM", "1", 500, "181", "DMA", "ARCX", CL, wait,
                 False, out, err, send=send)
    return rc, out.file.getvalue(), err.file.getvalue(), sent  # type: ignore[attr-defined]


def report(status: str, **more: str) -> dict[str, str]:
    return {"35": "8", "11": CL, "39": status, "14": "0", "38": "500", "6": "0", **more}


SESSION_REJECT = {"35": "3", "45": "2", "371": "44", "372": "D", "373": "5",
                  "58": "Value is incorrect (out of range) for this tag"}


def test_the_order_is_sent_on_logon() -> None:
    rc, _, _, sent = follow(report("2", **{"14": "500"}))
    assert rc == 0
    (raw,) = sent
    fields = read(raw.replace("|", SOH))
    assert (fields["35"], fields["11"], fields["55"], fields["38"], fields["44"]) == (
        "D", CL, "IBM", "500", "181")


def test_a_session_reject_of_the_order_is_shown_and_exits_1() -> None:
    rc, _, err, _ = follow(SESSION_REJECT)
    assert rc == 1
    line = " ".join(err.split("\n", 1)[1].split())  # after the "logged on" line
    assert line == (
        "error: rejected at the session level (Reject 35=3), RefTagID 44, RefMsgType D, "
        "RefSeqNum 2, reason 5 (value is incorrect (out of range) for this tag): "
        "Value is incorrect (out of range) for this tag")


def test_a_business_reject_of_the_order_is_shown_and_exits_1() -> None:
    rc, _, err, _ = follow({"35": "j", "372": "D", "379": CL, "380": "3",
                            "58": "no client order session"})
    assert rc == 1
    assert ("rejected by the gateway (BusinessMessageReject 35=j), reason 3 (unsupported "
            "message type), RefMsgType D: no client order session") in " ".join(err.split())


def test_rejects_of_other_messages_are_not_the_orders() -> None:
    rc, out, err, _ = follow({**SESSION_REJECT, "372": "0"},  # a heartbeat's
                             {"35": "j", "379": "OTHER", "380": "0"},
                             report("0"), report("2", **{"14": "500"}))
    assert rc == 0, err
    assert "rejected" not in err
    assert out.splitlines() == ["new: cum 0 of 500, avg 0", "filled: cum 500 of 500, avg 0"]


def test_stopping_while_the_order_works_says_so() -> None:
    rc, out, err, _ = follow(report("1", **{"14": "100", "32": "100", "31": "181"}), wait=0.3)
    assert rc == 0
    assert "partially filled: cum 100 of 500" in out
    assert ("stopped waiting after 0.3 s: order T123 still working (last status partially "
            "filled)") in " ".join(err.split())


def test_an_order_rejected_by_the_oms_exits_1() -> None:
    rc, out, _, _ = follow(report("8", **{"58": "unknown symbol"}))
    assert rc == 1
    assert "rejected: cum 0 of 500, avg 0 (unknown symbol)" in out


def test_no_answer_within_the_wait() -> None:
    rc, _, err, _ = follow(wait=0.3)
    assert rc == 1
    assert "no execution report within the 0.3 s wait" in err


def test_describe_reject_without_optional_fields() -> None:
    assert describe_reject({"35": "3"}) == "rejected at the session level (Reject 35=3)"
    assert describe_reject({"35": "3", "373": "42"}) == (
        "rejected at the session level (Reject 35=3), reason 42 (unknown)")
