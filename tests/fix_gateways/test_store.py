"""Reading a QuickFIX FileStore back: which messages a session has sent, and how many
of each key (a restarted client gateway skips exactly those)."""

from __future__ import annotations

from pathlib import Path

from fix_gateways.fixmsg import SOH, compose
from fix_gateways.store import sent_counts, sent_keys


def _store(prefix: Path, messages: list[str]) -> None:
    """A FileStore's .body (messages back to back) and .header (seq,offset,size)."""
    body = b""
    index = []
    for seq, raw in enumerate(messages, 1):
        data = raw.encode("latin-1")
        index.append(f"{seq},{len(body)},{len(data)}")
        body += data
    prefix.with_name(prefix.name + ".body").write_bytes(body)
    prefix.with_name(prefix.name + ".header").write_text(" ".join(index) + " ")


def test_a_repeated_key_is_counted_and_session_messages_are_not(tmp_path: Path) -> None:
    prefix = tmp_path / "FIX.4.4-TAPE-ALPHA"
    reject = compose("FIX.4.4", "9", f"37=NONE{SOH}11=C1{SOH}41=A1{SOH}39=8{SOH}434=1{SOH}")
    report = compose("FIX.4.4", "8", f"37=O1{SOH}17=E1{SOH}11=A1{SOH}150=0{SOH}39=0{SOH}")
    heartbeat = compose("FIX.4.4", "0", "")
    _store(prefix, [report, reject, heartbeat, reject])
    assert sent_counts(prefix) == {"8:E1": 1, "9:C1": 2}
    assert sent_keys(prefix) == {"8:E1", "9:C1"}


def test_a_session_with_no_store_has_sent_nothing(tmp_path: Path) -> None:
    assert sent_counts(tmp_path / "FIX.4.4-TAPE-NOBODY") == {}
