"""Fast FIX text in and out of QuickFIX: raw messages, prices, quantities and times.

Building a `quickfix.Message` field by field from Python costs about 30
microseconds for a 16-field ExecutionReport here with typed field objects
(`setField(quickfix.ClOrdID(...))`), 17 with `setField(tag, text)`; composing
the whole message as one string (5.3) and parsing it once with
`quickfix.Message(raw, False)` (2.5) costs about 8 (see `message`). The
composed text carries a placeholder header (8, 9, 35, 49, 56, 34, 52) and a
correct checksum, so it is a valid FIX message on its own (tests validate it
with QuickFIX's DataDictionary). `quickfix.Session.sendToTarget(msg, session_id)`
then overwrites BeginString, SenderCompID and TargetCompID from the session
id, MsgSeqNum and SendingTime from the session, and recomputes BodyLength and
CheckSum when it serialises (pinned by a loopback acceptor/initiator test).

Reading goes the other way: `read(msg)` turns an inbound `quickfix.Message`
(or its text) into a dict {"tag": value}. Repeating groups are not interpreted:
the first occurrence of a tag wins, so a group's later entries are ignored
without error; `parties` reads the one group we look at (NoPartyIDs, 453).

Prices on the stream are fixed point 1/10,000 (`PRICE_SCALE`); average prices
1/10^8 (`AVG_PX_SCALE`). Text forms carry no needless trailing zeros.

Code tables both gateways share (the stream carries words, FIX codes):
`RESTATEMENT_CODES` / `RESTATEMENT_WORDS` for ExecRestatementReason (378; 4.2
knows 0-5 only: `restatement_code` sends the others as 4, broker option) and
`EXEC_INST_CODES` / `EXEC_INST_WORDS` for the ExecInst (18) values we carry
(`fix_exec_inst`, `parse_exec_inst`).
"""

from __future__ import annotations

import calendar
import time
from typing import Any, Final

import quickfix

from sequencer.messages.executions import AVG_PX_SCALE, RestatementReason
from sequencer.messages.orders import ExecInst

SOH: Final = "\x01"
FIX42: Final = "FIX.4.2"
FIX44: Final = "FIX.4.4"
BEGIN_STRINGS: Final = (FIX42, FIX44)
PRICE_SCALE: Final = 10_000
PRICE_DECIMALS: Final = 4
AVG_PX_DECIMALS: Final = 8
# Placeholder header values: the QuickFIX session overwrites all of them on send.
PLACEHOLDER_SENDER: Final = "TAPE"
PLACEHOLDER_TARGET: Final = "PEER"
PLACEHOLDER_TIME: Final = "19700101-00:00:00.000"

Fields = dict[str, str]  # {tag: value}, tags as text ("35", "11", ...)

_PARTY_TAGS: Final = frozenset(("448", "447", "452", "802", "523", "803"))


# ---------------------------------------------------------------- code tables

# ExecRestatementReason (378): the stream's words -> the FIX 4.4 code, and back.
RESTATEMENT_CODES: Final[dict[RestatementReason, str]] = {
    "gt_corporate_action": "0", "gt_renewal": "1", "verbal_change": "2", "repricing": "3",
    "broker_option": "4", "partial_decline": "5", "trading_halt": "6",
    "system_failure": "7", "market_option": "8", "canceled_not_best": "9",
    "warehouse_recap": "10", "other": "99"}
RESTATEMENT_WORDS: Final[dict[str, RestatementReason]] = {
    code: word for word, code in RESTATEMENT_CODES.items()}
_RESTATEMENT_42: Final = frozenset(("0", "1", "2", "3", "4", "5"))

# ExecInst (18) values we carry: the stream's words -> the FIX code (4.2 and 4.4), and
# back. 6 participate don't initiate (post only), M mid-price peg, R primary peg.
EXEC_INST_CODES: Final[dict[ExecInst, str]] = {
    "participate_dont_initiate": "6", "mid_peg": "M", "primary_peg": "R"}
EXEC_INST_WORDS: Final[dict[str, ExecInst]] = {
    code: word for word, code in EXEC_INST_CODES.items()}


def restatement_code(reason: RestatementReason, begin_string: str = FIX44) -> str:
    """The 378 code of a restatement reason in words ("" for none). FIX 4.2 knows the
    codes 0-5 only: a later reason goes out as 4 (broker option)."""
    if not reason:
        return ""
    code = RESTATEMENT_CODES[reason]
    return "4" if begin_string == FIX42 and code not in _RESTATEMENT_42 else code


def fix_exec_inst(words: tuple[ExecInst, ...]) -> str:
    """ExecInst (18) text for the stream's words: the codes, space separated ("" for
    none)."""
    return " ".join(EXEC_INST_CODES[w] for w in words)


def parse_exec_inst(text: str) -> tuple[ExecInst, ...]:
    """ExecInst (18) text as the stream's words, in order, a repeat dropped; ValueError
    names the first value we do not carry."""
    out: list[ExecInst] = []
    for code in text.split(" "):
        if not code:
            continue
        word = EXEC_INST_WORDS.get(code)
        if word is None:
            raise ValueError(f"ExecInst (18) value {code!r} is not supported")
        if word not in out:
            out.append(word)
    return tuple(out)


# ---------------------------------------------------------------- numbers


def _fixed(value: int, decimals: int) -> str:
    if value < 0:
        raise ValueError(f"negative value {value}")
    scale: int = 10**decimals
    whole, frac = divmod(value, scale)
    if frac == 0:
        return str(whole)
    return f"{whole}.{frac:0{decimals}d}".rstrip("0")


def _parse_fixed(text: str, decimals: int, what: str) -> int:
    """`text` as a non-negative fixed-point integer with `decimals` decimals, exactly."""
    whole, _, frac = text.partition(".")
    if not (whole or frac) or not (whole.isascii() and frac.isascii()) or not (
            (whole.isdigit() or not whole) and (frac.isdigit() or not frac)):
        if text.startswith("-") and text[1:].replace(".", "", 1).isdigit():
            raise ValueError(f"{what} {text!r} is negative")
        raise ValueError(f"{what} {text!r} is not a number")
    if len(frac) > decimals:
        if frac[decimals:].strip("0"):
            raise ValueError(f"{what} {text!r} has more than {decimals} decimals")
        frac = frac[:decimals]
    scale: int = 10**decimals
    return int(whole or "0") * scale + (int(frac.ljust(decimals, "0")) if frac else 0)


def fix_price(px: int) -> str:
    """A fixed-point price (1/10,000) as FIX text: 481900 -> "48.19", 500000 -> "50"."""
    return _fixed(px, PRICE_DECIMALS)


def parse_price(text: str) -> int:
    """FIX price text as fixed point (1/10,000), exactly. Trailing zeros past the 4th
    decimal are accepted ("48.190000"); a non-zero 5th decimal, a sign, an exponent,
    spaces or anything else not digits and one dot raise ValueError."""
    return _parse_fixed(text, PRICE_DECIMALS, "price")


def round_price(text: str) -> int:
    """FIX price text rounded half to even to 1/10,000 (for a venue's fill price,
    which must be taken even when it has sub-tick decimals). ValueError on garbage."""
    frac = text.partition(".")[2]
    if len(frac) <= PRICE_DECIMALS:
        return parse_price(text)
    exact = _parse_fixed(text, len(frac), "price")
    unit: int = 10 ** (len(frac) - PRICE_DECIMALS)
    q, r = divmod(exact, unit)
    half = unit // 2
    return q + 1 if r > half or (r == half and q % 2) else q


def fix_avg_px(avg: int) -> str:
    """An average price (fixed point, `AVG_PX_SCALE`, 8 decimals) as FIX text."""
    return _fixed(avg, AVG_PX_DECIMALS)


def parse_avg_px(text: str) -> int:
    """FIX average price text as fixed point with 8 decimals (`AVG_PX_SCALE`)."""
    return _parse_fixed(text, AVG_PX_DECIMALS, "average price")


assert 10**AVG_PX_DECIMALS == AVG_PX_SCALE


def parse_qty(text: str) -> int:
    """A FIX quantity as whole shares (>= 0): "100" or "100.0"; ValueError for
    fractions, signs or garbage."""
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or not whole.isascii() or (frac and not (
            frac.isdigit() and frac.isascii())):
        raise ValueError(f"quantity {text!r} is not a whole number of shares")
    if frac.strip("0"):
        raise ValueError(f"quantity {text!r} is not a whole number of shares")
    return int(whole)


# ---------------------------------------------------------------- times

_last_sec = -1
_last_text = ""


def fix_time(ns: int) -> str:
    """A UTCTimestamp (YYYYMMDD-HH:MM:SS.sss, milliseconds, which both FIX 4.2 and
    4.4 accept) for stream time `ns` (nanoseconds since the Unix epoch, UTC)."""
    global _last_sec, _last_text  # noqa: PLW0603 - a one-entry cache of the second's text
    sec, sub = divmod(ns, 1_000_000_000)
    if sec != _last_sec:
        _last_text = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(sec))
        _last_sec = sec
    return f"{_last_text}.{sub // 1_000_000:03d}"


def parse_time(text: str) -> int:
    """A FIX UTCTimestamp (YYYYMMDD-HH:MM:SS with optional .s to .sssssssss) as
    nanoseconds since the Unix epoch. ValueError if it is not one."""
    base, dot, frac = text.partition(".")
    ok = (len(base) == 17 and base[8] == "-" and base[11] == ":" and base[14] == ":"
          and (base[:8] + base[9:11] + base[12:14] + base[15:]).isdigit() and base.isascii()
          and (not dot or (0 < len(frac) <= 9 and frac.isdigit() and frac.isascii())))
    if not ok:
        raise ValueError(f"{text!r} is not a UTC timestamp YYYYMMDD-HH:MM:SS[.sss]")
    y, mo, d = int(base[:4]), int(base[4:6]), int(base[6:8])
    h, mi, s = int(base[9:11]), int(base[12:14]), int(base[15:17])
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1]
            and h <= 23 and mi <= 59 and s <= 60):
        raise ValueError(f"{text!r} is not a valid UTC date and time")
    sec = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    return sec * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


# ---------------------------------------------------------------- text


def fix_text(text: str) -> str:
    """Free text made safe for a FIX String field (Text 58): printable ASCII only,
    anything else becomes '?' (an SOH inside would split the message)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in text)


# ---------------------------------------------------------------- composing


def compose(begin_string: str, msg_type: str, body: str,
            sender: str = PLACEHOLDER_SENDER, target: str = PLACEHOLDER_TARGET) -> str:
    """A complete FIX message: a header (BeginString, BodyLength, MsgType, placeholder
    SenderCompID, TargetCompID, MsgSeqNum 1 and SendingTime), `body` (tag=value
    fields each ending in SOH), and the CheckSum. Lengths count UTF-8 bytes."""
    rest = (f"35={msg_type}{SOH}49={sender}{SOH}56={target}{SOH}34=1{SOH}"
            f"52={PLACEHOLDER_TIME}{SOH}{body}")
    data = rest.encode()
    head = f"8={begin_string}{SOH}9={len(data)}{SOH}"
    total = sum(data) + sum(head.encode())
    return f"{head}{rest}10={total % 256:03d}{SOH}"


def message(raw: str) -> Any:
    """A `quickfix.Message` of the composed text, ready for `Session.sendToTarget`
    (which fills in the real header). Parsed without a data dictionary: our
    outbound messages carry no repeating groups."""
    return quickfix.Message(raw, False)


# ---------------------------------------------------------------- reading


def read(msg: Any) -> Fields:
    """The fields of a `quickfix.Message` (or of raw FIX text) as {"tag": value},
    header and trailer included. The first occurrence of a tag wins: repeating
    groups are not interpreted, and a malformed field (no '=', a tag that is not
    a number) is skipped rather than raising."""
    raw: str = msg if isinstance(msg, str) else msg.toString()
    out: Fields = {}
    for part in raw.split(SOH):
        tag, eq, value = part.partition("=")
        if eq and tag not in out and tag.isdigit():
            out[tag] = value
    return out


def parties(msg: Any) -> tuple[tuple[str, str, str], ...]:
    """The NoPartyIDs (453) group as (PartyID 448, PartyIDSource 447, PartyRole 452)
    triples, in order; () when there is none. Tolerant of missing members."""
    raw: str = msg if isinstance(msg, str) else msg.toString()
    out: list[list[str]] = []
    inside = False
    for part in raw.split(SOH):
        tag, _, value = part.partition("=")
        if tag == "453":
            inside = True
            continue
        if not inside:
            continue
        if tag not in _PARTY_TAGS:
            break
        if tag == "448":
            out.append([value, "", ""])
        elif out and tag == "447":
            out[-1][1] = value
        elif out and tag == "452":
            out[-1][2] = value
    return tuple((a, b, c) for a, b, c in out)
