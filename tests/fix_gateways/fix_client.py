"""A client's FIX session for the end-to-end tests, as a worker process.

`python -m tests.fix_gateways.fix_client --port P --comp-id ALPHA --version 4.4
--root DIR` logs on to the client gateway as an initiator (real QuickFIX), prints
`{"logon": ...}`, then reads JSON lines on stdin: `{"send": {"35": "D", "11": ...}}`
sends a message with those body fields (QuickFIX fills the header); every
application message received is printed as `{"got": {tag: value}}` (header
included: 34, 43 PossDupFlag, 97). It exits without tearing QuickFIX down (its
`stop()` can crash the process).

With `--tls-ca CA.pem` it talks TLS to the gateway, checking the gateway's
certificate against that CA (`--tls-cert` and `--tls-key` add a client
certificate): QuickFIX connects through a local `fix_gateways.tls.TlsRelay`.
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
from fix_gateways.tls import TlsRelay, client_context, free_loopback_port
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
    ap.add_argument("--tls-ca", type=Path)
    ap.add_argument("--tls-cert", type=Path)
    ap.add_argument("--tls-key", type=Path)
    a = ap.parse_args()
    begin = f"FIX.{a.version}"
    port = a.port
    if a.tls_ca is not None:
        # QuickFIX (the PyPI build) has no SSL: it connects in plain to a local relay
        # that opens the TLS connection to the gateway (fix_gateways.tls).
        port = free_loopback_port()
        relay = TlsRelay(("127.0.0.1", port), ("127.0.0.1", a.port), client_ctx=client_context(
            a.tls_ca, a.tls_cert, a.tls_key or a.tls_cert), name="client")
        relay.start()
    settings = write_settings(a.root / "client.cfg", settings_text(
        "initiator", a.root, begin, a.comp_id, "TAPE", port))
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
