"""A seeded generator of malformed (and some valid) FIX input for the client gateway.

`generate(profile, seed, n)` gives `n` fuzz cases for one client session, the same
ones for the same seed. Each `Case` builds its bytes from the MsgSeqNum the
session gives it, and says what FIX (QuickFIX's acceptor, then the gateway, then
the OMS) must answer:

- `counted`: the acceptor counts the message (a garbled one, with a bad CheckSum
  or BodyLength, or a header it cannot read, is dropped uncounted, as FIX says);
- `expect`: the answers, each `"<MsgType>:<reason>"`: `"3:<373>"` a session-level
  Reject with its SessionRejectReason, `"j:<380>"` a BusinessMessageReject,
  `"8:8"` an ExecutionReport reject, `"8:0"` an accepted order's New, `"9"` an
  OrderCancelReject; () for nothing at all;
- `stream`: it becomes a client request on the stream (the OMS answers it);
  nothing else may reach the stream;
- `effect`: what happens to the session: `"logout"` (the acceptor logs the
  client out: a CompID or SendingTime problem, a MsgSeqNum too low, a wrong
  BeginString), `"resend"` (a MsgSeqNum too high: the acceptor asks for the gap,
  which the client fills), `"wipe"` (a BodyLength that is not a number makes
  QuickFIX's parser discard its whole buffer, so nothing may follow it in the
  same read), `"before logon"` (sent on a new connection instead of a Logon: the
  acceptor drops the connection), or "" (the session goes on).

Categories: garbage bytes, bad checksums, wrong BodyLengths, garbled headers,
missing required tags, empty values, wrong types and enum values, unknown and
misplaced tags, duplicate tags, bad MsgTypes, out-of-range values the gateway
refuses, orders the OMS refuses, text the stream cannot carry, huge messages,
session-level faults (CompIDs, SendingTime, MsgSeqNum, BeginString), and valid
orders with known ClOrdIDs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fix_gateways.fuzz_client import frame, utc_now

Pairs = list[tuple[str, str | bytes]]
TRANSACT = "20131008-13:30:00.000"


@dataclass(frozen=True)
class Profile:
    """One client session: its FIX version, CompIDs and what its OMS client may do."""

    begin: str
    sender: str
    target: str = "TAPE"
    pending_new: bool = False  # the OMS reports PendingNew (150=A) before New
    odd_lots: bool = False
    symbols: tuple[str, ...] = ("IBM", "AIG", "SPY")
    not_allowed: str = ""  # a listed symbol the client may not trade

    @property
    def v44(self) -> bool:
        return self.begin == "FIX.4.4"


@dataclass(frozen=True)
class Case:
    n: int
    category: str
    variant: str
    build: Callable[[int], bytes]  # MsgSeqNum -> the bytes on the wire
    counted: bool
    expect: tuple[str, ...]
    cl_ord_id: str = ""
    stream: bool = False
    effect: str = ""
    seq_offset: int = 0  # MsgSeqNum = the session's next + this

    @property
    def isolated(self) -> bool:
        return bool(self.effect)


# A limit price below the market (buys) for each symbol we trade, on the tick.
_PX = {"IBM": "170", "AIG": "45", "SPY": "160", "BAC": "13"}
# ExecutionReport's tags (with values right for them), defined but not for a D
_DEFINED_NOT_IN_D = {"6": "1", "14": "1", "31": "1", "32": "1", "37": "O1", "39": "0",
                     "150": "0", "151": "1"}
_UNDEFINED_TAGS = (1999, 2500, 3333, 4000, 4321, 4999)  # in neither dictionary, below 5000


@dataclass
class _Gen:
    p: Profile
    rng: random.Random
    prefix: str
    cases: list[Case] = field(default_factory=list)

    # ------------------------------------------------------------ building blocks

    def cl(self) -> str:
        return f"{self.prefix}{len(self.cases)}"

    def header(self, msg_type: str, seq: int, **over: str | None) -> Pairs:
        h: dict[str, str | None] = {"35": msg_type, "49": self.p.sender, "56": self.p.target,
                                    "34": str(seq), "52": utc_now()}
        h.update(over)
        return [(k, v) for k, v in h.items() if v is not None]

    def order(self, cl: str, **over: str | bytes | None) -> Pairs:
        """A valid NewOrderSingle body (a DMA limit buy below the market), with fields
        replaced or (None) removed."""
        sym = self.rng.choice(self.p.symbols)
        f: dict[str, str | bytes | None] = {
            "11": cl, "21": "1", "38": str(self.rng.choice((100, 200, 500, 1000))),
            "40": "2", "44": _PX[sym], "54": "1", "55": sym, "59": "0", "60": TRANSACT,
            "7000": "DMA", "7010": "ARCX"}
        if "55" in over and "44" not in over and isinstance(over["55"], str):
            f["44"] = _PX.get(over["55"], f["44"])
        f.update(over)
        return [(k, v) for k, v in f.items() if v is not None]

    def add(self, category: str, variant: str, build: Callable[[int], bytes], *,
            counted: bool, expect: tuple[str, ...] = (), cl: str = "", stream: bool = False,
            effect: str = "", seq_offset: int = 0) -> None:
        self.cases.append(Case(len(self.cases), category, variant, build, counted, expect,
                               cl, stream, effect, seq_offset))

    def msg(self, category: str, variant: str, msg_type: str, body: Pairs, expect: tuple[str, ...],
            *, cl: str = "", stream: bool = False, hdr: dict[str, str | None] | None = None
            ) -> None:
        """A counted message: the header for the MsgSeqNum (with `hdr` replacing or
        removing fields), then `body`."""
        begin = self.p.begin
        h = hdr or {}

        def build(seq: int) -> bytes:
            return frame(begin, self.header(msg_type, seq, **h) + body)

        self.add(category, variant, build, counted=True, expect=expect, cl=cl, stream=stream)

    def new_order(self, category: str, variant: str, expect: tuple[str, ...],
                  over: dict[str, str | bytes | None] | None = None, *, stream: bool = False,
                  extra: Pairs | None = None, cl: str = "") -> None:
        """A NewOrderSingle: `order` with the fields `over` replaces, then `extra`; its
        answers are found by `cl` (the ClOrdID sent, unless `over` replaces it)."""
        cl = cl or self.cl()
        body = self.order(cl, **(over or {})) + (extra or [])
        self.msg(category, variant, "D", body, expect, cl=cl, stream=stream)

    def reject(self, reason: int) -> str:
        """A session-level Reject's kind: FIX 4.2 has SessionRejectReason only up to 11,
        and QuickFIX says the others in Text (58) alone."""
        if self.p.v44 or reason <= 11:
            return f"3:{reason}"
        return "3:'" + {13: "Tag appears more than once",
                        14: "Tag specified out of required order"}[reason] + "'"

    @property
    def accepted(self) -> tuple[str, ...]:
        return ("8:A", "8:0") if self.p.pending_new else ("8:0",)

    # ------------------------------------------------------------ categories

    def valid(self) -> None:
        if self.rng.random() < 0.2:
            self.new_order("valid", "sell", self.accepted, {"54": "2", "55": "IBM", "44": "200"},
                           stream=True)
        else:
            self.new_order("valid", "buy", self.accepted, stream=True)

    def garbage(self) -> None:
        rng = self.rng
        kind = rng.choice(("binary", "soup", "text", "nul", "long"))
        if kind == "binary":
            data = rng.randbytes(rng.randint(1, 600))
        elif kind == "soup":  # tag=value fields without a BeginString to start them
            data = b"".join(f"{rng.randint(0, 9999)}={rng.randint(0, 10**6)}\x01".encode()
                            for _ in range(rng.randint(1, 40)))
        elif kind == "text":
            data = "".join(rng.choice("ABCXYZ0123456789|=.-: \x01")
                           for _ in range(rng.randint(1, 400))).encode()
        elif kind == "nul":
            data = b"\x00" * rng.randint(1, 64) + b"\xff\xfe" * rng.randint(1, 64)
        else:
            data = rng.randbytes(rng.randint(20_000, 70_000))
        data = _no_begin(data)
        self.add("garbage", kind, lambda seq: data, counted=False)

    def bad_checksum(self) -> None:
        rng = self.rng
        body = self.order(self.cl())
        how = rng.choice(("off", "off", "text", "unpadded", "empty", "4 digits"))
        begin = self.p.begin
        # Not a number at all, or a wrong number written with 3 digits, without the
        # leading zeros, or with one more.
        text = {"text": "ABC", "empty": ""}.get(how)
        delta = rng.randint(1, 255)
        fmt = {"unpadded": "{:d}", "4 digits": "0{:03d}"}.get(how, "{:03d}")

        def build(seq: int) -> bytes:
            return frame(begin, self.header("D", seq) + body, checksum_delta=delta,
                         checksum_format=fmt, checksum_text=text)

        self.add("bad_checksum", how, build, counted=False)

    def body_length(self) -> None:
        rng = self.rng
        body = self.order(self.cl())
        begin = self.p.begin
        if rng.random() < 0.5:
            k = rng.randint(1, 120)

            def short(seq: int) -> bytes:
                return frame(begin, self.header("D", seq) + body, length_delta=-k)

            self.add("body_length", "short", short, counted=False)
        else:
            # The parser reads BodyLength bytes, then up to the next "<SOH>10=": filler
            # and a trailer of their own keep the next message out of the garbled one.
            k = rng.choice((1, 3, 7, 8, 50, 500, 5000))

            def long(seq: int) -> bytes:
                return (frame(begin, self.header("D", seq) + body, length_delta=k)
                        + b"X" * k + b"\x0110=000\x01")

            self.add("body_length", "long", long, counted=False)

    def body_length_text(self) -> None:
        body = self.order(self.cl())
        begin = self.p.begin
        text = self.rng.choice(("abc", "-5", "1e3", ""))

        def build(seq: int) -> bytes:
            return frame(begin, self.header("D", seq) + body, length_text=text)

        self.add("body_length", f"not a number {text!r}", build, counted=False, effect="wipe")

    def garbled_header(self) -> None:
        rng = self.rng
        body = self.order(self.cl())
        begin = self.p.begin
        how = rng.choice(("35 not third", "no 35", "no 34", "34 not a number", "bad tag",
                          "no equals"))

        if how == "no equals":  # a field without "=": "590" for "59=0"
            body = [("", "590") if t == "59" else (t, v) for t, v in body]

        def build(seq: int) -> bytes:
            h = self.header("D", seq)
            if how == "35 not third":
                h = [h[1], h[0], *h[2:]]
            elif how == "no 35":
                h = h[1:]
            elif how == "no 34":
                h = [x for x in h if x[0] != "34"]
            elif how == "34 not a number":
                h = [(t, "x7" if t == "34" else v) for t, v in h]
            data = frame(begin, h + body)
            if how == "bad tag":  # a tag that is not a number, CheckSum made right again
                data = _refit(data.replace(b"\x0154=", b"\x01S4="))
            return data

        self.add("garbled_header", how, build, counted=False)

    def missing_required(self) -> None:
        p = self.p
        choices = ["11", "54", "60", "40", "52", "55", "38", "21"]
        tag = self.rng.choice(choices)
        cl = self.cl()
        if tag == "52":
            self.msg("missing_required", "52", "D", self.order(cl), ("3:1",), hdr={"52": None})
            return
        if tag == "55":
            expect = ("j:5",) if p.v44 else ("3:1",)
        elif tag == "38":
            expect = ("8:8",)  # not required by either dictionary: the gateway needs it
        elif tag == "21":
            if p.v44:  # optional in 4.4: a valid order without it
                self.new_order("missing_required", "21 (optional in 4.4)", self.accepted,
                               {"21": None}, stream=True, cl=cl)
                return
            expect = ("3:1",)
        else:
            expect = ("3:1",)
        self.new_order("missing_required", tag, expect, {tag: None}, cl=cl)

    def empty_value(self) -> None:
        tag = self.rng.choice(("11", "38", "44", "54", "55", "59", "60", "40", "7000", "7010"))
        self.new_order("empty_value", tag, ("3:4",), {tag: ""})

    def wrong_type(self) -> None:
        rng = self.rng
        tag, value = rng.choice((
            ("38", "abc"), ("38", "1O0"), ("38", "12a"), ("38", "--5"),
            ("44", "ten"), ("44", "1.2.3"), ("44", "17O.5"), ("44", "1,5"),
            ("60", "2013-10-08 13:30:00"), ("60", "yesterday"), ("60", "20131008"),
            ("60", "20131008-25:00:00"), ("60", "20131008-13:61:00"), ("60", "20131308-13:30:00"),
            ("52", "soon"), ("21", "x")))
        if tag == "52":
            self.msg("wrong_type", f"{tag}={value}", "D", self.order(self.cl()), ("3:6",),
                     hdr={"52": value})
            return
        expect = ("3:5",) if tag == "21" else ("3:6",)
        self.new_order("wrong_type", f"{tag}={value}", expect, {tag: value})

    def bad_enum(self) -> None:
        tag, value = self.rng.choice((("54", "Z"), ("54", "0"), ("54", "11"), ("40", "Z"),
                                      ("40", "0"), ("59", "Z"), ("59", "9"), ("21", "9"),
                                      ("21", "0")))
        # A Side of two characters is not even a char: a wrong type, not a wrong value.
        expect = ("3:6",) if len(value) > 1 and tag == "54" else ("3:5",)
        self.new_order("bad_enum", f"{tag}={value}", expect, {tag: value})

    def unknown_tag(self) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            tag = str(rng.choice(_UNDEFINED_TAGS))
            self.new_order("unknown_tag", f"undefined {tag}", ("3:0",), extra=[(tag, "1")])
        else:
            tag = rng.choice(list(_DEFINED_NOT_IN_D))
            self.new_order("unknown_tag", f"not in D {tag}", ("3:2",),
                           extra=[(tag, _DEFINED_NOT_IN_D[tag])])

    def duplicate_tag(self) -> None:
        tag = self.rng.choice(("11", "38", "44", "54", "55", "40"))
        cl = self.cl()
        body = self.order(cl)
        value = {"11": cl + "b", "38": "300", "44": "171", "54": "2", "55": "IBM", "40": "1"}[tag]
        if self.rng.random() < 0.5:
            body = [*body, (tag, value)]  # at the end
        else:  # right after the first
            i = next(i for i, (t, _) in enumerate(body) if t == tag)
            body = [*body[:i + 1], (tag, value), *body[i + 1:]]
        self.msg("duplicate_tag", tag, "D", body, (self.reject(13),), cl=cl)

    def bad_msg_type(self) -> None:
        rng = self.rng
        p = self.p
        how = rng.choice(("unknown", "unknown", "ExecutionReport", "DontKnowTrade",
                          "header tag in body"))
        cl = self.cl()
        if how == "unknown":
            t = rng.choice(("ZZ", "Y7", "*", "DD", "zz"))
            self.msg("bad_msg_type", f"35={t}", t, self.order(cl), ("3:11",))
        elif how == "ExecutionReport":  # a type we send, not take: its required tags first
            self.msg("bad_msg_type", "35=8", "8", self.order(cl), ("3:1",))
        elif how == "DontKnowTrade":  # a well-formed type the gateway does not support
            body: Pairs = [("17", "E1"), ("37", "O1"), ("54", "1"), ("55", "IBM"),
                           ("127", "A")]
            if p.v44:
                body.append(("38", "100"))
            self.msg("bad_msg_type", "35=Q", "Q", sorted(body, key=lambda x: int(x[0])),
                     ("j:3",))
        else:
            body = self.order(cl)
            body = [*body[:3], ("56", p.target), *body[3:]]
            self.msg("bad_msg_type", "header tag in body", "D", body, (self.reject(14),))

    def gateway_refusal(self) -> None:
        """Well-formed by the dictionary, refused by the gateway with an ER reject."""
        rng = self.rng
        p = self.p
        big = "9" * rng.randint(20, 60)
        opts: list[tuple[str, dict[str, str | bytes | None]]] = [
            ("qty negative", {"38": "-100"}), ("qty zero", {"38": "0"}),
            ("qty fraction", {"38": "100.5"}), ("qty beyond int64", {"38": big}),
            ("qty beyond int64 with decimals", {"38": big + ".000"}),
            ("price negative", {"44": "-170"}), ("price 5 decimals", {"44": "170.00001"}),
            ("price beyond int64", {"44": big}),
            ("stop order", {"40": "3"}), ("stop limit", {"40": "4"}),
            ("good till date", {"59": "6"}), ("good till crossing", {"59": "5"}),
            ("Feb 31", {"60": "20130231-13:30:00"}),
            ("year 9999", {"60": "99991231-23:59:59"}), ("year 1", {"60": "00010101-00:00:00"}),
            ("algo not ascii", {"7000": "VW\u00c4P"}), ("algo bytes", {"7000": b"DM\xffA"}),
            ("algo huge", {"7000": "D" * rng.randint(1000, 5000)}),
            ("param bytes", {"7010": b"AR\x00CX"}), ("param huge", {"7010": "A" * 100_000}),
            ("locate bytes", {"54": "5", "5700": b"\xfe\xff"}),
        ]
        opts.append(("cross side", {"54": "8"}) if p.v44 else ("sell plus", {"54": "4"}))
        if p.v44:
            opts.append(("TargetStrategy 2", {"7000": None, "847": "2"}))
        variant, over = rng.choice(opts)
        self.new_order("gateway_refusal", variant, ("8:8",), over)

    def bad_identifier(self) -> None:
        """A ClOrdID or Symbol the stream cannot carry (bytes that are not text, control
        characters, or far too long): a business reject, since an ER reject must echo them."""
        rng = self.rng
        tag = rng.choice(("11", "55"))
        value: str | bytes = rng.choice((
            b"C\xff\xfe", b"\xc3(", "A\x00B", "tab\there", "bell\x07", "\u00e9t\u00e9",
            "Z" * rng.randint(65, 400), "Y" * rng.randint(1000, 9000)))
        cl = self.cl()
        shown = value[:12] if isinstance(value, bytes) else value[:12].encode()
        self.new_order("bad_identifier", f"{tag}={shown!r} ({len(value)})", ("j:0",),
                       {tag: value}, cl=cl)

    def oms_refusal(self) -> None:
        """Valid requests the OMS refuses: they reach the stream, the OMS answers 8:8."""
        rng = self.rng
        p = self.p
        opts: list[tuple[str, dict[str, str | bytes | None]]] = [
            ("unknown symbol", {"55": "ZZZZ", "44": "10"}),
            ("qty above limits", {"38": "9000000"}),
            ("price zero", {"44": "0"}), ("off tick", {"44": "170.001"}),
            ("unknown algo", {"7000": "FOO"}), ("unknown venue", {"7010": "XXXX"}),
            ("market with a price", {"40": "1"}),
            ("VWAP at 500%", {"7000": "VWAP", "7010": None, "7003": "500"}),
            ("VWAP ending at 25:00", {"7000": "VWAP", "7010": None, "7002": "25:00"}),
            ("far through the market", {"44": "900", "55": "IBM"}),
            ("qty beyond int64 is fine below it", {"38": str(2**63 - 1)}),
        ]
        if p.not_allowed:
            opts.append(("symbol not allowed", {"55": p.not_allowed}))
        if not p.odd_lots:
            opts.append(("odd lot", {"38": "150"}))
        variant, over = rng.choice(opts)
        self.new_order("oms_refusal", variant, ("8:8",), over, stream=True)

    def other_requests(self) -> None:
        """Cancel, replace and status requests for orders nobody sent: valid requests
        (the OMS answers them); and with a required tag missing (a session reject)."""
        rng = self.rng
        cl = self.cl()
        how = rng.choice(("cancel", "replace", "status", "cancel without 41"))
        sym = rng.choice(self.p.symbols)
        base: Pairs = [("11", cl), ("41", "NOSUCH" + cl), ("54", "1"), ("55", sym),
                       ("60", TRANSACT)]
        if self.p.v44:
            base.append(("38", "100"))
        if how == "cancel":
            self.msg("other_requests", how, "F", base, ("9",), cl=cl, stream=True)
        elif how == "cancel without 41":
            self.msg("other_requests", how, "F", [x for x in base if x[0] != "41"], ("3:1",),
                     cl=cl)
        elif how == "replace":
            body = [*base, ("21", "1"), ("40", "2"), ("44", "171")]
            if not self.p.v44:
                body.append(("38", "100"))
            self.msg("other_requests", how, "G", body, ("9",), cl=cl, stream=True)
        else:
            self.msg("other_requests", how, "H", [("11", cl), ("54", "1"), ("55", sym)],
                     ("8:I",) if self.p.v44 else ("8:8",), cl=cl, stream=True)

    def huge(self) -> None:
        """Messages of 100 KB and more."""
        rng = self.rng
        size = rng.randint(100_000, 300_000)
        how = rng.choice(("text", "text", "garbage", "bad checksum", "ClOrdID", "parameter"))
        if how == "text":  # Text (58) is not carried: a valid order
            self.new_order("huge", f"Text of {size}", self.accepted, stream=True,
                           extra=[("58", "t" * size)])
        elif how == "ClOrdID":  # beyond what the stream takes in one message, too
            size = rng.randint(1_100_000, 1_300_000)
            self.new_order("huge", f"ClOrdID of {size}", ("j:0",), {"11": "C" * size})
        elif how == "parameter":
            self.new_order("huge", f"Venue (7010) of {size}", ("8:8",), {"7010": "V" * size})
        elif how == "garbage":
            data = _no_begin(rng.randbytes(size))
            self.add("huge", f"garbage of {size}", lambda seq: data, counted=False)
        else:
            body = [*self.order(self.cl()), ("58", "t" * size)]
            begin = self.p.begin

            def build(seq: int) -> bytes:
                return frame(begin, self.header("D", seq) + body, checksum_delta=1)

            self.add("huge", f"bad CheckSum, {size}", build, counted=False)

    def session(self) -> None:
        """Faults the acceptor answers at the session level."""
        rng = self.rng
        p = self.p
        how = rng.choice(("sender", "target", "sending time", "seq too low", "begin string",
                          "seq too high", "possdup too low", "order before logon",
                          "garbage before logon"))
        cl = self.cl()
        body = self.order(cl)
        begin = p.begin
        if how in ("sender", "target", "sending time"):
            over = {"sender": {"49": "EVIL"}, "target": {"56": "NOTTAPE"},
                    "sending time": {"52": "20000101-00:00:00"}}[how]
            reason = "3:10" if how == "sending time" else "3:9"

            def build(seq: int) -> bytes:
                return frame(begin, self.header("D", seq, **over) + body)

            self.add("session", how, build, counted=True, expect=(reason,), effect="logout")
        elif how == "order before logon":  # on a new connection: dropped, not counted
            self.add("session", how, lambda seq: frame(begin, self.header("D", seq) + body),
                     counted=False, effect="before logon")
        elif how == "garbage before logon":
            data = _no_begin(rng.randbytes(rng.randint(1, 300)))
            self.add("session", how, lambda seq: data, counted=False, effect="before logon")
        elif how == "seq too low":
            self.add("session", how, lambda seq: frame(begin, self.header("D", seq) + body),
                     counted=False, effect="logout", seq_offset=-rng.randint(1, 3))
        elif how == "begin string":
            other = "FIX.4.2" if p.v44 else "FIX.4.4"
            self.add("session", how, lambda seq: frame(other, self.header("D", seq) + body),
                     counted=True, effect="logout")
        elif how == "seq too high":  # processed once the client has filled the gap
            self.add("session", how, lambda seq: frame(begin, self.header("D", seq) + body),
                     counted=True, expect=self.accepted, cl=cl, stream=True, effect="resend",
                     seq_offset=rng.randint(1, 4))
        else:  # a possible duplicate of a message the acceptor has: ignored

            def dup(seq: int) -> bytes:
                now = utc_now()  # OrigSendingTime must not be after SendingTime
                return frame(begin, [*self.header("D", seq, **{"52": now}), ("43", "Y"),
                                     ("122", now), *body])

            self.add("session", how, dup, counted=False, seq_offset=-rng.randint(1, 3))


def _no_begin(data: bytes) -> bytes:
    """Garbage that cannot start a message: QuickFIX's parser skips to "8="."""
    while b"8=" in data:
        data = data.replace(b"8=", b"8-")
    return data


def _refit(data: bytes) -> bytes:
    """The CheckSum made right again after an edit that keeps the length."""
    i = data.rindex(b"\x0110=") + 1
    return data[:i] + f"10={sum(data[:i]) % 256:03d}\x01".encode()


# Category -> (weight, generator). Weights are of the fuzz inputs, not of the valid
# orders, which are interleaved separately.
_CATEGORIES: dict[str, tuple[int, Callable[[_Gen], None]]] = {
    "garbage": (10, _Gen.garbage),
    "bad_checksum": (10, _Gen.bad_checksum),
    "body_length": (10, _Gen.body_length),
    "garbled_header": (6, _Gen.garbled_header),
    "missing_required": (8, _Gen.missing_required),
    "empty_value": (5, _Gen.empty_value),
    "wrong_type": (8, _Gen.wrong_type),
    "bad_enum": (5, _Gen.bad_enum),
    "unknown_tag": (5, _Gen.unknown_tag),
    "duplicate_tag": (5, _Gen.duplicate_tag),
    "bad_msg_type": (4, _Gen.bad_msg_type),
    "gateway_refusal": (8, _Gen.gateway_refusal),
    "bad_identifier": (4, _Gen.bad_identifier),
    "oms_refusal": (3, _Gen.oms_refusal),
    "other_requests": (2, _Gen.other_requests),
}


def generate(profile: Profile, seed: int, n: int, *, valid_every: int = 40,
             huge: int = 12, session_faults: int = 24, length_texts: int = 4) -> list[Case]:
    """`n` fuzz cases for one session, with a valid order after about every
    `valid_every`, `huge` messages of 100 KB or more, `session_faults` session-level
    faults and `length_texts` BodyLengths that are not numbers, spread through."""
    rng = random.Random(f"{seed}-{profile.begin}-{profile.sender}")
    g = _Gen(profile, rng, f"{profile.sender[0]}{seed}-")
    names = list(_CATEGORIES)
    weights = [_CATEGORIES[c][0] for c in names]
    specials = ([_Gen.huge] * huge + [_Gen.session] * session_faults
                + [_Gen.body_length_text] * length_texts)
    at = sorted(rng.sample(range(n), len(specials)))
    rng.shuffle(specials)
    special_at = dict(zip(at, specials, strict=True))
    fuzz = 0
    while fuzz < n:
        if rng.randrange(valid_every) == 0:
            g.valid()
            continue
        special = special_at.get(fuzz)
        if special is not None:
            special(g)
        else:
            _CATEGORIES[rng.choices(names, weights)[0]][1](g)
        fuzz += 1
    return g.cases
