"""The stream kit: apps on a stream of their own, in one process, in lockstep.

The loop "sequence an input, hand it to every app, sequence what they
published right after it" is what the sequencer and the live runners do across
processes; `StreamKit` does it in one, with no transport and no wall clock, so
a test, a benchmark's generated day or a backtest gets a journal that is a
day's journal like any other (`tape replay DAY --verify` checks it).

    kit = StreamKit([Oms()], refdata=rd, start_ns=open_ns)
    kit.start(date, seed=7)                          # SystemStart, as the sequencer
    outs = kit.send(NewOrder(...), sources.CLIENT_GATEWAY)   # decoded outputs
    kit.advance(5 * SECOND)                          # a ClockTick: timers fire
    kit.frames, kit.outputs                          # the day so far
    data = kit.snapshot("oms"); kit.restore("oms", data)

Rules, those of the sequencer:
- each input is stamped with the next seq and stream time `max(now, its time)`
  (stream time never goes back); its record carries the source's next source
  seq, unless the caller gives one;
- every app gets every frame (the engine hands an app's own outputs to its
  output checker, as live); what the apps publish is queued and sequenced
  after the frame, first published first, before the next input, so an
  output's answer follows it at once (zero latency between apps);
- outputs take the stream time of the frame they answer, plus `output_gap_ns`
  each (a bench that wants the latency a real stack shows);
- each output must be a type its source publishes per `sequencer.sources`
  (`check_outputs`), so the table of who publishes what cannot drift;
- telemetry fields are 0: they would be the only bytes that differ between
  two runs.

`input()` is the fast path for benchmarks and the backtest (raw payloads, raw
outputs); `send()` is the readable one for tests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sequencer import sources
from sequencer.frames import HEADER_SIZE, encode_input, stamp
from sequencer.journal import JournalWriter
from sequencer.messages import TYPE_ID, Message, decode, encode, type_name
from sequencer.messages.control import ClockTick, SystemStart, SystemStop
from sequencer.runtime.app import App
from sequencer.runtime.context import NEVER, Output
from sequencer.runtime.engine import AppEngine

_TICK = TYPE_ID[ClockTick]
_TICK_PAYLOAD = encode(ClockTick())
_TYPE_AT = 36  # a frame's type id: bytes 36-37
_type_of = struct.Struct("<36xH").unpack_from
_seq_of = struct.Struct("<8xQ").unpack_from


class OutputNotDeclared(AssertionError):
    """An app published a type its source does not list in `sequencer.sources`."""


class StreamKit:
    """Apps in lockstep on an in-process stream. See the module docstring."""

    def __init__(
        self,
        apps: Iterable[App] = (),
        *,
        refdata: Any = None,
        refdata_loader: Callable[[str], Any] | None = None,
        start_ns: int = 0,
        default_gap_ns: int = 0,
        output_gap_ns: int = 0,
        journal: Path | None = None,
        flush_bytes: int = 8 << 20,
        keep: bool = True,
        check_outputs: bool = True,
        on_frame: Callable[[bytes], None] | None = None,
    ) -> None:
        """`refdata`: the set every app gets (its digest must be the one `start`
        names), or `refdata_loader` for more; `default_gap_ns`: how far `send` moves
        stream time when not told; `journal`: a journal folder to write the frames to;
        `keep`: keep the frames and decoded outputs (tests), or not (long days);
        `on_frame`: called with every frame after the apps have it."""
        self.seq = 0
        self.now = start_ns
        self.default_gap_ns = default_gap_ns
        self.output_gap_ns = output_gap_ns
        self.source_seqs: dict[int, int] = {}
        self.keep = keep
        self.frames: list[bytes] = []
        #: Every output, decoded, in the order published (= the order sequenced). Appended
        #: as the app publishes, so code running inside a handler sees its earlier outputs.
        self.outputs: list[Message] = []
        self.on_frame = on_frame
        self.check_outputs = check_outputs
        self._queue: deque[Output] = deque()
        self._watch: dict[int, list[Callable[[int, bytes], None]]] = {}
        if refdata_loader is None and refdata is not None:
            rd = refdata

            def refdata_loader(digest: str) -> Any:
                want = getattr(rd, "digest", digest)
                if digest != want:
                    raise ValueError(f"the day names ref data {digest[:12]}, the kit holds "
                                     f"{want[:12]}")
                return rd

        self._loader = refdata_loader
        self.refdata = refdata
        self.engines: list[AppEngine] = []
        self.apps: dict[str, App] = {}
        self._allowed: dict[int, frozenset[int] | None] = {}
        for app in apps:
            self.add(app)
        # the journal
        self.digest = hashlib.sha256()
        self.flush_bytes = flush_bytes
        self._writer: JournalWriter | None = None
        self._buf = bytearray()
        self._buf_first = 1
        if journal is not None:
            self._writer = JournalWriter(journal)
            self._writer.open()  # determinism: allowed, the kit writes the journal it makes
            if self._writer.state.last_seq:
                raise FileExistsError(f"{journal} already holds a journal")

    # ------------------------------------------------------------------ apps

    def add(self, app: App) -> AppEngine:
        """Put an app on the stream (from the next frame on)."""
        if app.name in self.apps:
            raise ValueError(f"two apps named {app.name!r}")
        eng = AppEngine(app, self._collect, refdata_loader=self._loader)
        self.engines.append(eng)
        self.apps[app.name] = app
        self._allowed[app.source_id] = sources.allowed_outputs(app.source_id)
        return eng

    def engine_of(self, name: str) -> AppEngine:
        for e in self.engines:
            if e.name == name:
                return e
        raise KeyError(f"no app {name!r} in the kit (has {', '.join(self.apps)})")

    def _collect(self, out: Output) -> None:
        if self.check_outputs:
            allowed = self._allowed.get(out.source_id)
            if allowed is not None and out.type_id not in allowed:
                raise OutputNotDeclared(
                    f"{sources.name(out.source_id)} published {type_name(out.type_id)}, "
                    f"which sequencer.sources does not list for it")
        self._queue.append(out)
        if self.keep:
            self.outputs.append(decode(out.type_id, out.payload))

    # ------------------------------------------------------------------ the sequencer

    def watch(self, msg_type: type[Message], fn: Callable[[int, bytes], None]) -> None:
        """Call `fn(seq, frame)` for every frame of `msg_type` (the backtest's plant
        follows its commands so)."""
        self._watch.setdefault(TYPE_ID[msg_type], []).append(fn)

    def sequence(self, record: bytes, at_ns: int = 0) -> bytes:
        """Stamp one input record as the next frame, at stream time `max(now, at_ns)`,
        and hand it to every app; what they publish waits in the queue (`drain`)."""
        self.now = max(self.now, at_ns)
        self.seq += 1
        frame = stamp(record, self.seq, self.now, 0)
        if self._writer is not None:
            self._buf += frame
            if len(self._buf) >= self.flush_bytes:
                self.flush()
        if self.keep:
            self.frames.append(frame)
        batch = [frame]
        for eng in self.engines:
            eng.feed(batch)
        if self._watch:
            fns = self._watch.get(_type_of(frame)[0])
            if fns is not None:
                for fn in fns:
                    fn(self.seq, frame)
        if self.on_frame is not None:
            self.on_frame(frame)
        return frame

    def drain(self) -> list[Output]:
        """Sequence the apps' queued outputs (and what those cause), in order."""
        queue = self._queue
        done: list[Output] = []
        gap = self.output_gap_ns
        seqs = self.source_seqs
        while queue:
            out = queue.popleft()
            seqs[out.source_id] = out.source_seq
            if gap:
                self.now += gap
            self.sequence(out.comparable())
            done.append(out)
        return done

    def input(self, source: int, type_id: int, payload: bytes, *, at_ns: int = 0,
              event_ns: int = 0, cause_seq: int = 0, source_seq: int = 0) -> list[Output]:
        """Sequence one input (its payload already encoded) at `max(now, at_ns,
        event_ns)`, then the outputs it causes; the outputs, raw."""
        n = source_seq or self.source_seqs.get(source, 0) + 1
        self.source_seqs[source] = n
        self.sequence(encode_input(source, type_id, n, payload, cause_seq=cause_seq,
                                   event_ns=event_ns), max(at_ns, event_ns))
        return self.drain()

    def send(self, msg: Message, source: int, *, at_ns: int | None = None,
             after_ns: int | None = None, event_ns: int = 0) -> list[Message]:
        """Sequence `msg` from `source` at stream time `at_ns` (or `after_ns` past the
        last frame, or `default_gap_ns`); the outputs it causes, decoded."""
        if at_ns is None:
            at_ns = self.now + (self.default_gap_ns if after_ns is None else after_ns)
        elif at_ns < self.now:
            raise ValueError(f"stream time never goes back: {at_ns} is before {self.now}")
        before = len(self.outputs)
        outs = self.input(source, TYPE_ID[type(msg)], encode(msg), at_ns=at_ns,
                          event_ns=event_ns)
        if self.keep:
            return self.outputs[before:]
        return [decode(o.type_id, o.payload) for o in outs]

    # ------------------------------------------------------------------ time

    def start(self, session_date: dt.date, *, seed: int = 7, refdata_digest: str | None = None,
              config_digest: str = "kit", at_ns: int | None = None) -> list[Message]:
        """The day's `SystemStart`, from the sequencer (the ref data digest of the
        kit's set, unless told)."""
        if refdata_digest is None:
            refdata_digest = getattr(self.refdata, "digest", "")
        return self.send(SystemStart(session_date=session_date, seed=seed,
                                     config_digest=config_digest, time_mode="sim",
                                     refdata_digest=refdata_digest),
                         sources.SEQUENCER, at_ns=self.now if at_ns is None else at_ns)

    def stop(self, reason: str = "", at_ns: int | None = None) -> list[Message]:
        """The day's `SystemStop`, from the sequencer."""
        return self.send(SystemStop(reason), sources.SEQUENCER,
                         at_ns=self.now if at_ns is None else at_ns)

    def clock_tick(self, at_ns: int) -> list[Output]:
        """A `ClockTick` from the sequencer at `at_ns`: the apps' timers due by then fire."""
        return self.input(sources.SEQUENCER, _TICK, _TICK_PAYLOAD, at_ns=at_ns)

    def advance(self, ns: int) -> list[Message]:
        """Let `ns` of stream time pass (one `ClockTick`); the outputs, decoded."""
        before = len(self.outputs)
        outs = self.clock_tick(self.now + ns)
        return self.outputs[before:] if self.keep else [decode(o.type_id, o.payload)
                                                        for o in outs]

    def next_deadline(self) -> int:
        """The earliest timer any app has pending (`NEVER` if none)."""
        return min((e.ctx._deadline for e in self.engines), default=NEVER)

    def run_timers(self, until_ns: int) -> None:
        """A `ClockTick` at each app timer's deadline up to `until_ns`, as the sequencer's
        idle ticks would bring them (each at its time, not at the next input's)."""
        while True:
            t = self.next_deadline()
            if t > until_ns:
                return
            self.clock_tick(t)

    # ------------------------------------------------------------------ state

    def snapshot(self, name: str) -> bytes:
        """An app's engine snapshot after the last frame (what `tape app run` writes)."""
        return self.engine_of(name).snapshot()

    def restore(self, name: str, data: bytes) -> None:
        self.engine_of(name).restore(data)

    def restart(self, app: App) -> AppEngine:
        """Put a fresh instance of an app of the kit in place of the running one,
        restored from its snapshot now, as a process restarted from its latest
        snapshot would be. The new engine."""
        i = next((k for k, e in enumerate(self.engines) if e.name == app.name), None)
        if i is None:
            raise KeyError(f"no app {app.name!r} in the kit (has {', '.join(self.apps)})")
        data = self.engines[i].snapshot()
        eng = AppEngine(app, self._collect, refdata_loader=self._loader)
        eng.restore(data)
        self.engines[i] = eng
        self.apps[app.name] = app
        return eng

    def replay(self, app: App, *, snapshot: bytes | None = None, after_seq: int = 0,
               until_seq: int | None = None) -> AppEngine:
        """Run a fresh `app` over the kept frames (those after `after_seq` and up to
        `until_seq`; from `snapshot` if given) as `tape replay` does: its outputs are
        checked byte for byte against the recorded ones (`DeterminismError` on a
        difference). The engine, for its state and counts."""
        eng = AppEngine(app, refdata_loader=self._loader)
        if snapshot is not None:
            eng.restore(snapshot)
        last = self.seq if until_seq is None else until_seq
        eng.feed([f for f in self.frames if after_seq < _seq_of(f)[0] <= last])
        return eng

    # ------------------------------------------------------------------ the journal

    def flush(self) -> None:
        """Write the frames sequenced so far to the journal (if the kit keeps one)."""
        if self._writer is not None and self._buf:
            data = bytes(self._buf)
            self._writer.append(data, self._buf_first)
            self.digest.update(data)
            st = self._writer.state
            st.last_seq, st.last_ts = self.seq, self.now
            st.sources.update(self.source_seqs)
            self._buf_first = self.seq + 1
            self._buf = bytearray()

    def close(self) -> None:
        """Flush, make the journal durable and close it."""
        if self._writer is not None:
            self.flush()
            self._writer.sync()
            self._writer.close()
            self._writer = None

    @property
    def journal_sha256(self) -> str:
        return self.digest.hexdigest()

    # ------------------------------------------------------------------ reading

    def of_type[T](self, t: type[T], since: int = 0) -> list[T]:
        """The outputs of type `t` (from output index `since`)."""
        return [o for o in self.outputs[since:] if isinstance(o, t)]

    def frames_of(self, source: int) -> list[bytes]:
        return [f for f in self.frames if int.from_bytes(f[32:36], "little") == source]

    @staticmethod
    def payload(frame: bytes) -> Message:
        """The message a kept frame carries."""
        return decode(int.from_bytes(frame[_TYPE_AT:_TYPE_AT + 2], "little"),
                      frame[HEADER_SIZE:])


__all__ = ["OutputNotDeclared", "StreamKit"]
