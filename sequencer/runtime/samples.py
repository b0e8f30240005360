"""Sample apps that exercise the runtime: a no-op app and a small stateful one.

They are what `tape bench runtime` measures and what the runtime's tests run;
real apps (OMS, algo container, gateways) live in their own packages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from sequencer import sources
from sequencer.messages import ALL_TYPES
from sequencer.messages.admin import OperatorNote
from sequencer.messages.control import ClockTick, Echo, Heartbeat, Probe, SystemStart
from sequencer.runtime.app import App, StructApp, handles

SECOND = 1_000_000_000


class NoopApp(App):
    """Decodes and dispatches every frame, and does nothing with it."""

    name = "noop"
    source_id = sources.NOOP
    indexed = False  # it handles everything and does nothing

    @handles(*ALL_TYPES)
    def on_any(self, msg: Any) -> None:
        pass


class CounterState(msgspec.Struct):
    probes: int = 0
    probe_sum: int = 0
    notes: int = 0
    ticks: int = 0
    heartbeats: int = 0
    last_note: str = ""
    by_source: dict[int, int] = msgspec.field(default_factory=dict)


class CounterApp(StructApp[CounterState]):
    """Counts what it sees, answers operator notes, beats every stream second.

    Small but stateful, with timers, outputs and the seeded random generator,
    so a replay that differs in any of them shows.
    """

    name = "counter"
    source_id = sources.COUNTER
    state_type = CounterState

    def __init__(self) -> None:
        self.state = CounterState()

    @handles(SystemStart)
    def on_system_start(self, msg: SystemStart) -> None:
        self.ctx.set_timer(self.ctx.now + SECOND, "heartbeat")

    @handles(Probe)
    def on_probe(self, msg: Probe) -> None:
        st = self.state
        st.probes += 1
        st.probe_sum += msg.n
        src = self.ctx.frame_source_id
        st.by_source[src] = st.by_source.get(src, 0) + 1

    @handles(OperatorNote)
    def on_note(self, msg: OperatorNote) -> None:
        st = self.state
        st.notes += 1
        st.last_note = msg.text
        self.ctx.publish(Echo(text=msg.text, n=st.notes, roll=self.ctx.random.randrange(1000)))

    @handles(ClockTick)
    def on_tick(self, msg: ClockTick) -> None:
        self.state.ticks += 1

    def on_timer(self, token: Any) -> None:
        if token == "heartbeat":
            st = self.state
            st.heartbeats += 1
            self.ctx.publish(Heartbeat(app=self.name, n=st.heartbeats, frames=st.probes))
            self.ctx.set_timer(self.ctx.now + SECOND, "heartbeat")

