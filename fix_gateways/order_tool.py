"""`tape gateway order`: one order over a client's FIX session, and its reports.

For ops and the demo: log on to the client gateway as one of the client
sessions of `fix.toml` (by CompID), send one NewOrderSingle (DMA to a venue,
or VWAP), print each execution report as it arrives, and stop when the order
is done (filled, canceled, rejected, expired) or after `--wait` seconds,
saying so when it stops waiting on an order that still works. A refusal
before the order reaches the OMS is shown too: a session-level Reject (35=3,
with the tag it names and its text) or a BusinessMessageReject (35=j).
The tool keeps no sequence numbers of its own: it logs on with
ResetSeqNumFlag (141=Y), so both sides start the session again at 1.

Exit 0 when the order was accepted (done or still working at the end), 1 when
it was rejected (by the OMS or at the session level) or not answered, 2 for
bad usage.
"""

# determinism: edge module, a FIX client tool (sockets, wall clock, QuickFIX threads)

from __future__ import annotations

import json
import queue
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from fix_gateways.fixmsg import Fields

# QuickFIX (through fixmsg and session) is imported where an order is sent, not here:
# `fix_gateways.cli` imports this module, and every `tape` process imports that.

_DONE = {"2": "filled", "4": "canceled", "8": "rejected", "C": "expired", "3": "done"}
_STATUS = {"0": "new", "1": "partially filled", "2": "filled", "4": "canceled", "5": "replaced",
           "6": "pending cancel", "8": "rejected", "A": "pending new", "C": "expired",
           "E": "pending replace", "3": "done for day"}


class _Client:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_logon(self, sid: Any) -> None:
        self.events.put(("logon", sid))

    def on_logout(self, sid: Any) -> None:
        self.events.put(("logout", sid))

    def on_message(self, msg: Any, sid: Any) -> None:
        from fix_gateways.fixmsg import read

        self.events.put(("message", read(msg)))

    def on_admin(self, msg: Any, sid: Any) -> None:
        """Session-level messages in (QuickFIX's fromAdmin): a Reject names what was
        wrong with our order before any application saw it."""
        from fix_gateways.fixmsg import read

        self.events.put(("message", read(msg)))


# FIX SessionRejectReason (373) and BusinessRejectReason (380), in words.
_SESSION_REASON = {
    "0": "invalid tag number", "1": "required tag missing",
    "2": "tag not defined for this message type", "3": "undefined tag",
    "4": "tag specified without a value", "5": "value is incorrect (out of range) for this tag",
    "6": "incorrect data format for value", "7": "decryption problem", "8": "signature problem",
    "9": "CompID problem", "10": "SendingTime accuracy problem", "11": "invalid MsgType",
    "13": "tag appears more than once", "14": "tag specified out of required order",
    "15": "repeating group fields out of order",
    "16": "incorrect NumInGroup count for repeating group", "99": "other",
}
_BUSINESS_REASON = {
    "0": "other", "1": "unknown ID", "2": "unknown security", "3": "unsupported message type",
    "4": "application not available", "5": "conditionally required field missing",
    "6": "not authorized", "7": "DeliverTo firm not available at this time",
}


def describe_reject(m: Fields) -> str:
    """A session-level Reject (35=3) or a BusinessMessageReject (35=j), in one line."""
    if m.get("35") == "3":
        what = ["rejected at the session level (Reject 35=3)"]
        if "371" in m:
            what.append(f"RefTagID {m['371']}")
        if "372" in m:
            what.append(f"RefMsgType {m['372']}")
        if "45" in m:
            what.append(f"RefSeqNum {m['45']}")
        if "373" in m:
            what.append(f"reason {m['373']} ({_SESSION_REASON.get(m['373'], 'unknown')})")
    else:
        what = ["rejected by the gateway (BusinessMessageReject 35=j)"]
        if "380" in m:
            what.append(f"reason {m['380']} ({_BUSINESS_REASON.get(m['380'], 'unknown')})")
        if "372" in m:
            what.append(f"RefMsgType {m['372']}")
    text = f": {m['58']}" if m.get("58") else ""
    return ", ".join(what) + text


def _is_our_reject(m: Fields, cl: str) -> bool:
    """A refusal of our order: we send one message of our own (the order), so a session
    Reject of a NewOrderSingle (or one naming no type) is its; a business reject names
    its ClOrdID (379) when it can."""
    if m.get("35") == "3":
        return m.get("372", "D") == "D"
    if m.get("35") == "j":
        return m.get("379", cl) == cl
    return False


def _client_session(config: Path | None, comp_id: str, *, drop_copy: bool,
                    err: Console) -> tuple[Any, Any]:
    """The client gateway's config and its session `comp_id` (an order session, or a
    drop-copy one); exit 2 saying what is wrong."""
    from fix_gateways.config import load_fix_config
    from sequencer.config import ConfigError

    try:
        cfg, _path = load_fix_config(config)
    except ConfigError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None
    gw = cfg.client_gateway
    s = next((x for x in gw.sessions if x.comp_id == comp_id and x.drop_copy == drop_copy),
             None)
    if s is None:
        kind = "drop-copy" if drop_copy else "order"
        err.print(f"[red]error:[/red] no {kind} session with CompID {comp_id!r} in the config")
        raise typer.Exit(2)
    return gw, s


def order_cmd(
    session: Annotated[str, typer.Option(help="The client session's CompID in fix.toml.")],
    symbol: Annotated[str, typer.Option(help="The symbol.")],
    side: Annotated[str, typer.Option(help="buy | sell | short")],
    qty: Annotated[int, typer.Option(help="Shares.")],
    price: Annotated[str | None, typer.Option(
        help="Limit price (a market order without it).")] = None,
    algo: Annotated[str, typer.Option(help="DMA | VWAP")] = "DMA",
    venue: Annotated[str | None, typer.Option(help="DMA's venue (MIC).")] = None,
    cl_ord_id: Annotated[str | None, typer.Option(
        help="The ClOrdID (default: from the clock).")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to follow the order.")] = 30.0,
    config: Annotated[Path | None, typer.Option(
        "--config", help="The gateways' TOML file (default: deploy/configs/fix.toml).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Each report as a JSON line.")] = False,
) -> None:
    """Send one order over a client's FIX session and print its execution reports."""
    from fix_gateways.config import BEGIN_STRING, data_dictionary

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    gw, s = _client_session(config, session, drop_copy=False, err=err)
    side_code = {"buy": "1", "sell": "2", "short": "5"}.get(side)
    if side_code is None or qty <= 0 or wait <= 0:
        err.print("[red]error:[/red] --side must be buy, sell or short; --qty and --wait "
                  "positive")
        raise typer.Exit(2)
    if algo.upper() == "DMA" and not venue:
        err.print("[red]error:[/red] a DMA order needs --venue")
        raise typer.Exit(2)
    begin = BEGIN_STRING[s.fix_version]
    root = Path(tempfile.mkdtemp(prefix=f"tape-order-{session}-"))
    client = _Client()
    from fix_gateways.session import Callbacks, exit_now, initiator, one_session, write_settings

    app = Callbacks(client, on_admin_in=client.on_admin)
    settings = write_settings(root / "order.cfg", one_session(
        "initiator", root, begin, s.comp_id, gw.sender_comp_id, s.port,
        data_dictionary(s.fix_version, gw.data_dictionary_dir), host=gw.host,
        ResetOnLogon="Y"))
    engine = initiator(app, settings)
    engine.start()
    rc = _follow(client, begin, s.fix_version, symbol, side_code, qty, price, algo, venue,
                 cl_ord_id or f"T{time.time_ns() // 1_000_000}", wait, json_, out, err)
    exit_now(rc)  # QuickFIX's engine is not torn down: see fix_gateways.session.logout_all
    del engine, app


def _follow(client: _Client, begin: str, version: str, symbol: str, side: str, qty: int,
            price: str | None, algo: str, venue: str | None, cl: str, wait: float,
            json_: bool, out: Console, err: Console,
            send: Callable[[str, Any], bool] | None = None) -> int:
    from fix_gateways.fixmsg import SOH, compose, fix_time
    from fix_gateways.session import send_raw

    send = send or send_raw
    deadline = time.monotonic() + wait
    sid: Any = None
    status = ""
    while time.monotonic() < deadline:
        try:
            kind, value = client.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if kind == "logon" and sid is None:
            sid = value
            body = (f"11={cl}{SOH}55={symbol}{SOH}54={side}{SOH}38={qty}{SOH}"
                    f"40={'2' if price else '1'}{SOH}"
                    + (f"44={price}{SOH}" if price else "")
                    + f"59=0{SOH}60={fix_time(time.time_ns())}{SOH}7000={algo.upper()}{SOH}"
                    + (f"7010={venue}{SOH}" if venue else "")
                    + (f"21=1{SOH}" if version == "4.2" else ""))
            send(compose(begin, "D", body), sid)
            err.print(f"logged on as {sid.toString()}; sent {cl}: {symbol} {qty} "
                      f"{price or 'market'} {algo} {venue or ''}")
        elif kind == "logout" and sid is not None:
            err.print("[yellow]the session logged out")
            break
        elif kind == "message" and sid is not None and _is_our_reject(value, cl):
            if json_:
                print(json.dumps(value), flush=True)  # whole lines: rich would wrap them
            err.print(f"[red]error:[/red] {escape(describe_reject(value))}")
            return 1
        elif kind == "message" and value.get("35") in ("8", "9") and value.get("11") == cl:
            status = value.get("39", "")
            if json_:
                print(json.dumps(value), flush=True)  # whole lines: rich would wrap them
            else:
                fill = (f", filled {value.get('32')} @ {value.get('31')}"
                        if value.get("32") not in (None, "0") else "")
                out.print(f"{_STATUS.get(status, status)}: cum {value.get('14')} of "
                          f"{value.get('38')}, avg {value.get('6')}{fill}"
                          + (f" ({value['58']})" if "58" in value else ""))
            if status in _DONE:
                break
    if sid is None:
        err.print("[red]error:[/red] could not log on to the client gateway")
        return 1
    if not status:
        err.print(f"[red]error:[/red] no execution report within the {wait:g} s wait")
        return 1
    if status not in _DONE:
        err.print(f"[yellow]stopped waiting after {wait:g} s: order {cl} still working "
                  f"(last status {_STATUS.get(status, status)})")
    return 1 if status == "8" else 0


def drop_copy_cmd(
    session: Annotated[str, typer.Option(
        help="The drop-copy session's CompID in fix.toml.")] = "CLEARING",
    wait: Annotated[float, typer.Option(
        help="Seconds to stay logged on (SIGTERM ends it sooner).")] = 60.0,
    config: Annotated[Path | None, typer.Option(
        "--config", help="The gateways' TOML file (default: deploy/configs/fix.toml).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Each copy as a JSON line.")] = False,
) -> None:
    """Log on to a drop-copy session (the clearing firm's side) and print every fill,
    trade cancel and trade correct it copies, until --wait runs out or SIGTERM. Exit 1 if
    it could not log on."""
    import signal

    from fix_gateways.config import BEGIN_STRING, data_dictionary

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    if wait <= 0:
        err.print("[red]error:[/red] --wait must be positive")
        raise typer.Exit(2)
    gw, s = _client_session(config, session, drop_copy=True, err=err)
    begin = BEGIN_STRING[s.fix_version]
    root = Path(tempfile.mkdtemp(prefix=f"tape-drop-copy-{session}-"))
    client = _Client()
    from fix_gateways.session import Callbacks, exit_now, initiator, one_session, write_settings

    # Not ResetOnLogon: a reconnect takes the copies it missed as resends.
    settings = write_settings(root / "drop.cfg", one_session(
        "initiator", root, begin, s.comp_id, gw.sender_comp_id, s.port,
        data_dictionary(s.fix_version, gw.data_dictionary_dir), host=gw.host))
    engine = initiator(Callbacks(client, on_admin_in=client.on_admin), settings)
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    engine.start()
    deadline = time.monotonic() + wait
    logged_on = False
    copies = 0
    while time.monotonic() < deadline and not stop[0]:
        try:
            kind, value = client.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if kind == "logon":
            logged_on = True
            err.print(f"logged on as {value.toString()}")
        elif kind == "logout" and logged_on:
            err.print("[yellow]the session logged out")
        elif kind == "message" and value.get("35") == "8":
            copies += 1
            if json_:
                print(json.dumps(value), flush=True)  # whole lines: rich would wrap them
            else:
                what = {"F": "fill", "H": "trade cancel", "G": "trade correct",
                        "1": "fill", "2": "fill"}.get(value.get("150", ""), "report")
                out.print(f"{what}: {value.get('1', '')} {value.get('55', '')} side "
                          f"{value.get('54', '')} {value.get('32', '')} @ {value.get('31', '')}"
                          f", ExecID {value.get('17', '')}, ClOrdID {value.get('11', '')}")
    err.print(f"{copies} copies received")
    exit_now(0 if logged_on else 1)
    del engine
