"""A client's FIX session for the end-to-end tests, as a worker process.

`python -m tests.fix_gateways.fix_client --port P --comp-id ALPHA --version 4.4
--root DIR` logs on to the client gateway as an initiator (real QuickFIX), prints
`{"logon": ...}`, then reads JSON lines on stdin: `{"send": {"35": "D", "11": ...}}`
sends a message with those body fields (QuickFIX fills the header); every
application message received is printed as `{"got": {tag: value}}`. It exits
without tearing QuickFIX down (its `stop()` can crash the process).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

import quickfix as fix

from fix_gateways.fixmsg import compose, read
from fix_gateways.session import Callbacks, exit_now, initiator, send_raw, write_settings
from tests.fix_gateways.qf import settings_text

_out = threading.Lock()


def say(obj: dict[str, Any]) -> None:
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Client:
    def on_logon(self, sid: Any) -> None:
        say({"logon": sid.toString()})

    def on_logout(self, sid: Any) -> None:
        say({"logout": sid.toString()})

    def on_message(self, msg: Any, sid: Any) -> None:
        say({"got": read(msg)})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--comp-id", required=True)
    ap.add_argument("--version", default="4.4")
    ap.add_argument("--root", type=Path, required=True)
    a = ap.parse_args()
    begin = f"FIX.{a.version}"
    settings = write_settings(a.root / "client.cfg", settings_text(
        "initiator", a.root, begin, a.comp_id, "TAPE", a.port))
    eng = initiator(Callbacks(Client()), settings)
    eng.start()
    sid = fix.SessionID(begin, a.comp_id, "TAPE")
    for line in sys.stdin:
        cmd = json.loads(line)
        if "send" in cmd:
            body = "".join(f"{k}={v}\x01" for k, v in cmd["send"].items() if k != "35")
            ok = send_raw(compose(begin, cmd["send"]["35"], body), sid)
            say({"sent": ok})
        elif "quit" in cmd:
            break
    exit_now(0)
    del eng


if __name__ == "__main__":
    main()
