"""The baseline of `tape bench fix`: a bare QuickFIX acceptor that answers every
NewOrderSingle with an execution report (New) at once, on its receiving thread.

Run as `python -m deploy.bench.fix_echo --port P --root DIR`; prints
`{"ready": port}` when listening. Its store and log are QuickFIX's file store
and file log, like the client gateway's, so the baseline is QuickFIX itself
with the same persistence: what the platform adds is everything else.
"""

# determinism: edge module, a benchmark's FIX acceptor (sockets, QuickFIX threads)

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from fix_gateways.fixmsg import SOH, compose
from fix_gateways.session import (
    Callbacks,
    acceptor,
    exit_now,
    one_session,
    send_raw,
    write_settings,
)

BEGIN = "FIX.4.4"
ECHO_ID = "ECHO"  # not the gateway's CompID: QuickFIX keeps sessions in one registry
CLIENT_ID = "BENCH"


def settings_text(kind: str, root: Path, port: int, dictionary: Path | None,
                  acceptor_id: str = ECHO_ID) -> str:
    """QuickFIX settings for one FIX 4.4 session between the bench client (BENCH)
    and `acceptor_id` on loopback."""
    sender, target = (acceptor_id, CLIENT_ID) if kind == "acceptor" else (CLIENT_ID,
                                                                            acceptor_id)
    return one_session(kind, root, BEGIN, sender, target, port, dictionary)


class Echo:
    def __init__(self) -> None:
        self.n = 0

    def on_logon(self, sid: Any) -> None:
        pass

    def on_logout(self, sid: Any) -> None:
        pass

    def on_message(self, msg: Any, sid: Any) -> None:
        cl = msg.getField(11)
        self.n += 1
        body = (f"37=E{self.n}{SOH}17=E{self.n}{SOH}150=0{SOH}39=0{SOH}11={cl}{SOH}"
                f"55={msg.getField(55)}{SOH}54={msg.getField(54)}{SOH}"
                f"38={msg.getField(38)}{SOH}151={msg.getField(38)}{SOH}14=0{SOH}6=0{SOH}")
        send_raw(compose(BEGIN, "8", body), sid)


def main() -> None:
    from fix_gateways.config import data_dictionary

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", type=Path, required=True)
    a = ap.parse_args()
    settings = write_settings(a.root / "echo.cfg", settings_text(
        "acceptor", a.root, a.port, data_dictionary("4.4")))
    app = Callbacks(Echo())
    engine = acceptor(app, settings)
    engine.start()
    sys.stdout.write(json.dumps({"ready": a.port}) + "\n")
    sys.stdout.flush()
    try:
        for _line in sys.stdin:  # runs until the bench closes our stdin
            pass
    except KeyboardInterrupt:
        pass
    time.sleep(0.05)
    exit_now(0)
    del engine, app


if __name__ == "__main__":
    main()
