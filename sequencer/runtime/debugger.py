"""The replay debugger: pdb that stops in the app's own code, where it decides.

`tape replay DAY --app APP` with a break (`--break-at SEQ`, `--break-when EXPR`,
`--break-on-output TYPE[:EXPR]`, `--break-on-mismatch`, `--break-on-alert`) runs the
replay with a `ReplayDebugger` beside the app's engine:

- a break on a frame (by seq, by expression, or `nf`, the next frame the app
  handles) runs that one frame under the debugger, which stops on the first line of
  the app's code the frame reaches: the handler for its type, or the timer callback
  when a timer falls due before it. The runtime (engine, context, codec, journal) is
  skipped: `n` and `s` step through the app's logic only;
- a break on what the app did stops in the app's frame that published the output
  (the line of the `publish` call), with the output in scope as `output` (decoded);
  on a mismatch, the recorded output beside it as `recorded`;
- `app`, `msg`, `frame`, `ctx` are in scope at every stop (as names of the handler's
  frame when it has none of its own).

Commands of Tape's own besides pdb's: `nf` (`nextframe`) goes on to the next frame
the app handles and stops in its handler; `c` goes on to the next break (or the end);
`q` ends the replay.
"""

# determinism: edge module, the interactive debugger of `tape replay` (ops tooling)

from __future__ import annotations

import bdb
import pdb
import sys
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any, TextIO

import msgspec

from sequencer import frames
from sequencer.messages import BY_NAME, TYPE_ID, decode
from sequencer.runtime.context import Output, recorded_comparable

#: Modules a stop never lands in and `n`/`s` never step into: the runtime's plumbing.
#: (Not `sequencer.runtime.*`: the sample apps live in `sequencer.runtime.samples`.)
RUNTIME_MODULES = [
    "sequencer.runtime.engine", "sequencer.runtime.context", "sequencer.runtime.replay",
    "sequencer.runtime.debugger", "sequencer.runtime.app", "sequencer.runtime.registry",
    "sequencer.messages", "sequencer.messages.*", "sequencer.frames", "sequencer.journal",
    "msgspec", "msgspec.*", "bdb", "pdb", "cmd", "codecs", "encodings.*", "linecache",
]

BANNER_HELP = ("    in scope: app, msg, frame, ctx{more}.  n/s step through the app's code, "
               "nf goes on to the next frame this app handles, c to the next break, "
               "q ends the replay.\n")


class QuitReplay(Exception):
    """The user quit the debugger (`q`): the replay ends there."""


class Breaks(msgspec.Struct, frozen=True):
    """What stops the replay (any of them)."""

    at: int | None = None
    when: str | None = None
    on_output: str | None = None  # TYPE or TYPE:EXPR
    on_mismatch: bool = False
    on_alert: bool = False

    @property
    def any(self) -> bool:
        return (self.at is not None or self.when is not None or self.on_output is not None
                or self.on_mismatch or self.on_alert)


def check_breaks(b: Breaks) -> str:
    """Why these breaks cannot be used ('' if they can): a bad expression or type."""
    for what, expr in (("--break-when", b.when), ("--break-on-output", _output_expr(b))):
        if expr:
            try:
                compile(expr, what, "eval")
            except SyntaxError as e:
                where = f" at column {e.offset}" if e.offset else ""
                return f"{what}: not a Python expression{where}: {e.msg} ({expr!r})"
    if b.on_output is not None:
        name = b.on_output.partition(":")[0].strip()
        if name not in BY_NAME:
            return (f"--break-on-output: no message type {name!r} (see `tape messages`); "
                    "expected TYPE or TYPE:EXPR")
    return ""


def _output_expr(b: Breaks) -> str:
    return b.on_output.partition(":")[2].strip() if b.on_output else ""


class ReplayDebugger(pdb.Pdb):
    """pdb for one app's engine in a replay (see the module's docstring)."""

    def __init__(self, engine: Any, breaks: Breaks, *, stdin: TextIO | None = None,
                 stdout: TextIO | None = None,
                 recorded: Callable[[int], bytes | None] | None = None) -> None:
        super().__init__(stdin=stdin, stdout=stdout, skip=RUNTIME_MODULES)
        if stdin is not None:
            self.use_rawinput = False
        self.engine = engine
        self.stops_on = breaks  # (not `breaks`: pdb's own breakpoints are called so)
        self.out = stdout or sys.stdout
        self.extra: dict[str, Any] = {}
        self.next_frame = False  # `nf`: stop at the next frame the app handles
        self.quit_replay = False
        self.stops = 0
        self._when = compile(breaks.when, "--break-when", "eval") if breaks.when else None
        out_type = breaks.on_output.partition(":")[0].strip() if breaks.on_output else ""
        self._out_type = TYPE_ID[BY_NAME[out_type]] if out_type else None
        expr = _output_expr(breaks)
        self._out_expr: CodeType | None = (compile(expr, "--break-on-output", "eval")
                                           if expr else None)
        self._alert_type = TYPE_ID[BY_NAME["Alert"]]
        self._recorded = recorded
        self._sink = engine.ctx._sink
        if breaks.on_output or breaks.on_mismatch or breaks.on_alert:
            engine.ctx._sink = self._on_output

    # ------------------------------------------------------------------ frames

    def wants(self, raw: bytes) -> bool:
        """Stop at this frame (before the engine handles it)?"""
        seq = int.from_bytes(raw[8:16], "little")
        if self.stops_on.at is not None and seq == self.stops_on.at:
            return True
        if self.next_frame and self.handles(raw):
            return True
        if self._when is not None:
            try:
                # ops' own expression, evaluated like a debugger's condition
                return bool(eval(self._when, {"__builtins__": __builtins__},
                                 self.scope(raw)))
            except Exception:  # an expression that does not apply to this frame is false
                return False
        return False

    def handles(self, raw: bytes) -> bool:
        """Does the app's code run for this frame (its handler, or a timer falling due)?"""
        eng = self.engine
        seq_ts = frames.parse_at(raw, 0)
        if seq_ts.ts_ns >= eng.ctx._deadline:
            return True
        return (seq_ts.source_id != eng.ctx.source_id
                and seq_ts.type_id in eng.app.handler_names)

    def scope(self, raw: bytes) -> dict[str, Any]:
        eng = self.engine
        frame = frames.parse_at(raw, 0)
        try:
            msg: Any = decode(frame.type_id, frame.payload)
        except (msgspec.DecodeError, ValueError) as e:
            msg = e
        return {"app": eng.app, "msg": msg, "frame": frame, "ctx": eng.ctx, "engine": eng}

    def handle(self, raw: bytes) -> None:
        """The engine handles `raw` under the debugger: a stop on the first line of the
        app's code it runs (or before it, when the app has no code for it)."""
        self.next_frame = False
        scope = self.scope(raw)
        frame, msg = scope["frame"], scope["msg"]
        self.extra = scope
        self.stops += 1
        where = "in its handler" if self.handles(raw) else "before it (the app has no " \
            "handler for it)"
        self.out.write(
            f"--- tape replay: seq {frame.seq} (stream time {frame.ts_ns}), app "
            f"{self.engine.name!r}, {type(msg).__name__}: stopped {where} ---\n"
            + BANNER_HELP.format(more=""))
        self.out.flush()
        if not self.handles(raw):
            self._stop_here(sys._getframe())
            self.engine.handle(raw)
            return
        self.reset()
        sys.settrace(self.trace_dispatch)
        try:
            self.engine.handle(raw)
        except bdb.BdbQuit:
            raise QuitReplay from None
        finally:
            sys.settrace(None)
        if self.quit_replay:
            raise QuitReplay

    # ------------------------------------------------------------------ outputs

    def _on_output(self, out: Output) -> None:
        self._sink(out)
        why, more = self._output_stop(out)
        if not why:
            return
        app_frame = _app_frame(sys._getframe(1))
        self.extra = {**self._current_scope(), **more}
        self.stops += 1
        self.out.write(
            f"--- tape replay: seq {self.engine.ctx.seq}, app {self.engine.name!r}: {why} "
            "---\n" + BANNER_HELP.format(more=", " + ", ".join(more)))
        self.out.flush()
        self._stop_here(app_frame)
        if self.quit_replay:
            raise QuitReplay

    def _output_stop(self, out: Output) -> tuple[str, dict[str, Any]]:
        """Why this output stops the replay ('' if it does not), and what to show."""
        b = self.stops_on
        name = _type_name(out.type_id)
        if b.on_mismatch and self._recorded is not None:
            rec = self._recorded(out.source_seq)
            if rec is None or recorded_comparable(rec) != out.comparable():
                decoded = _decode(out.type_id, out.payload)
                recorded = None if rec is None else _decode(
                    int.from_bytes(rec[36:38], "little"), rec[80:])
                what = ("the app published an output the stream did not record"
                        if rec is None else "the app published an output that differs from "
                        "the recorded one")
                return (f"{what} ({name}, its output {out.source_seq})",
                        {"output": decoded, "recorded": recorded})
        if b.on_alert and out.type_id == self._alert_type:
            return f"the app raised an Alert (its output {out.source_seq})", {
                "output": _decode(out.type_id, out.payload)}
        if self._out_type is not None and out.type_id == self._out_type:
            decoded = _decode(out.type_id, out.payload)
            if self._out_expr is not None:
                try:
                    hit = bool(eval(self._out_expr, {"__builtins__": __builtins__},
                                    {"output": decoded, "out": decoded, **decoded_fields(
                                        decoded), "app": self.engine.app,
                                     "ctx": self.engine.ctx}))
                except Exception:  # an expression that does not apply is false
                    hit = False
                if not hit:
                    return "", {}
            return f"the app published {name} (its output {out.source_seq})", {
                "output": decoded}
        return "", {}

    def missing_output(self, err: Any, raw: bytes) -> None:
        """Stop after `raw`: the stream recorded an output the app did not produce (no
        handler published it, so there is no line of the app's to stop on)."""
        self.extra = {**self.scope(raw), "recorded": _decode_record(err.recorded),
                      "output": None, "mismatch": err}
        self.stops += 1
        self.out.write(f"--- tape replay: after seq {self.engine.ctx.seq}, app "
                       f"{self.engine.name!r}: {err.why} (its output {err.source_seq}) ---\n"
                       + BANNER_HELP.format(more=", recorded, mismatch"))
        self.out.flush()
        self._stop_here(sys._getframe())
        self.after_frame()

    def _current_scope(self) -> dict[str, Any]:
        eng = self.engine
        return {"app": eng.app, "ctx": eng.ctx, "engine": eng, **{
            k: v for k, v in self.extra.items() if k in ("msg", "frame")}}

    def note_frame(self, raw: bytes) -> None:
        """The frame about to be handled (what `msg` and `frame` mean at an output stop)."""
        frame = frames.parse_at(raw, 0)
        self.extra = {"frame": frame, "msg": _decode(frame.type_id, frame.payload)}

    # ------------------------------------------------------------------ pdb

    def _stop_here(self, frame: FrameType) -> None:
        """Interact at `frame` (an app's, or the replay's before a frame); the trace goes
        on from there as the command says."""
        if sys.gettrace() is not None:  # already under this debugger (a frame break)
            self.interaction(frame, None)
            return
        # As bdb does from its trace function: the prompt runs untraced, and tracing
        # starts only if the command asks for more stops (n, s, r; not c).
        self.reset()
        f: FrameType | None = frame
        while f is not None:
            self.botframe = f
            f = f.f_back
        self.interaction(frame, None)
        if self.quitting or self.quit_replay:
            raise QuitReplay
        if self.stoplineno == -1 and not self.breaks:
            return  # continue: no tracing
        f = frame
        while f is not None:
            f.f_trace = self.trace_dispatch
            f = f.f_back
        sys.settrace(self.trace_dispatch)

    def after_frame(self) -> None:
        """Called by the replay after each frame: no tracing left on (a stop at an output
        traces the rest of its handler only)."""
        if sys.gettrace() is not None:
            sys.settrace(None)
        if self.quit_replay:
            raise QuitReplay

    def setup(self, f: FrameType | None, tb: Any) -> None:
        super().setup(f, tb)
        names = self.curframe_locals
        if isinstance(names, dict):  # a function's locals: a dict pdb keeps for the stop
            for k, v in self.extra.items():
                names.setdefault(k, v)

    def user_call(self, frame: FrameType, argument_list: Any) -> None:
        return  # stops land on lines, the first of the app's code: no '--Call--' stop

    def do_nextframe(self, arg: str) -> bool | None:
        """nf(nextframe)
        Go on to the next frame this app handles and stop in its handler."""
        self.next_frame = True
        return self.do_continue(arg)

    do_nf = do_nextframe

    def do_quit(self, arg: str) -> bool | None:
        """q(uit): end the replay here."""
        self.quit_replay = True
        return super().do_quit(arg)

    do_q = do_exit = do_quit


def decoded_fields(msg: Any) -> dict[str, Any]:
    """A message's fields as names (so an expression may say `exec_type == "rejected"`)."""
    fields = getattr(msg, "__struct_fields__", ())
    return {f: getattr(msg, f) for f in fields}


def _decode(type_id: int, payload: bytes) -> Any:
    try:
        return decode(type_id, payload)
    except (msgspec.DecodeError, ValueError) as e:
        return e


def _decode_record(rec: bytes | None) -> Any:
    """A comparable record (input-record layout, `recorded_comparable`) decoded."""
    if rec is None:
        return None
    length = int.from_bytes(rec[40:44], "little")
    return _decode(int.from_bytes(rec[4:6], "little"), rec[48:48 + length])


def _type_name(type_id: int) -> str:
    from sequencer.messages import type_name

    return type_name(type_id)


def _app_frame(frame: FrameType | None) -> FrameType:
    """The innermost frame of the app's own code at or above `frame` (what published)."""
    first = frame
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not any(_matches(name, pat) for pat in RUNTIME_MODULES):
            return frame
        frame = frame.f_back
    assert first is not None
    return first


def _matches(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern)
