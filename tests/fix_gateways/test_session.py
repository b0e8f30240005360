"""The QuickFIX plumbing over a real loopback session: text-built messages go out with
QuickFIX's own header, and the store reader finds what a session sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import quickfix as fix

from fix_gateways.session import acceptor, exit_now, initiator, send_raw, write_settings
from fix_gateways.store import message_key, sent_keys, store_prefix
from tests.conftest import REPO, child_env
from tests.fix_gateways.qf import Recorder, free_port, settings_text

SOH = "\x01"


def _nos(cl: str) -> str:
    body = SOH.join(["35=D", "49=X", "56=Y", "34=1", "52=20131008-13:30:00.000", f"11={cl}",
                     "21=1", "55=IBM", "54=1", "60=20131008-13:30:00.000", "38=100", "40=2",
                     "44=182.5", "5700=GS"]) + SOH
    return f"8=FIX.4.4{SOH}9={len(body)}{SOH}{body}10=000{SOH}"


def session_run(tmp: str) -> None:
    """In a child process: QuickFIX's engine cannot be stopped safely (its stop()
    crashes the process now and then), so the child exits without stopping it."""
    tmp_path = Path(tmp)
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
    ini_rec.wait("logons", 1)
    sid = fix.SessionID("FIX.4.4", "ALPHA", "TAPE")
    sent = [send_raw(_nos("C1"), sid), send_raw(_nos("C2"), sid)]
    acc_rec.wait("messages", 2)
    (tmp_path / "result.json").write_text(json.dumps([sent, acc_rec.messages]))
    exit_now(0)


def test_messages_sent_as_text_arrive_whole_and_the_store_knows_them(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", "from tests.fix_gateways.test_session import "
                        f"session_run; session_run({str(tmp_path)!r})"], cwd=REPO,
                       env=child_env(), capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    sent, got = json.loads((tmp_path / "result.json").read_text())
    assert sent == [True, True]
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
