"""The engine: drives one app over frames. Live, restart and replay all use it.

For each frame, in order:
1. due timers fire (deadline order, then creation order), each with its token;
2. frames the app itself published go to the output checker, not to the app;
3. the handler for the frame's type, if any, gets the decoded message. The
   runtime's own handling (seeding the random generator from `SystemStart`,
   snapshots on `TakeSnapshot`) wraps the app's handler for those types, so
   the hot path is one dict lookup per frame.

What the app publishes goes to a sink the caller chooses: the live runner
publishes it (or, for outputs the stream already recorded, only compares);
replay compares or counts.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Callable
from typing import Any

import msgspec

from sequencer import sources
from sequencer.messages import BY_ID, TYPE_ID, decode, to_builtins, type_name
from sequencer.messages.admin import TakeSnapshot
from sequencer.messages.control import SystemStart, SystemStop
from sequencer.runtime.app import App
from sequencer.runtime.context import AppContext, Output, recorded_comparable

# seq, ts_ns, (recv_ns skipped), source_id, type_id
_HOT = struct.Struct("<8xQq8xIH")
# source_id, type_id, flags, source_seq, cause_seq, (sent_ns skipped), event_ns, length: what
# `Output.comparable` keeps of an input record (telemetry zeroed)
_COMPARED = struct.Struct("<IHHQQ8xqI")
SNAPSHOT_FORMAT = 1

_snap_encoder = msgspec.msgpack.Encoder()
_snap_decoder = msgspec.msgpack.Decoder()


class RefDataUnavailable(RuntimeError):
    """The day's `SystemStart` names a ref data set this engine cannot load."""


class UndecodableFrame(Exception):
    """A frame of a type the app handles whose payload does not decode as that type: the
    app cannot go past it (it would act on a stream other than the recorded one)."""

    def __init__(self, app: str, seq: int, type_id: int, source_id: int, why: str) -> None:
        self.app = app
        self.seq = seq
        self.type_id = type_id
        self.source_id = source_id
        self.why = why
        super().__init__(
            f"app {app!r} stopped at seq {seq}: its {type_name(type_id)} payload (type id "
            f"{type_id}, from source {source_id}) does not decode: {why}"
        )


class DeterminismError(Exception):
    """An app produced an output that differs from what the stream recorded."""

    def __init__(self, app: str, seq: int, source_seq: int, recorded: bytes | None,
                 produced: bytes | None, why: str) -> None:
        self.app = app
        self.seq = seq
        self.source_seq = source_seq
        self.recorded = recorded
        self.produced = produced
        self.why = why
        super().__init__(self.describe())

    def describe(self) -> str:
        lines = [
            f"determinism failure in app {self.app!r}: {self.why}",
            f"  output {self.source_seq} of source, recorded at stream seq {self.seq}",
            f"  recorded: {describe_record(self.recorded)}",
            f"  produced: {describe_record(self.produced)}",
        ]
        return "\n".join(lines)


def describe_record(rec: bytes | None) -> str:
    """A comparable record (input-record layout), decoded for people."""
    if rec is None:
        return "(nothing)"
    src, typ, _f, sseq, cause, _sent, _ev, length, _p = struct.unpack_from("<IHHQQqqII", rec)
    try:
        body: Any = to_builtins(decode(typ, rec[48:48 + length]))
    except (msgspec.DecodeError, ValueError) as e:
        body = f"undecodable {type_name(typ)}: {e}"
    return f"source {src}/{sseq} cause_seq {cause} {body} bytes={rec.hex()}"


class OutputChecker:
    """Matches what an app produces with what the stream recorded from it.

    Outputs are matched by source sequence number. A recorded output the app
    did not produce (past the point it started from), or one that differs,
    raises `DeterminismError`. Outputs produced but not (yet) recorded stay
    pending: the live runner publishes those the stream does not have.
    """

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name
        self.pending: dict[int, Output] = {}
        self.matched = 0
        self.mismatches: list[DeterminismError] = []
        self.raise_on_mismatch = True
        self.produced_before_start = 0  # outputs up to here were produced before we started

    def produced(self, out: Output) -> None:
        self.pending[out.source_seq] = out

    def recorded(self, raw: bytes, seq: int) -> None:
        fields = _COMPARED.unpack_from(raw, 32)
        sseq = fields[3]
        out = self.pending.pop(sseq, None)
        if out is None:
            if sseq <= self.produced_before_start:
                return
            self._mismatch(seq, sseq, recorded_comparable(raw), None,
                           "the stream recorded an output the app did not produce")
            return
        # The fast check: the fields the comparison covers, then the payload; only a
        # difference builds the full comparable records (for the report).
        if raw[80:] == out.payload and fields == (
                out.source_id, out.type_id, 0, sseq, out.cause_seq, 0, len(out.payload)):
            self.matched += 1
            return
        mine = out.comparable()
        theirs = recorded_comparable(raw)
        if mine == theirs:
            self.matched += 1
        else:
            self._mismatch(seq, sseq, theirs, mine, "the app produced a different output")

    def _mismatch(self, seq: int, sseq: int, recorded: bytes | None, produced: bytes | None,
                  why: str) -> None:
        err = DeterminismError(self.app_name, seq, sseq, recorded, produced, why)
        self.mismatches.append(err)
        if self.raise_on_mismatch:
            raise err


class AppEngine:
    """Drives `app` over frames (whole frames as bytes, in stream order)."""

    def __init__(
        self,
        app: App,
        sink: Callable[[Output], None] | None = None,
        *,
        source_id: int | None = None,
        on_snapshot_request: Callable[[AppEngine], None] | None = None,
        refdata_loader: Callable[[str], Any] | None = None,
    ) -> None:
        self.app = app
        self.refdata_loader = refdata_loader
        self.name = app.name
        self.ctx = AppContext(app.name, app.source_id if source_id is None else source_id,
                              self._on_output)
        app.ctx = self.ctx
        self.sink = sink
        self.checker = OutputChecker(app.name)
        if sink is None:
            # Replay: no telemetry and nothing to send, so an output only waits for its
            # recorded twin (one dict store instead of a method call per output).
            pending = self.checker.pending

            def wait_for_record(out: Output) -> None:
                pending[out.source_seq] = out

            self.ctx._sink = wait_for_record
        self.on_snapshot_request = on_snapshot_request
        self.frames = 0
        self.stopped_at = 0  # the seq of the day's SystemStop, once the app has seen it
        self._out_base = 0  # the context's out_seq when this engine started producing
        self.batch_recv_ns = 0
        # type id -> (payload decoder, handler taking the decoded message)
        self.table = app.dispatch_table()
        self._wrap_runtime(TYPE_ID[SystemStart], self._on_system_start)
        self._wrap_runtime(TYPE_ID[SystemStop], self._on_system_stop)
        # A snapshot holds the state *after* its frame: the app handles TakeSnapshot first.
        self._wrap_runtime(TYPE_ID[TakeSnapshot], self._on_take_snapshot, app_first=True)
        app.on_start()

    def _wrap_runtime(self, type_id: int, runtime: Callable[[Any], None],
                      app_first: bool = False) -> None:
        app_handler = getattr(self.app, self.app.handler_names[type_id]) if (
            type_id in self.app.handler_names) else None

        def both(msg: Any) -> None:
            if app_handler is not None and app_first:
                app_handler(msg)
            runtime(msg)
            if app_handler is not None and not app_first:
                app_handler(msg)

        self.table[type_id] = (msgspec.msgpack.Decoder(BY_ID[type_id]).decode, both)

    # ------------------------------------------------------------------ the hot path

    def feed(self, batch: list[bytes]) -> None:
        """Handle a batch of frames (whole frames, in stream order).

        A payload that does not decode as its type raises `UndecodableFrame` naming the
        seq, the type and the app."""
        ctx = self.ctx
        table_get = self.table.get
        unpack = _HOT.unpack_from
        own = ctx.source_id
        recorded = self.checker.recorded
        self.batch_recv_ns = time.time_ns()
        self.frames += len(batch)
        raw = b""
        # One try around the loop, not one a frame: the hot path pays nothing for it.
        try:
            for raw in batch:
                seq, ts, src, typ = unpack(raw)
                ctx.seq = seq
                ctx.now = ts
                if ts >= ctx._deadline:
                    self._fire(ts)
                if src == own:
                    recorded(raw, seq)
                    continue
                h = table_get(typ)
                if h is not None:
                    ctx.frame_source_id = src
                    h[1](h[0](raw[80:]))
        except msgspec.DecodeError as e:  # ValidationError included
            self._undecodable(raw, e)
            raise

    def _undecodable(self, raw: bytes, err: msgspec.DecodeError) -> None:
        """Raise `UndecodableFrame` if the frame being handled is what failed to decode
        (not something a handler or a timer decoded, which is the app's own error)."""
        _seq, _ts, src, typ = _HOT.unpack_from(raw)
        h = self.table.get(typ)
        if h is None or src == self.ctx.source_id:
            return
        try:
            h[0](raw[80:])
        except msgspec.DecodeError:
            raise UndecodableFrame(self.name, self.ctx.seq, typ, src, str(err)) from err

    def handle(self, raw: bytes) -> None:
        self.feed([raw])

    def _fire(self, now: int) -> None:
        ctx = self.ctx
        # A timer comes with the stream's time (the sequencer's), not from the frame's source.
        ctx.frame_source_id = sources.SEQUENCER
        on_timer = self.app.on_timer
        while True:
            t = ctx.pop_due(now)
            if t is None:
                break
            on_timer(t[2])
        ctx.refresh_deadline()

    @property
    def outputs(self) -> int:
        """Outputs the app produced under this engine (not those before a restored snapshot)."""
        return self.ctx.out_seq - self._out_base

    def _on_output(self, out: Output) -> None:
        out.proc_ns = time.time_ns() - self.batch_recv_ns
        self.checker.produced(out)
        if self.sink is not None:
            self.sink(out)

    # ------------------------------------------------------------------ runtime messages

    def _on_system_stop(self, msg: SystemStop) -> None:
        self.stopped_at = self.ctx.seq

    def _on_system_start(self, msg: SystemStart) -> None:
        self.ctx.seed_day(msg.seed)
        self._load_refdata(msg.refdata_digest)

    def _load_refdata(self, digest: str) -> None:
        self.ctx.refdata_digest = digest
        if not digest:
            self.ctx.refdata = None
            return
        if self.refdata_loader is None:
            raise RefDataUnavailable(
                f"the day runs on ref data {digest[:12]}, and app {self.name!r} "
                "was started without a way to load it"
            )
        try:
            self.ctx.refdata = self.refdata_loader(digest)
        except (OSError, ValueError) as e:  # the loader's refusal: no set, damaged, another's
            raise RefDataUnavailable(
                f"app {self.name!r} cannot load the ref data the day runs on "
                f"({digest[:12]}): {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from e

    def _on_take_snapshot(self, msg: TakeSnapshot) -> None:
        if self.on_snapshot_request is not None and msg.target in ("*", self.name):
            self.on_snapshot_request(self)

    # ------------------------------------------------------------------ state

    def snapshot(self) -> bytes:
        """Engine and app state after the frame `ctx.seq` (timers, random, pending outputs)."""
        pending = [
            [o.source_id, o.source_seq, o.type_id, o.cause_seq, o.payload]
            for o in sorted(self.checker.pending.values(), key=lambda o: o.source_seq)
        ]
        return _snap_encoder.encode({
            "format": SNAPSHOT_FORMAT,
            "app": self.name,
            "runtime": self.ctx.runtime_state(),
            "pending": pending,
            "app_state": self.app.snapshot(),
        })

    def restore(self, data: bytes) -> None:
        d = _snap_decoder.decode(data)
        if d.get("format") != SNAPSHOT_FORMAT or d.get("app") != self.name:
            raise ValueError(
                f"not a snapshot of app {self.name!r} (format {d.get('format')}, "
                f"app {d.get('app')!r})"
            )
        self.ctx.load_runtime_state(d["runtime"])
        self._load_refdata(self.ctx.refdata_digest)
        # In place: the replay sink holds this dict.
        self.checker.pending.clear()
        self.checker.pending.update(
            (p[1], Output(p[0], p[1], p[2], p[3], bytes(p[4]))) for p in d["pending"])
        self._out_base = self.ctx.out_seq
        self.checker.produced_before_start = self.ctx.out_seq - len(self.checker.pending)
        self.app.restore(bytes(d["app_state"]))

    def state_hash(self) -> str:
        """Hash of the app's state and the runtime state that shapes its future."""
        rt = self.ctx.runtime_state()
        rt.pop("now")
        rt.pop("seq")
        h = hashlib.sha256(self.app.state_hash().encode())
        h.update(_snap_encoder.encode(rt))
        return h.hexdigest()
