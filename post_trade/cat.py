"""FINRA CAT Industry Member order events for a day, and an independent check of them.

`write(rec, out)` turns the day's record into the CAT order events an agency broker
reports (CAT Reporting Technical Specifications for Industry Members; the field tables
are those gathered in the workspace's `../shared/specs/regulatory-notes.md`):

- MENO, a New Order, per client order the OMS accepted (`rec.orders`), stamped with
  the NewOrder frame's stream time; its order key is that time (orderKeyDate), the
  OMS OrderID and the symbol;
- MEOM, an Order Modified, per accepted amendment (a "replaced" report), restating the
  order's terms. The OMS keeps the OrderID across a replace, so the event carries the
  order's own key and, as the spec says for an unchanged orderID, no priorOrderID;
- MEOC, an Order Cancelled, per "canceled", "done_for_day" or "expired" report, with
  cancelQty = the leaves that went and initiator C (the client asked) or F (the firm:
  the close, a kill switch, a venue);
- MEOR, an Order Route, per child order sent (its first `ChildOrderSent`), linked to the
  parent's order key, with routedOrderID = the ClOrdID the venue got, and the
  destination, its type and FIX session from the ref data (`cat_routes`);
- MEMR, a Route Modified, per child replace sent: routedOrderID is the replace's new
  ClOrdID, priorRoutedOrderID the one it replaced;
- MECR, a Route Cancelled, per child cancel sent. The spec asks for the routedOrderID
  of the route being cancelled (the venue's order), so it is the cancel's OrigClOrdID;
  the cancel request's own ClOrdID is no CAT field.

Not reported: client orders the OMS rejected (never accepted, no OrderID in force);
MECO child orders (the algo's slices within the desk: "not required to be reported");
trades and fills (the exchanges report them; the firm reports no trade to a tape);
allocations (MEPA/MEAA belong to the clearing firm's flow). opg/cls orders are reported
as DAY orders (their auction instruction is not mapped to a handling instruction).

Files (§6.1): `<submitterID>_<IMID>_<YYYYMMDD>_OrderEvents_<nnnnnn>.json.bz2`, one JSON
object per line (keys in the spec's order, no spaces, ASCII), at most `MAX_RECORDS`
lines a file, empty optional fields left out, and `..._OrderEvents_000001.meta.json`
listing each data file with its record count and SHA-256, the total and whether the
day is complete (its journal ends with SystemStop). The events are in stream order and
numbered in that order (firmROEID `<YYYYMMDD>_<n>`), and bz2 runs at a fixed level, so
the same record gives the same bytes.

`check(day)` (`tape post-trade check-cat DAY`) reads the files back without any of the
writing code: the meta against the files (SHA-256, counts), each line's length and
required fields (`REQUIRED`), unique firmROEIDs and order keys, every route, amendment
and cancel linked to a New Order in the files, and the event counts against the
journal's own (read again with `read_day`).
"""

# determinism: edge module, offline tooling: writes a day's CAT files

from __future__ import annotations

import bz2
import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from post_trade.record import Child, DayRecord, Order, PostTradeError, Route, read_day
from post_trade.report import ReportResult, px_str, write_json

NAME = "cat"
MAX_RECORDS = 1_000_000  # lines per data file before the next one is started
MAX_LINE = 8_190  # bytes per JSON line (§6.1)
BZ2_LEVEL = 9
BZ2_CHUNK = 8 << 20  # bytes of JSON lines per bz2 stream of a file (see `_compress`)

_SIDES = {"buy": "B", "sell": "SL", "sell_short": "SS", "sell_short_exempt": "SX"}
_ORD_TYPES = {"limit": "LMT", "market": "MKT"}
# ExecInst -> CAT handling instruction (add liquidity only, pegged)
_HANDLING = {"participate_dont_initiate": "ALO", "mid_peg": "PEG", "primary_peg": "PEG"}
_CANCEL_TYPES = ("canceled", "done_for_day", "expired")
_ROUTE_TYPES = {"new": "MEOR", "replace": "MEMR", "cancel": "MECR"}

_COMMON = ("actionType", "firmROEID", "type", "orderKeyDate", "orderID", "symbol",
           "eventTimestamp", "manualFlag")
_TERMS = ("side", "quantity", "orderType", "timeInForce", "tradingSession")
#: Required fields per event type (v2.2.1 tables 9 and 11 and the cancel and modify
#: tables); conditional ones are checked by `_conditional`.
REQUIRED: dict[str, tuple[str, ...]] = {
    "MENO": (*_COMMON, "electronicDupFlag", "deptType", *_TERMS, "custDspIntrFlag",
             "firmDesignatedID", "accountHolderType", "affiliateFlag",
             "negotiatedTradeFlag", "representativeInd"),
    "MEOM": (*_COMMON, "electronicDupFlag", *_TERMS, "leavesQty", "custDspIntrFlag",
             "representativeInd", "initiator"),
    "MEOC": (*_COMMON, "cancelQty", "leavesQty", "initiator"),
    "MEOR": (*_COMMON, "electronicDupFlag", "destinationType", *_TERMS, "affiliateFlag",
             "isoInd", "dupROIDCond", "routeRejectedFlag"),
    "MEMR": (*_COMMON, "electronicDupFlag", "destinationType", *_TERMS, "affiliateFlag",
             "isoInd", "dupROIDCond", "routeRejectedFlag", "priorRoutedOrderID"),
    "MECR": (*_COMMON, "destinationType", "cancelQty", "leavesQty"),
}
_ROUTES = ("MEOR", "MEMR", "MECR")
_LINKED = ("MEOM", "MEOC", *_ROUTES)


def file_prefix(submitter: str, imid: str, ymd: str) -> str:
    return f"{submitter}_{imid}_{ymd}_OrderEvents"


# ---------------------------------------------------------------------------- writing

def _clean(ev: dict[str, Any]) -> dict[str, Any]:
    """Empty optional fields are left out (False and 0 are values, not empty)."""
    return {k: v for k, v in ev.items() if v is not None and v != ""}


_TIFS: dict[tuple[str, int], dict[str, Any]] = {}


def _tif(tif: str, ymd: int) -> dict[str, Any]:
    """CAT's timeInForce object (one shared, never changed, per value: events are many)."""
    v = _TIFS.get((tif, ymd))
    if v is None:
        v = _TIFS[(tif, ymd)] = ({"IOC": True} if tif in ("ioc", "fok") else
                                 {"GTC": ymd} if tif == "gtc" else {"DAY": ymd})
    return v


def _handling(exec_inst: tuple[str, ...]) -> str:
    if not exec_inst:
        return ""
    codes = [_HANDLING[e] for e in exec_inst if e in _HANDLING]
    return "|".join(dict.fromkeys(codes))  # in order, once each


def _key(o: Order) -> dict[str, Any]:
    return {"orderKeyDate": o.received_ts, "orderID": o.order_id, "symbol": o.symbol}


def _head(kind: str, o: Order, ts: int) -> dict[str, Any]:
    # firmROEID is set once the day's events are in stream order
    return {"actionType": "NEW", "firmROEID": "", "type": kind, **_key(o),
            "eventTimestamp": ts, "manualFlag": False}


def _order_terms(side: str, qty: int, ord_type: str, px: int, tif: str, ymd: int
                 ) -> dict[str, Any]:
    return {"side": _SIDES.get(side, side), "price": px_str(px) if ord_type == "limit"
            else None, "quantity": qty, "orderType": _ORD_TYPES.get(ord_type, ord_type),
            "timeInForce": _tif(tif, ymd), "tradingSession": "REG"}


def _order_events(rec: DayRecord, o: Order, ymd: int) -> list[tuple[int, dict[str, Any]]]:
    acct = rec.refs.account(o.client)
    out = [(o.received_seq, {
        **_head("MENO", o, o.received_ts), "electronicDupFlag": False,
        "deptType": rec.refs.firm.dept_type,
        **_order_terms(o.side, o.qty, o.ord_type, o.limit_px, o.tif, ymd),
        "handlingInstructions": _handling(o.exec_inst), "custDspIntrFlag": False,
        "firmDesignatedID": acct.firm_designated_id,
        "accountHolderType": acct.account_holder_type, "affiliateFlag": acct.affiliate,
        "negotiatedTradeFlag": False, "representativeInd": "N"})]
    asked = {r.cl_ord_id: r for r in o.requests if r.kind in ("replace", "cancel")}
    for r in o.reports:
        req = asked.get(r.cl_ord_id)
        if r.exec_type == "replaced":
            out.append((r.seq, {
                **_head("MEOM", o, r.ts_ns), "electronicDupFlag": False,
                **_order_terms(o.side, r.order_qty, o.ord_type, r.limit_px or o.limit_px,
                               o.tif, ymd),
                "leavesQty": r.leaves_qty, "handlingInstructions": _handling(o.exec_inst),
                "custDspIntrFlag": False, "representativeInd": "N",
                "requestTimestamp": req.ts_ns if req is not None else None,
                "initiator": "C" if req is not None else "F"}))
        elif r.exec_type in _CANCEL_TYPES:
            client = req is not None and req.kind == "cancel"
            out.append((r.seq, {
                **_head("MEOC", o, r.ts_ns), "cancelQty": r.order_qty - r.cum_qty,
                "leavesQty": r.leaves_qty,
                "requestTimestamp": req.ts_ns if client and req is not None else None,
                "initiator": "C" if client else "F"}))
    return out


def _filled_before(rec: DayRecord, c: Child, seq: int) -> int:
    """The child's executed shares before `seq` (fills less busts, corrections applied)."""
    cum, by_id = 0, dict[str, int]()
    for i in c.executions:
        e = rec.executions[i]
        if e.seq >= seq or e.repeat:
            continue
        if e.kind == "fill":
            cum += e.qty
        elif e.kind == "bust":
            cum -= e.qty
        else:
            cum += e.qty - by_id.get(e.ref_exec_id, 0)
        by_id[e.exec_id] = e.qty
    return cum


def _route_event(rec: DayRecord, o: Order, c: Child, r: Route, ymd: int) -> dict[str, Any]:
    kind = _ROUTE_TYPES[r.action]
    dest = rec.refs.route(c.destination)
    exchange = dest.destination_type == "E"
    firm = rec.refs.firm
    ev = _head(kind, o, r.ts_ns)
    if kind != "MECR":
        ev["electronicDupFlag"] = False
    ev |= {"senderIMID": f"{firm.crd}:{firm.imid}", "destination": dest.cat_destination,
           "destinationType": dest.destination_type,
           # MECR names the route it cancels: the venue's order is the OrigClOrdID's
           "routedOrderID": r.orig_cl_ord_id if kind == "MECR" else r.cl_ord_id,
           "priorRoutedOrderID": r.orig_cl_ord_id if kind == "MEMR" else None,
           "session": dest.session if exchange else None}
    if kind == "MECR":
        left = r.qty - _filled_before(rec, c, r.seq)
        return ev | {"cancelQty": max(left, 0), "leavesQty": 0}
    return ev | {
        **_order_terms(c.side, r.qty, r.ord_type, r.limit_px, r.tif, ymd),
        "handlingInstructions": _handling(c.exec_inst), "affiliateFlag": False,
        "isoInd": "N", "dupROIDCond": False,
        "routeRejectedFlag": kind == "MEOR" and bool(c.rejected_reason) and not c.acked_seq}


def events(rec: DayRecord) -> tuple[list[dict[str, Any]], list[str]]:
    """The day's CAT events in stream order, numbered, and what could not be reported."""
    ymd_s = rec.session_date.strftime("%Y%m%d")
    ymd = int(ymd_s)
    rank = {t: i for i, t in enumerate(("MENO", "MEOM", "MEOC", *_ROUTES))}
    found: list[tuple[int, int, str, dict[str, Any]]] = []
    problems: list[str] = []
    for o in rec.orders.values():
        for seq, ev in _order_events(rec, o, ymd):
            found.append((seq, rank[ev["type"]], o.order_id, ev))
    for c in rec.children.values():
        parent = rec.orders.get(c.parent_id)
        if parent is None:
            if c.routes:
                problems.append(f"child {c.child_id}: its parent {c.parent_id!r} is no "
                                f"accepted order of the journal; {len(c.routes)} route(s) "
                                f"not reported")
            continue
        for r in c.routes:
            ev = _route_event(rec, parent, c, r, ymd)
            found.append((r.seq, rank[ev["type"]], r.cl_ord_id, ev))
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    out = []
    for n, (_seq, _rank, _id, ev) in enumerate(found, 1):
        ev["firmROEID"] = f"{ymd_s}_{n:09d}"
        out.append(_clean(ev))
    return out, problems


_encode = msgspec.json.Encoder().encode  # compact, keys in insertion (the spec's) order


def _compress(data: bytes) -> bytes:
    """bz2 of `data`, compressed in `BZ2_CHUNK` pieces on all cores and concatenated: a
    multi-stream bz2 file (as pbzip2 writes; bzip2 and every reader take it whole). The
    pieces are cut at fixed offsets, so the bytes do not depend on the machine's cores."""
    pieces = [data[i:i + BZ2_CHUNK] for i in range(0, len(data), BZ2_CHUNK)] or [b""]
    if len(pieces) == 1:
        return bz2.compress(pieces[0], BZ2_LEVEL)
    # _bz2 lets go of the GIL while it compresses: threads are enough
    with ThreadPoolExecutor(max_workers=min(len(pieces), os.cpu_count() or 1)) as pool:
        return b"".join(pool.map(lambda b: bz2.compress(b, BZ2_LEVEL), pieces))


def write(rec: DayRecord, out: Path, *, max_records: int = MAX_RECORDS) -> ReportResult:
    """Write the day's CAT order event files and their meta file into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    firm = rec.refs.firm
    ymd = rec.session_date.strftime("%Y%m%d")
    prefix = file_prefix(firm.submitter_id, firm.imid, ymd)
    evs, problems = events(rec)
    lines = [_encode(ev) for ev in evs]
    problems += [f"{ev['firmROEID']} ({ev['type']}): line of {len(s)} bytes is over the "
                 f"{MAX_LINE} limit" for ev, s in zip(evs, lines, strict=True)
                 if len(s) > MAX_LINE]
    files: list[Path] = []
    listed = []
    chunks = [lines[i:i + max_records] for i in range(0, len(lines), max_records)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        path = out / f"{prefix}_{n:06d}.json.bz2"
        data = _compress(b"".join(s + b"\n" for s in chunk))
        path.write_bytes(data)
        files.append(path)
        listed.append({"fileName": path.name, "recordCount": len(chunk),
                       "sha256": hashlib.sha256(data).hexdigest()})
    meta = out / f"{prefix}_000001.meta.json"
    write_json(meta, {"submitterID": firm.submitter_id, "reporterIMID": firm.imid,
                      "eventDate": int(ymd), "dataFiles": listed,
                      "totalRecords": len(lines), "complete": rec.complete,
                      "journalLastSeq": rec.last_seq})
    counts = {t: 0 for t in REQUIRED}
    for ev in evs:
        counts[ev["type"]] += 1
    summary = {"events": counts, "files": [p.name for p in files], "records": len(lines),
               "complete": rec.complete, "problems": problems}
    text = (f"cat: {len(lines)} events ({', '.join(f'{t} {n}' for t, n in counts.items())})"
            f" in {len(files)} file(s){'' if rec.complete else ', day INCOMPLETE'}")
    return ReportResult(name=NAME, files=[*files, meta], summary=summary,
                        breaks=len(problems), lines=[text, *problems])


# ---------------------------------------------------------------------------- checking

@dataclass
class CheckResult:
    """What `check` found: `breaks` (readable lines; none = the files hold), the event
    counts in the files, and the journal's expected counts."""

    day: Path
    breaks: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    records: int = 0
    complete: bool = False

    @property
    def ok(self) -> bool:
        return not self.breaks


def _conditional(ev: dict[str, Any]) -> list[str]:
    """Conditional fields the event's own values make required."""
    need = []
    if ev.get("orderType") == "LMT" and ev.get("type") in ("MENO", "MEOM", "MEOR", "MEMR"):
        need.append("price")
    if ev.get("type") in _ROUTES and ev.get("destinationType") in ("E", "F"):
        need += ["senderIMID", "destination", "routedOrderID"]
        if ev.get("destinationType") == "E":
            need.append("session")
    return need


def _read_files(folder: Path, res: CheckResult) -> list[tuple[str, str]]:
    """(where, line) of every data file the meta lists, the meta checked."""
    metas = sorted(folder.glob("*_OrderEvents_*.meta.json")) if folder.is_dir() else []
    if not metas:
        res.breaks.append(f"{folder}: no CAT meta file (*_OrderEvents_*.meta.json); "
                          f"run `tape post-trade DAY` first")
        return []
    seen: set[str] = set()
    got: list[tuple[str, str]] = []
    for mp in metas:
        try:
            meta = json.loads(mp.read_text())
            entries = list(meta["dataFiles"])
        except (ValueError, KeyError, TypeError) as e:
            res.breaks.append(f"{mp.name}: not a readable meta file ({e})")
            continue
        res.complete = bool(meta.get("complete"))
        total = 0
        for f in entries:
            name = str(f.get("fileName", ""))
            seen.add(name)
            res.files.append(name)
            p = folder / name
            if not p.is_file():
                res.breaks.append(f"{mp.name}: data file {name} is missing")
                continue
            data = p.read_bytes()
            if hashlib.sha256(data).hexdigest() != f.get("sha256"):
                res.breaks.append(f"{name}: SHA-256 differs from the meta file's")
            try:
                text = bz2.decompress(data).decode("ascii")
            except (OSError, ValueError) as e:
                res.breaks.append(f"{name}: not bz2-compressed ASCII ({e})")
                continue
            lines = text.splitlines()
            if len(lines) != f.get("recordCount"):
                res.breaks.append(f"{name}: {len(lines)} records, the meta file says "
                                  f"{f.get('recordCount')}")
            total += len(lines)
            got += [(f"{name} line {n}", s) for n, s in enumerate(lines, 1)]
        if total != meta.get("totalRecords"):
            res.breaks.append(f"{mp.name}: {total} records in its files, totalRecords says "
                              f"{meta.get('totalRecords')}")
    for p in sorted(folder.glob("*_OrderEvents_*.json.bz2")):
        if p.name not in seen:
            res.breaks.append(f"{p.name}: a data file no meta file lists")
    return got


def _expected(day: Path, res: CheckResult) -> None:
    """The journal's own counts of what must be reported, counted from its messages."""
    try:
        rec = read_day(day)
    except (PostTradeError, OSError) as e:
        res.breaks.append(f"the journal cannot be read to count the events: {e}")
        return
    exp = dict.fromkeys(REQUIRED, 0)
    exp["MENO"] = len(rec.orders)
    for o in rec.orders.values():
        kinds = [r.exec_type for r in o.reports]
        exp["MEOM"] += kinds.count("replaced")
        exp["MEOC"] += sum(kinds.count(k) for k in _CANCEL_TYPES)
    sent = 0
    for c in rec.children.values():
        sent += len(c.routes)
        for r in c.routes:
            exp[_ROUTE_TYPES[r.action]] += 1
    # every ChildOrderSent frame of the journal is one route event
    frames = rec.type_counts.get("ChildOrderSent", 0)
    if frames != sent:
        res.breaks.append(f"journal: {frames} ChildOrderSent frames but {sent} routes "
                          f"in the record")
    res.expected = exp
    if res.files and res.complete != rec.complete:
        res.breaks.append(f"meta: complete={res.complete} but the journal "
                          f"{'ends' if rec.complete else 'does not end'} with SystemStop")
    for t, n in exp.items():
        if res.counts.get(t, 0) != n:
            res.breaks.append(f"{t}: {res.counts.get(t, 0)} events in the files, the "
                              f"journal has {n}")


def check(day: Path) -> CheckResult:
    """Check `DAY/post_trade/cat/` on its own (see the module docstring)."""
    day = Path(day)
    res = CheckResult(day=day)
    got = _read_files(day / "post_trade" / NAME, res)
    res.records = len(got)
    res.counts = dict.fromkeys(REQUIRED, 0)
    evs: list[dict[str, Any]] = []
    roeids: dict[str, str] = {}
    for where, s in got:
        if len(s.encode()) > MAX_LINE:
            res.breaks.append(f"{where}: {len(s.encode())} bytes, over the {MAX_LINE} limit")
        try:
            ev = json.loads(s)
        except ValueError:
            res.breaks.append(f"{where}: not JSON")
            continue
        if not isinstance(ev, dict) or ev.get("type") not in REQUIRED:
            kind = ev.get("type") if isinstance(ev, dict) else ev
            res.breaks.append(f"{where}: unknown event type {kind!r}")
            continue
        rid = str(ev.get("firmROEID", ""))
        who = f"{rid or where} ({ev['type']})"
        missing = [f for f in (*REQUIRED[ev["type"]], *_conditional(ev))
                   if ev.get(f) is None or ev.get(f) == ""]
        if missing:
            res.breaks.append(f"{who}: required field(s) missing: {', '.join(missing)}")
        if rid and rid in roeids:
            res.breaks.append(f"{who}: firmROEID already used at {roeids[rid]}")
        roeids.setdefault(rid, where)
        res.counts[ev["type"]] += 1
        evs.append(ev)
    keys: dict[tuple[Any, Any, Any], str] = {}
    for ev in evs:
        if ev["type"] == "MENO":
            k = (ev.get("orderKeyDate"), ev.get("orderID"), ev.get("symbol"))
            if k in keys:
                res.breaks.append(f"{ev.get('firmROEID')} (MENO): order key {k} is also "
                                  f"{keys[k]}'s")
            keys.setdefault(k, str(ev.get("firmROEID")))
    routed = {(ev.get("orderID"), ev.get("routedOrderID")) for ev in evs
              if ev["type"] in ("MEOR", "MEMR")}
    for ev in evs:
        t = ev["type"]
        k = (ev.get("orderKeyDate"), ev.get("orderID"), ev.get("symbol"))
        if t in _LINKED and k not in keys:
            res.breaks.append(f"{ev.get('firmROEID')} ({t}): order key {k} links to no "
                              f"New Order (MENO) in the files")
        prior = ev.get("priorRoutedOrderID") if t == "MEMR" else (
            ev.get("routedOrderID") if t == "MECR" else None)
        if prior and (ev.get("orderID"), prior) not in routed:
            res.breaks.append(f"{ev.get('firmROEID')} ({t}): route {prior!r} it modifies or "
                              f"cancels is no route (MEOR/MEMR) of order {ev.get('orderID')}")
    _expected(day, res)
    return res


__all__ = ["MAX_LINE", "MAX_RECORDS", "NAME", "REQUIRED", "CheckResult", "check", "events",
           "file_prefix", "write"]
