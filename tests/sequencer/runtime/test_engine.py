"""The app engine in-process: dispatch, timers, context, seeded random, snapshots, the
output checker. Frames are built with `encode_frame`, messages with `encode`; no Aeron.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import sources
from sequencer.frames import encode_frame, stamp
from sequencer.messages import TYPE_ID, Message, decode, encode
from sequencer.messages.admin import OperatorNote, TakeSnapshot
from sequencer.messages.control import Alert, ClockTick, Echo, Heartbeat, Probe, SystemStart
from sequencer.runtime import App, AppEngine, DeterminismError, Output, handles
from sequencer.runtime.context import app_seed
from sequencer.runtime.engine import OutputChecker
from sequencer.runtime.samples import SECOND, CounterApp

SEED = 424_242
T0 = 1_700_000_000_000_000_000
MS = 1_000_000
CLOCK, OPS, FEED = sources.SEQUENCER, sources.INJECT, sources.adhoc(5)


class Stream:
    """Builds a day's frames the way the sequencer would: seq from 1, time never back."""

    def __init__(self, seed: int = SEED, t0: int = T0) -> None:
        self.frames: list[bytes] = []
        self.seq = 0
        self.ts = t0
        self.source_seqs: dict[int, int] = defaultdict(int)
        self.add(SystemStart(session_date=dt.date(2026, 3, 2), seed=seed, config_digest="t"))

    def add(self, msg: Message, src: int = sources.SEQUENCER, dt_ns: int = 0,
            cause: int = 0) -> int:
        self.seq += 1
        self.ts += dt_ns
        self.source_seqs[src] += 1
        self.frames.append(encode_frame(
            self.seq, self.ts, src, TYPE_ID[type(msg)], self.source_seqs[src], encode(msg),
            cause_seq=cause, recv_ns=self.ts + 5, sent_ns=self.ts - 7))
        return self.seq

    def record(self, out: Output, dt_ns: int = 0) -> int:
        """Sequence an app's output (as the sequencer would, with fresh telemetry)."""
        self.seq += 1
        self.ts += dt_ns
        self.source_seqs[out.source_id] = out.source_seq
        self.frames.append(stamp(out.record(self.ts - 3), self.seq, self.ts, self.ts + 1))
        return self.seq


def note(text: str) -> OperatorNote:
    return OperatorNote(author="t", text=text)


# ---------------------------------------------------------------- dispatch


class Recorder(App):
    """Handles two types; records what it gets, and its context at the time."""

    name = "recorder"
    source_id = sources.adhoc(42)

    def __init__(self) -> None:
        self.seen: list[tuple[Message, int, int, int]] = []

    @handles(OperatorNote, Probe)
    def on_msg(self, msg: Message) -> None:
        self.seen.append((msg, self.ctx.seq, self.ctx.now, self.ctx.frame_source_id))


def test_dispatch_by_table_gives_exactly_the_handled_types_decoded() -> None:
    assert Recorder.handler_names == {TYPE_ID[OperatorNote]: "on_msg", TYPE_ID[Probe]: "on_msg"}
    s = Stream()
    sent = [
        (s.add(note("a"), OPS, MS), note("a")),
        (s.add(ClockTick(), CLOCK, MS), None),
        (s.add(Probe(n=7, data=b"\x00\x01"), sources.adhoc(3), MS), Probe(n=7, data=b"\x00\x01")),
        (s.add(Echo(text="x", n=1, roll=2), sources.adhoc(11), MS), None),
        (s.add(Heartbeat(app="other", n=1, frames=0), sources.adhoc(12), MS), None),
        (s.add(TakeSnapshot(target="*"), OPS, MS), None),
        (s.add(Alert(severity="info", source="x", text="y"), CLOCK, MS), None),
        (s.add(Probe(n=8), sources.adhoc(4), MS), Probe(n=8)),
    ]
    eng = AppEngine(Recorder())
    eng.feed(s.frames)
    app = eng.app
    assert isinstance(app, Recorder)
    want = [(m, seq, T0 + (seq - 1) * MS) for seq, m in sent if m is not None]
    assert [(m, seq, now) for m, seq, now, _ in app.seen] == want
    assert [type(m) for m, *_ in app.seen] == [OperatorNote, Probe, Probe]
    assert [src for *_, src in app.seen] == [sources.INJECT, sources.adhoc(3), sources.adhoc(4)]
    assert eng.frames == len(s.frames)


class Echoer(App):
    """Answers notes with an Echo and also handles Echo: only others' echoes may reach it."""

    name = "echoer"
    source_id = sources.adhoc(42)

    def __init__(self) -> None:
        self.echoes: list[Echo] = []

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        self.ctx.publish(Echo(text=msg.text, n=0, roll=0))

    @handles(Echo)
    def on_echo(self, msg: Echo) -> None:
        self.echoes.append(msg)


def test_the_app_never_gets_its_own_outputs() -> None:
    produced: list[Output] = []
    live = AppEngine(Echoer(), produced.append)
    s = Stream()
    live.handle(s.frames[0])
    live.handle(s.frames[s.add(note("hi"), OPS, MS) - 1])
    assert len(produced) == 1
    own = s.record(produced[0], MS)  # the app's Echo comes back sequenced
    live.handle(s.frames[own - 1])
    other = Echo(text="from elsewhere", n=3, roll=4)
    live.handle(s.frames[s.add(other, sources.adhoc(43), MS) - 1])
    app = live.app
    assert isinstance(app, Echoer)
    assert app.echoes == [other]
    assert live.checker.matched == 1
    assert live.checker.pending == {}


# ---------------------------------------------------------------- timers


class Timers(App):
    """Sets a plan of timers on SystemStart; logs timers and handled frames in order."""

    name = "timers"
    source_id = sources.adhoc(43)

    def __init__(self, plan: list[tuple[int, Any]], cancel: tuple[Any, ...] = ()) -> None:
        self.plan = plan
        self.cancel = cancel
        self.ids: dict[Any, int] = {}
        self.events: list[tuple[str, Any, int, int]] = []
        self.cancel_results: list[bool] = []

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        for offset, token in self.plan:
            self.ids[token] = self.ctx.set_timer(self.ctx.now + offset, token)

    @handles(Probe)
    def on_probe(self, msg: Probe) -> None:
        self.events.append(("probe", msg.n, self.ctx.seq, self.ctx.now))
        if msg.n == -1:  # the cancel request
            for token in self.cancel:
                self.cancel_results.append(self.ctx.cancel_timer(self.ids[token]))
            for token in self.cancel:  # a second cancel of the same timer does nothing
                self.cancel_results.append(self.ctx.cancel_timer(self.ids[token]))

    def on_timer(self, token: Any) -> None:
        self.events.append(("timer", token, self.ctx.seq, self.ctx.now))


def test_timers_fire_at_their_deadline_before_the_frame_in_deadline_then_creation_order() -> None:
    plan = [(300, "late-a"), (100, "zeta"), (100, "alpha"), (300, "late-b"), (1000, 7),
            (1000, None), (5000, "never")]
    s = Stream()
    s.add(Probe(n=1), FEED, 50)  # t0+50: nothing due
    s.add(Probe(n=2), FEED, 50)  # t0+100: zeta, alpha (creation order), then the probe
    s.add(ClockTick(), CLOCK, 250)  # t0+350: a tick fires late-a, late-b (no handler for ticks)
    s.add(Probe(n=3), FEED, 10)  # t0+360: nothing
    s.add(Probe(n=4), FEED, 2000)  # t0+2360: 7 and None, then the probe
    eng = AppEngine(Timers(plan))
    eng.feed(s.frames)
    app = eng.app
    assert isinstance(app, Timers)
    assert app.events == [
        ("probe", 1, 2, T0 + 50),
        ("timer", "zeta", 3, T0 + 100),
        ("timer", "alpha", 3, T0 + 100),
        ("probe", 2, 3, T0 + 100),
        ("timer", "late-a", 4, T0 + 350),
        ("timer", "late-b", 4, T0 + 350),
        ("probe", 3, 5, T0 + 360),
        ("timer", 7, 6, T0 + 2360),
        ("timer", None, 6, T0 + 2360),
        ("probe", 4, 6, T0 + 2360),
    ]
    assert [tok for _at, _id, tok in eng.ctx.pending_timers] == ["never"]


def test_cancel_timer() -> None:
    plan = [(100, "kept"), (100, "dropped"), (10, "first-dropped"), (200, "later")]
    s = Stream()
    s.add(Probe(n=-1), FEED, 5)  # cancels 'dropped' and 'first-dropped' (the earliest deadline)
    s.add(Probe(n=1), FEED, 10)  # t0+15: 'first-dropped' would have fired here
    s.add(ClockTick(), CLOCK, 500)  # t0+515
    eng = AppEngine(Timers(plan, cancel=("dropped", "first-dropped")))
    eng.feed(s.frames)
    app = eng.app
    assert isinstance(app, Timers)
    assert app.cancel_results == [True, True, False, False]
    fired = [e[1] for e in app.events if e[0] == "timer"]
    assert fired == ["kept", "later"]
    assert eng.ctx.cancel_timer(app.ids["kept"]) is False  # already fired
    assert eng.ctx.cancel_timer(9999) is False  # never existed
    assert eng.ctx.pending_timers == []


@settings(max_examples=30, deadline=None)
@given(offsets=st.lists(st.integers(0, 10_000), min_size=1, max_size=400),
       step=st.integers(1, 700))
def test_any_number_of_timers_each_fire_once_in_order(offsets: list[int], step: int) -> None:
    plan = [(off, i) for i, off in enumerate(offsets)]
    s = Stream()
    while s.ts < T0 + 10_000:
        s.add(ClockTick(), CLOCK, step)
    eng = AppEngine(Timers(plan))
    eng.feed(s.frames)
    app = eng.app
    assert isinstance(app, Timers)
    fired = [(tok, now) for kind, tok, _seq, now in app.events if kind == "timer"]
    order = sorted(range(len(offsets)), key=lambda i: (offsets[i], i))
    assert [tok for tok, _ in fired] == order
    ticks = [T0 + k * step for k in range(1, len(s.frames))]
    for tok, now in fired:
        # fired at the first frame (after the SystemStart that set it) whose time reaches
        # the deadline
        assert now == next(t for t in ticks if t >= T0 + offsets[tok])
    assert eng.ctx.pending_timers == []


# ---------------------------------------------------------------- context


class Publisher(App):
    """Publishes an Echo per note and a Heartbeat from a timer; records the context."""

    name = "publisher"
    source_id = sources.adhoc(44)

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, int]] = []

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        self.ctx.set_timer(self.ctx.now + 1000, "beat")

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        self.seen.append(("note", self.ctx.seq, self.ctx.now))
        first = self.ctx.publish(Echo(text=msg.text, n=1, roll=0))
        second = self.ctx.publish(Echo(text=msg.text, n=2, roll=0))
        assert second == first + 1

    def on_timer(self, token: Any) -> None:
        self.seen.append(("timer", self.ctx.seq, self.ctx.now))
        self.ctx.publish(Heartbeat(app=self.name, n=1, frames=0))


@pytest.mark.parametrize("source_override", [None, sources.adhoc(77)])
def test_publish_stamps_source_increasing_source_seq_and_cause(
        source_override: int | None) -> None:
    outs: list[Output] = []
    eng = AppEngine(Publisher(), outs.append, source_id=source_override)
    s = Stream()
    a = s.add(note("a"), OPS, 10)
    s.add(Probe(n=1), FEED, 10)
    tick = s.add(ClockTick(), CLOCK, 2000)  # the timer fires while this frame is being handled
    b = s.add(note("b"), OPS, 10)
    eng.feed(s.frames)
    app = eng.app
    assert isinstance(app, Publisher)
    assert app.seen == [("note", a, T0 + 10), ("timer", tick, T0 + 2020),
                        ("note", b, T0 + 2030)]
    src = sources.adhoc(44) if source_override is None else source_override
    assert [(o.source_id, o.source_seq, o.cause_seq) for o in outs] == [
        (src, 1, a), (src, 2, a), (src, 3, tick), (src, 4, b), (src, 5, b)]
    assert [decode(o.type_id, o.payload) for o in outs] == [
        Echo(text="a", n=1, roll=0), Echo(text="a", n=2, roll=0),
        Heartbeat(app="publisher", n=1, frames=0),
        Echo(text="b", n=1, roll=0), Echo(text="b", n=2, roll=0)]
    assert eng.ctx.out_seq == 5 and eng.outputs == 5


class Roller(App):
    name = "roller"
    source_id = sources.adhoc(45)

    def __init__(self) -> None:
        self.draws: list[int] = []

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        self.draws += [self.ctx.random.randrange(10**9) for _ in range(3)]


class OtherRoller(Roller):
    name = "roller-2"


def _draws(app: Roller, seed: int = SEED) -> list[int]:
    s = Stream(seed=seed)
    for i in range(4):
        s.add(note(str(i)), OPS, 10)
    AppEngine(app).feed(s.frames)
    return app.draws


def test_random_is_seeded_from_system_start_and_the_app_name() -> None:
    first = _draws(Roller())
    assert _draws(Roller()) == first  # two engines, same stream: same draws
    assert len(set(first)) > 1
    rng = random.Random(app_seed(SEED, "roller"))
    assert first == [rng.randrange(10**9) for _ in range(12)]
    assert _draws(OtherRoller()) != first  # another app's name: other draws
    assert _draws(Roller(), seed=SEED + 1) != first  # another day's seed: other draws


# ---------------------------------------------------------------- snapshots


def _build_day(events: list[tuple[str, int, int, bool]]) -> list[bytes]:
    """A journal as a live CounterApp would leave it: inputs, and the app's outputs recorded
    some frames later (so a cut can fall while outputs are pending)."""
    s = Stream()
    waiting: list[Output] = []
    live = AppEngine(CounterApp(), waiting.append)
    live.feed(s.frames)
    for i, (kind, dt_ns, n, flush) in enumerate(events):
        if kind == "probe":
            s.add(Probe(n=n), 1 + n % 3, dt_ns)
        elif kind == "note":
            s.add(note(f"note {i}"), OPS, dt_ns)
        else:
            s.add(ClockTick(), CLOCK, dt_ns)
        live.handle(s.frames[-1])
        if flush:
            while waiting:
                s.record(waiting.pop(0))
                live.handle(s.frames[-1])
    while waiting:
        s.record(waiting.pop(0))
        live.handle(s.frames[-1])
    assert live.checker.matched == live.outputs
    return s.frames


EVENTS = st.lists(
    st.tuples(st.sampled_from(["probe", "note", "tick"]), st.integers(0, 700 * MS),
              st.integers(0, 1000), st.booleans()),
    min_size=1, max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS, data=st.data())
def test_snapshot_restore_then_tail_equals_a_replay_from_the_start(
        events: list[tuple[str, int, int, bool]], data: st.DataObject) -> None:
    frames = _build_day(events)
    cut = data.draw(st.integers(1, len(frames)), label="cut")
    whole = AppEngine(CounterApp())
    whole.feed(frames[:cut])
    at_cut = (whole.state_hash(), whole.ctx.pending_timers, sorted(whole.checker.pending))
    whole.feed(frames[cut:])

    before = AppEngine(CounterApp())
    before.feed(frames[:cut])
    snap = before.snapshot()
    after = AppEngine(CounterApp())
    after.restore(snap)
    assert (after.state_hash(), after.ctx.pending_timers, sorted(after.checker.pending)) == (
        at_cut)
    assert after.ctx.seq == cut
    after.feed(frames[cut:])  # raises DeterminismError if a pending output were lost
    assert after.state_hash() == whole.state_hash()
    assert after.app.describe() == whole.app.describe()
    assert after.ctx.pending_timers == whole.ctx.pending_timers
    assert after.checker.pending == {} == whole.checker.pending
    assert after.ctx.out_seq == whole.ctx.out_seq


def test_snapshot_carries_pending_timers_and_outputs() -> None:
    """Directed: a cut between an output and its recording, with the heartbeat pending."""
    s = Stream()
    outs: list[Output] = []
    live = AppEngine(CounterApp(), outs.append)
    s.add(note("hello"), OPS, MS)
    live.feed(s.frames)
    assert len(outs) == 1 and live.checker.pending.keys() == {1}
    restored = AppEngine(CounterApp())
    restored.restore(live.snapshot())
    assert restored.ctx.pending_timers == [(T0 + SECOND, 1, "heartbeat")]
    assert list(restored.checker.pending) == [1]
    assert restored.checker.pending[1].comparable() == outs[0].comparable()
    tail_start = len(s.frames)
    s.record(outs[0], MS)
    s.add(ClockTick(), CLOCK, SECOND)  # the heartbeat fires here
    live.feed(s.frames[tail_start:])
    restored.feed(s.frames[tail_start:])
    assert restored.checker.matched == 1
    assert restored.state_hash() == live.state_hash()
    app = restored.app
    assert isinstance(app, CounterApp) and app.state.heartbeats == 1


class SnapCounter(App):
    """Counts the TakeSnapshot frames it sees (its own handler for the runtime's type)."""

    name = "snapcounter"
    source_id = sources.adhoc(46)

    def __init__(self) -> None:
        self.n = 0

    @handles(TakeSnapshot)
    def on_take_snapshot(self, msg: TakeSnapshot) -> None:
        self.n += 1

    def snapshot(self) -> bytes:
        return msgspec.msgpack.encode(self.n)

    def restore(self, data: bytes) -> None:
        self.n = msgspec.msgpack.decode(data)


def test_snapshot_on_take_snapshot_is_the_state_after_that_frame() -> None:
    s = Stream()
    s.add(Probe(n=1), FEED, 10)
    snap_seq = s.add(TakeSnapshot(target="snapcounter"), OPS, 10)
    s.add(TakeSnapshot(target="*"), OPS, 10)
    taken: list[tuple[int, bytes]] = []
    eng = AppEngine(SnapCounter(), on_snapshot_request=lambda e: taken.append(
        (e.ctx.seq, e.snapshot())))
    eng.feed(s.frames)
    assert [seq for seq, _ in taken] == [snap_seq, snap_seq + 1]
    resumed = AppEngine(SnapCounter())
    resumed.restore(taken[0][1])
    resumed.feed(s.frames[snap_seq:])
    assert resumed.state_hash() == eng.state_hash()
    app = resumed.app
    assert isinstance(app, SnapCounter) and app.n == 2


def test_restore_refuses_another_apps_snapshot() -> None:
    eng = AppEngine(CounterApp())
    eng.feed(Stream().frames)
    with pytest.raises(ValueError, match="not a snapshot of app 'publisher'"):
        AppEngine(Publisher()).restore(eng.snapshot())


# ---------------------------------------------------------------- output checker


def _echo_out(roll: int, sseq: int = 1, cause: int = 5) -> Output:
    out = Output(10, sseq, TYPE_ID[Echo], cause, encode(Echo(text="x", n=1, roll=roll)))
    out.proc_ns = 1234
    return out


def _recorded(out: Output, seq: int) -> bytes:
    """The frame the sequencer would journal for `out` (other telemetry than produced)."""
    return stamp(out.record(sent_ns=999_999), seq, T0 + seq, T0 + seq + 17)


def test_checker_matches_identical_outputs_despite_telemetry() -> None:
    chk = OutputChecker("counter")
    produced = _echo_out(7)
    chk.produced(produced)
    recorded = _echo_out(7)
    recorded.proc_ns = 99
    chk.recorded(_recorded(recorded, 9), 9)
    assert chk.matched == 1 and chk.pending == {} and chk.mismatches == []


@pytest.mark.parametrize("change", ["payload", "cause"])
def test_checker_reports_a_different_output(change: str) -> None:
    chk = OutputChecker("counter")
    chk.produced(_echo_out(7))
    other = _echo_out(8) if change == "payload" else _echo_out(7, cause=6)
    with pytest.raises(DeterminismError) as exc:
        chk.recorded(_recorded(other, 9), 9)
    e = exc.value
    assert (e.app, e.seq, e.source_seq) == ("counter", 9, 1)
    text = e.describe()
    assert "stream seq 9" in text and "different output" in text
    rec_line = next(ln for ln in text.splitlines() if "recorded:" in ln)
    prod_line = next(ln for ln in text.splitlines() if "produced:" in ln)
    want_rec = "'roll': 8" if change == "payload" else "cause_seq 6"
    assert want_rec in rec_line and "'type': 'Echo'" in rec_line, text
    assert "'roll': 7" in prod_line and "cause_seq 5" in prod_line, text


def test_checker_reports_an_output_recorded_but_not_produced() -> None:
    chk = OutputChecker("counter")
    with pytest.raises(DeterminismError) as exc:
        chk.recorded(_recorded(_echo_out(3, sseq=1), 12), 12)
    text = exc.value.describe()
    assert exc.value.seq == 12 and "stream seq 12" in text
    assert "did not produce" in text
    assert "'roll': 3" in next(ln for ln in text.splitlines() if "recorded:" in ln)
    assert "(nothing)" in next(ln for ln in text.splitlines() if "produced:" in ln)


def test_checker_collects_mismatches_when_told_not_to_raise() -> None:
    chk = OutputChecker("counter")
    chk.raise_on_mismatch = False
    chk.produced(_echo_out(1, sseq=1))
    chk.produced(_echo_out(2, sseq=2))
    chk.recorded(_recorded(_echo_out(1, sseq=1), 9), 9)
    chk.recorded(_recorded(_echo_out(5, sseq=2), 10), 10)
    assert chk.matched == 1 and [e.seq for e in chk.mismatches] == [10]


def test_engine_raises_on_a_recorded_output_that_differs() -> None:
    s = Stream()
    n = s.add(note("x"), OPS, MS)
    wrong = Output(10, 1, TYPE_ID[Echo], n, encode(Echo(text="x", n=1, roll=1001)))
    bad = s.record(wrong, MS)
    with pytest.raises(DeterminismError) as exc:
        AppEngine(CounterApp()).feed(s.frames)
    assert exc.value.seq == bad
    assert "'roll': 1001" in exc.value.describe()
