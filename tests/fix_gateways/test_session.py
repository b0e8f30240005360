"""The QuickFIX plumbing over a real loopback session: text-built messages go out with
QuickFIX's own header, and the store reader finds what a session sent."""

from __future__ import annotations

from pathlib import Path

import quickfix as fix

from fix_gateways.session import acceptor, initiator, send_raw, write_settings
from fix_gateways.store import message_key, sent_keys, store_prefix
from tests.fix_gateways.qf import Recorder, free_port, settings_text

SOH = "\x01"


def _nos(cl: str) -> str:
    body = SOH.join(["35=D", "49=X", "56=Y", "34=1", "52=20131008-13:30:00.000", f"11={cl}",
                     "21=1", "55=IBM", "54=1", "60=20131008-13:30:00.000", "38=100", "40=2",
                     "44=182.5", "5700=GS"]) + SOH
    return f"8=FIX.4.4{SOH}9={len(body)}{SOH}{body}10=000{SOH}"


def test_messages_sent_as_text_arrive_whole_and_the_store_knows_them(tmp_path: Path) -> None:
    port = free_port()
    acc_rec, ini_rec = Recorder(), Recorder()
    acc = acceptor(acc_rec.callbacks(), write_settings(
        tmp_path / "acc.cfg",
        settings_text("acceptor", tmp_path / "acc", "FIX.4.4", "TAPE", "ALPHA", port)))
    ini = initiator(ini_rec.callbacks(), write_settings(
        tmp_path / "ini.cfg",
        settings_text("initiator", tmp_path / "ini", "FIX.4.4", "ALPHA", "TAPE", port)))
    acc.start()
    ini.start()
    try:
        ini_rec.wait("logons", 1)
        sid = fix.SessionID("FIX.4.4", "ALPHA", "TAPE")
        assert send_raw(_nos("C1"), sid) and send_raw(_nos("C2"), sid)
        acc_rec.wait("messages", 2)
    finally:
        ini.stop()
        acc.stop()
    got = acc_rec.messages
    # QuickFIX replaced the placeholder header: real CompIDs, sequence numbers, checksum.
    assert [(m["11"], m["49"], m["56"], m["34"], m["5700"]) for m in got] == [
        ("C1", "ALPHA", "TAPE", "2", "GS"), ("C2", "ALPHA", "TAPE", "3", "GS")]
    keys = sent_keys(store_prefix(tmp_path / "ini" / "store", "FIX.4.4", "ALPHA", "TAPE"))
    assert keys == {"D:C1", "D:C2"}
    assert sent_keys(tmp_path / "nothing" / "FIX.4.4-A-B") == set()


def test_message_keys() -> None:
    assert message_key(f"35=8{SOH}11=C1{SOH}17=E7{SOH}") == "8:E7"
    assert message_key(f"35=9{SOH}11=C2{SOH}41=C1{SOH}") == "9:C2"
    assert message_key(f"35=0{SOH}34=5{SOH}") is None
