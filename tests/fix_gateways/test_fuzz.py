"""A bounded fuzz run at the client gateway (issue 6): over 10,000 malformed inputs
through real sockets, from two raw FIX clients at once (ALPHA on FIX 4.4, BETA on
FIX 4.2), with valid orders of known ClOrdIDs in between.

Every input's answer is checked against what FIX requires (`tests.fix_gateways.fuzz`
says what each must get): garbled input dropped uncounted, a session-level
Reject (35=3) with its reason, a BusinessMessageReject (35=j), an ExecutionReport
reject (35=8 150=8), a Logout where FIX logs the client out, a ResendRequest for
a gap. Then: the gateway, the sequencer and the OMS are still running, with no
traceback in their logs; a fresh valid order is still accepted; and what the
client gateway put on the stream is exactly the valid requests sent, each a
well-formed client request.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sequencer import sources
from sequencer.journal import read_all
from sequencer.messages import decode
from sequencer.messages.executions import ClientSessionStatus
from sequencer.messages.orders import CancelOrder, NewOrder, OrderStatusRequest, ReplaceOrder
from tests.conftest import Stack
from tests.fix_gateways.day import Day
from tests.fix_gateways.fuzz import Case, Pairs, Profile, generate
from tests.fix_gateways.fuzz_client import RawSession, frame

pytestmark = pytest.mark.slow

SEED = 20131008
PER_SESSION = 6_000  # fuzz inputs per session (valid orders come on top)
BURST = 150  # inputs sent between two TestRequest round trips
GATEWAY_SOURCE = sources.CLIENT_GATEWAY
PROFILES = (
    Profile("FIX.4.4", "ALPHA"),
    Profile("FIX.4.2", "BETA", pending_new=True, odd_lots=True, not_allowed="BAC"),
)
CLIENT = {"ALPHA": "ALPHA", "BETA": "BETA"}

# What each category must have produced at least once (every case is also checked
# one by one against its own expectation).
MUST_SEE: dict[str, set[str]] = {
    "garbage": {"none"}, "bad_checksum": {"none"}, "body_length": {"none"},
    "garbled_header": {"none"}, "missing_required": {"3:1"}, "empty_value": {"3:4"},
    "wrong_type": {"3:6"}, "bad_enum": {"3:5"}, "unknown_tag": {"3:0", "3:2"},
    "duplicate_tag": {"3:13", "3:'Tag appears more than once'"},
    "bad_msg_type": {"3:11", "3:1", "j:3", "3:14", "3:'Tag specified out of required order'"},
    "gateway_refusal": {"8:8"}, "bad_identifier": {"j:0"}, "oms_refusal": {"8:8"},
    "other_requests": {"9"}, "huge": {"none", "8:0"}, "session": {"3:9", "3:10"},
    "valid": {"8:0"},
}


def kind(m: dict[str, str]) -> str:
    t = m.get("35", "")
    if t == "3":
        return f"3:{m['373']}" if "373" in m else f"3:'{m.get('58', '')}'"
    if t == "j":
        return f"j:{m.get('380', '?')}"
    if t == "8":
        return f"8:{m.get('150', '?')}"
    return t


@dataclass
class Run:
    """One raw client session's fuzz run and what came back."""

    profile: Profile
    session: RawSession
    cases: list[Case]
    event_log: Path
    by_seq: dict[int, Case] = field(default_factory=dict)
    by_cl: dict[str, Case] = field(default_factory=dict)
    answers: dict[int, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    stray: list[dict[str, str]] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        for c in self.cases:
            if c.cl_ord_id and c.expect:
                self.by_cl[c.cl_ord_id] = c

    def attribute(self) -> None:
        """Each answer to the case it answers: a reject by RefSeqNum (45), an execution
        report or cancel reject by ClOrdID (11)."""
        self.answers.clear()
        self.stray.clear()
        for m in list(self.session.received):
            t = m.get("35")
            case = None
            if t in ("3", "j"):
                case = self.by_seq.get(int(m["45"])) if m.get("45", "").isdigit() else None
            elif t in ("8", "9"):
                case = self.by_cl.get(m.get("11", ""))
            if case is None:
                self.stray.append(m)
            else:
                self.answers[case.n].append(kind(m))

    def complete(self) -> bool:
        self.attribute()
        return all(len(self.answers[c.n]) >= len(c.expect) for c in self.cases if c.expect)

    def settle_wipe(self, lines_before: int) -> None:
        """Wait until QuickFIX has noted the message it could not frame (its parser drops
        its buffer then, so nothing may be sent meanwhile)."""
        deadline = time.monotonic() + 30
        while _lines(self.event_log) <= lines_before:
            if time.monotonic() > deadline:
                raise AssertionError(f"QuickFIX never noted the unframed message in "
                                     f"{self.event_log}")
            time.sleep(0.01)

    def run(self) -> None:
        s = self.session
        try:
            s.logon()
            since_sync = 0
            for c in self.cases:
                if c.isolated:
                    s.sync()
                    before = _lines(self.event_log)
                if c.effect == "before logon":
                    s.logout()
                    s.before_logon(c.build(s.next_out))
                    s.logon()
                    s.sync()
                    continue
                seq = s.send(c.build, c.counted, c.seq_offset)
                if c.counted:
                    self.by_seq[seq] = c
                if c.effect == "logout":
                    s.wait_down()
                    s.logon(garbage=b"\x00\xff noise before the Logon \x01\x01")
                elif c.effect == "wipe":
                    self.settle_wipe(before)
                since_sync += 1
                if c.isolated or since_sync >= BURST:
                    s.sync()
                    since_sync = 0
            s.sync()
        except BaseException as e:  # reported by the test's thread join
            self.error = e


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _valid_request(m: object) -> str | None:
    """Why a client request on the stream is not a valid one (None if it is)."""
    ids: list[str] = []
    if isinstance(m, NewOrder):
        if m.qty <= 0 or m.limit_px < 0:
            return f"qty {m.qty}, limit {m.limit_px}"
        ids = [m.cl_ord_id, m.symbol, m.algo, m.locate_broker,
               *(v for _, v in m.algo_params)]
    elif isinstance(m, CancelOrder | ReplaceOrder):
        ids = [m.cl_ord_id, m.orig_cl_ord_id, m.symbol]
    elif isinstance(m, OrderStatusRequest):
        ids = [m.cl_ord_id, m.symbol]
    else:
        return f"not a client request: {type(m).__name__}"
    for text in ids:
        if len(text) > 64 or not (text.isascii() and text.isprintable()):
            return f"text {text[:40]!r} ({len(text)} characters)"
    return None


def _fresh_order(s: RawSession, cl: str) -> None:
    """A valid order on the session, and its New (150=0)."""
    body: Pairs = [("11", cl), ("21", "1"), ("38", "100"), ("40", "2"), ("44", "170"),
                   ("54", "1"), ("55", "IBM"), ("59", "0"), ("60", "20131008-13:30:00.000"),
                   ("7000", "DMA"), ("7010", "ARCX")]

    def build(seq: int) -> bytes:
        return frame(s.begin, [*s.header("D", seq), *body])

    def accepted() -> bool:
        return any(m.get("11") == cl and m.get("150") == "0" for m in s.received)

    s.send(build, counted=True)
    s.wait_for(accepted, f"the New of {cl}")


def test_fuzz_the_client_gateway(stack: Stack, tmp_path: Path) -> None:
    d = Day(stack, tmp_path)
    d.start()
    log_dir = stack.day / "fix" / "client" / "log"
    runs = [Run(p, RawSession(d.ports[0], p.begin, p.sender), generate(p, SEED, PER_SESSION),
                log_dir / f"{p.begin}-TAPE-{p.sender}.event.current.log") for p in PROFILES]
    fuzz_inputs = sum(1 for r in runs for c in r.cases if c.category != "valid")
    assert fuzz_inputs >= 10_000

    threads = [threading.Thread(target=r.run, name=f"fuzz-{r.profile.sender}") for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
        assert not t.is_alive(), "a fuzz session hung"
    for r in runs:
        assert r.error is None, f"{r.profile.sender}: {r.error!r}"

    # Every answer that must come (the OMS answers through the stream) has come; a
    # missing one is reported case by case below.
    for r in runs:
        with contextlib.suppress(AssertionError):
            r.session.wait_for(r.complete, "every expected answer", timeout=60)
    time.sleep(0.5)  # anything extra would come now
    for r in runs:
        r.attribute()

    # The processes stand, and the gateway logged no failure.
    for p in stack.procs:
        assert p.alive(), p.describe()
    gw_out = []
    while not d.client_gw.messages.empty():
        gw_out.append(str(d.client_gw.messages.get_nowait()))
    for p in stack.procs:
        text = p.stderr_path.read_text(errors="replace")
        assert "Traceback" not in text, p.describe()
    failures = [line for line in gw_out if "Traceback" in line or "_failed" in line
                or "Error" in line]
    assert not failures, failures[:20]

    # Each case got exactly what FIX (and the gateway, and the OMS) must answer.
    seen: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    counts: collections.Counter[str] = collections.Counter()
    wrong = []
    for r in runs:
        assert not r.stray, f"{r.profile.sender}: answers to nothing sent: {r.stray[:5]}"
        assert not r.session.unexplained_resends, r.session.unexplained_resends
        for c in r.cases:
            got = r.answers.get(c.n, [])
            counts[c.category] += 1
            for k in got or ["none"]:
                seen[c.category][k] += 1
            if got != list(c.expect):
                wrong.append((r.profile.sender, c.category, c.variant, c.expect, got))
    grouped = collections.Counter((w[0], w[1], w[2], w[3], tuple(w[4])) for w in wrong)
    assert not wrong, f"{len(wrong)} answers not as FIX requires: " + "".join(
        f"\n  {n} x {w}" for w, n in sorted(grouped.items(), key=str)[:40])
    for cat, must in MUST_SEE.items():
        assert must <= set(seen[cat]), (cat, dict(seen[cat]))

    # The session-level faults did what FIX says: a Logout for each, a ResendRequest
    # for each gap, a connection that does not start with a Logon dropped (ours logged
    # out before each, with the acceptor's Logout), and every logon again accepted.
    for r in runs:
        logouts = sum(1 for c in r.cases if c.effect == "logout")
        resends = sum(1 for c in r.cases if c.effect == "resend")
        dropped = sum(1 for c in r.cases if c.effect == "before logon")
        tally = r.session.tally
        assert len(tally.logouts_received) == logouts + dropped, tally
        assert tally.resend_requests == resends, tally
        assert tally.logons == tally.logon_attempts == logouts + dropped + 1, tally
        assert tally.disconnects == logouts + 2 * dropped, tally
        assert r.session.up

    # After all that, a fresh valid order is accepted on each session.
    for r in runs:
        _fresh_order(r.session, f"{r.profile.sender}-AFTER")

    # The stream holds exactly the valid requests sent, each once and well formed.
    expected = {(CLIENT[r.profile.sender], c.cl_ord_id) for r in runs for c in r.cases
                if c.stream}
    expected |= {(CLIENT[r.profile.sender], f"{r.profile.sender}-AFTER") for r in runs}
    on_stream: list[tuple[str, str]] = []
    statuses = 0
    for f in read_all(stack.day / "journal"):
        if f.source_id != GATEWAY_SOURCE:
            continue
        m = decode(f.type_id, f.payload)
        if isinstance(m, ClientSessionStatus):
            statuses += 1
            continue
        why = _valid_request(m)
        assert why is None, f"an invalid request on the stream ({why}): {m!r}"[:500]
        assert isinstance(m, NewOrder | CancelOrder | ReplaceOrder | OrderStatusRequest)
        on_stream.append((m.client, m.cl_ord_id))
    assert len(on_stream) == len(set(on_stream)), "a request reached the stream twice"
    assert set(on_stream) == expected, (
        f"not sent: {sorted(set(on_stream) - expected)[:10]}, "
        f"missing: {sorted(expected - set(on_stream))[:10]}")
    assert statuses == 2 * sum(r.session.tally.logons for r in runs) - len(runs)

    print(f"\nfuzz inputs {fuzz_inputs}; valid requests on the stream {len(on_stream)}; "
          f"session statuses {statuses}")
    for r in runs:
        print(f"  {r.profile.sender}: {r.session.tally}")
    for cat in sorted(counts):
        print(f"  {cat:18} {counts[cat]:5}  {dict(seen[cat])}")
