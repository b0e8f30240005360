"""`tape bench sequencer`: throughput and round trip of the sequencer over Aeron IPC.

Every role runs in its own process (`python -m deploy.bench.sequencer ROLE ...`):
the sequencer (with an embedded media driver), publishers, a subscriber, and
a round-trip prober. In the same run a raw pyaeron publisher-to-subscriber
pair and a raw ping-pong pair give the baseline that each figure is divided
by, since these machines are noisy and absolute numbers mean little alone.

Figures:
- `<policy>_msgs_per_s`: messages sequenced, journaled and seen by the
  subscriber per second, publishers offering as fast as they can; the
  subscriber checks there is no loss and no gap.
- `<policy>_rtt_p50_us` (p99, p99.9): from the prober's offer to seeing its own
  message sequenced, at a fixed offered rate (10,000/s by default);
  `<policy>_sat_rtt_p50_us` likewise with the prober offering flat out.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from deploy.procs import Proc, ProcGroup, remove_aeron_dir, tape_argv
from sequencer import sources

POLICIES = ("none", "group", "always")
PAYLOAD_FRAME_BYTES = 88  # an 80-byte header plus a Probe payload


def _pct(sorted_us: list[float], p: float) -> float:
    if not sorted_us:
        return float("nan")
    i = min(len(sorted_us) - 1, max(0, round(p / 100 * (len(sorted_us) - 1))))
    return sorted_us[i]


# ---------------------------------------------------------------- worker roles


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def role_publish(day: str, source_id: int, count: int) -> None:
    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID, encode
    from sequencer.messages.control import Probe
    from sequencer.transport import StreamPublisher, connect

    cfg = TransportConfig.for_day(Path(day))  # the day's own streams
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, source_id)
    tid = TYPE_ID[Probe]
    payloads = [encode(Probe(n=i)) for i in range(256)]
    _emit({"ready": True})
    sys.stdin.readline()
    t0 = time.perf_counter()
    for i in range(count):
        pub.publish_raw(tid, payloads[i & 255], timeout_s=60)
    t1 = time.perf_counter()
    _emit({"offered": count, "offer_s": t1 - t0})
    aeron.close()


def role_subscribe(day: str, expect: int, first_source: int) -> None:
    from sequencer.config import TransportConfig
    from sequencer.transport import StreamSubscriber, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    sub = StreamSubscriber(aeron, cfg, Path(day) / "journal", 1)
    # Catch up to the live position before saying ready.
    while sub.poll():
        pass
    _emit({"ready": True})
    seen = 0
    last_seq = sub.next_seq - 1
    gaps = 0
    t_first = t_last = 0.0
    per_source: dict[int, int] = {}
    out_of_order = 0
    unpack = struct.Struct("<8xQ16xI4xQ").unpack_from  # seq, source_id, source_seq
    deadline = time.monotonic() + 300
    while seen < expect and time.monotonic() < deadline:
        batch = sub.poll()
        if not batch:
            continue
        now = time.perf_counter()
        for raw in batch:
            seq, src, sseq = unpack(raw)
            if seq != last_seq + 1:
                gaps += 1
            last_seq = seq
            if src >= first_source:
                if sseq != per_source.get(src, 0) + 1:
                    out_of_order += 1
                per_source[src] = sseq
                if not seen:
                    t_first = now
                seen += 1
        t_last = now
    _emit({"seen": seen, "gaps": gaps, "out_of_order": out_of_order, "span_s": t_last - t_first,
           "gap_fills": sub.gap_fills, "last_seq": last_seq})
    aeron.close()


def role_rtt(day: str, source_id: int, count: int, rate: float) -> None:
    import pyaeron

    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID, encode
    from sequencer.messages.control import Probe
    from sequencer.transport import StreamPublisher, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, source_id)
    sub = aeron.add_subscription(cfg.output_channel, cfg.output_stream)
    sent: dict[int, int] = {}
    lat: list[float] = []
    clock = time.perf_counter_ns
    sid = source_id.to_bytes(4, "little")

    def on_chunk(buf: Any, _h: Any) -> None:
        now = clock()
        data = buf.tobytes()
        off = 0
        n = len(data)
        while off < n:
            length = 80 + int.from_bytes(data[off + 72 : off + 76], "little")
            if data[off + 32 : off + 36] == sid:
                sseq = int.from_bytes(data[off + 40 : off + 48], "little")
                t = sent.pop(sseq, None)
                if t is not None:
                    lat.append((now - t) / 1000)
            off += length

    tid = TYPE_ID[Probe]
    payload = encode(Probe(n=0))
    _emit({"ready": True})
    sys.stdin.readline()
    # The prober is the one process allowed to busy-spin (between its sends it polls);
    # the sequencer and the driver back off.
    period = 0 if rate <= 0 else int(1e9 / rate)
    warm = min(1000, count // 10)
    poll = sub.poll
    t_next = clock()
    for i in range(count + warm):
        if period:
            while clock() < t_next:
                poll(on_chunk, 64)
            t_next += period
        sseq = pub.next_source_seq
        if i >= warm:
            sent[sseq] = clock()
        pub.publish_raw(tid, payload, timeout_s=30)
        poll(on_chunk, 64)
    deadline = time.monotonic() + 10
    while sent and time.monotonic() < deadline:
        if not poll(on_chunk, 256):
            pyaeron.IdleStrategy.yielding().idle(0)
    lat.sort()
    _emit({"samples": len(lat), "lost": len(sent), "p50_us": _pct(lat, 50),
           "p99_us": _pct(lat, 99), "p999_us": _pct(lat, 99.9), "max_us": lat[-1] if lat else 0})
    aeron.close()


def role_raw_pub(aeron_dir: str, count: int) -> None:
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    pub = a.add_exclusive_publication("aeron:ipc", 2001)
    pub.await_connected()
    data = b"x" * PAYLOAD_FRAME_BYTES
    idle = pyaeron.IdleStrategy.backoff(max_park_ns=20_000)
    _emit({"ready": True})
    sys.stdin.readline()
    for _ in range(count):
        while not pub.offer(data):
            idle.idle(0)
    _emit({"offered": count})
    a.close()


def role_raw_sub(aeron_dir: str, count: int) -> None:
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription("aeron:ipc", 2001)
    got = [0]
    t = [0.0, 0.0]

    def h(buf: Any, _h: Any) -> None:
        buf.tobytes()
        if not got[0]:
            t[0] = time.perf_counter()
        got[0] += 1

    _emit({"ready": True})
    while got[0] < count:
        sub.poll(h, 4096)
    t[1] = time.perf_counter()
    _emit({"seen": got[0], "span_s": t[1] - t[0]})
    a.close()


def role_raw_echo(aeron_dir: str) -> None:
    import pyaeron

    from sequencer.config import TransportConfig
    from sequencer.transport import make_idle

    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription("aeron:ipc", 2002)
    pub = a.add_exclusive_publication("aeron:ipc", 2003)
    idle = make_idle(TransportConfig(aeron_dir=aeron_dir))  # the sequencer's own idle strategy
    stop = [False]

    def h(buf: Any, _h: Any) -> None:
        data = buf.tobytes()
        if data == b"stop":
            stop[0] = True
        while not pub.offer(data):
            pass

    _emit({"ready": True})
    while not stop[0]:
        idle.idle(sub.poll(h, 64))
    a.close()


def role_raw_ping(aeron_dir: str, count: int, rate: float) -> None:
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    pub = a.add_exclusive_publication("aeron:ipc", 2002)
    sub = a.add_subscription("aeron:ipc", 2003)
    pub.await_connected()
    sub.await_connected()
    lat: list[float] = []
    clock = time.perf_counter_ns
    sent: dict[bytes, int] = {}

    def h(buf: Any, _h: Any) -> None:
        now = clock()
        t = sent.pop(buf.tobytes()[:8], None)
        if t is not None:
            lat.append((now - t) / 1000)

    pad = b"x" * (PAYLOAD_FRAME_BYTES - 8)
    _emit({"ready": True})
    sys.stdin.readline()
    period = int(1e9 / rate)
    warm = min(1000, count // 10)
    t_next = clock()
    for i in range(count + warm):
        while clock() < t_next:
            sub.poll(h, 64)
        t_next += period
        key = i.to_bytes(8, "little")
        if i >= warm:
            sent[key] = clock()
        while not pub.offer(key + pad):
            pass
        sub.poll(h, 64)
    deadline = time.monotonic() + 5
    while sent and time.monotonic() < deadline:
        sub.poll(h, 64)
    while not pub.offer(b"stop"):
        pass
    lat.sort()
    _emit({"samples": len(lat), "p50_us": _pct(lat, 50), "p99_us": _pct(lat, 99),
           "p999_us": _pct(lat, 99.9)})
    a.close()


ROLES = {
    "publish": lambda a: role_publish(a[0], int(a[1]), int(a[2])),
    "subscribe": lambda a: role_subscribe(a[0], int(a[1]), int(a[2])),
    "rtt": lambda a: role_rtt(a[0], int(a[1]), int(a[2]), float(a[3])),
    "raw_pub": lambda a: role_raw_pub(a[0], int(a[1])),
    "raw_sub": lambda a: role_raw_sub(a[0], int(a[1])),
    "raw_echo": lambda a: role_raw_echo(a[0]),
    "raw_ping": lambda a: role_raw_ping(a[0], int(a[1]), float(a[2])),
}


# ---------------------------------------------------------------- orchestration


#: How long a worker may take to report: the subscriber gives up by itself after 300 s.
RESULT_TIMEOUT_S = 600.0


def _worker(procs: ProcGroup, role: str, *args: object) -> Proc:
    """A worker process (`python -m deploy.bench.sequencer ROLE ARGS`), once it is ready."""
    p = procs.spawn(role, [sys.executable, "-m", "deploy.bench.sequencer", role,
                           *map(str, args)])
    p.wait_ready(60)
    return p


def _finish(p: Proc, key: str) -> dict[str, Any]:
    """The worker's report (the line holding `key`), once it has exited."""
    r = p.expect(key, RESULT_TIMEOUT_S)
    p.wait(60)
    p.close()  # a run starts dozens of workers: their pipes go as they finish
    return r


class SequencerProc:
    """A sequencer on an embedded driver, with a day folder of its own under `root`."""

    def __init__(self, procs: ProcGroup, root: Path, policy: str, aeron_dir: str,
                 *extra: str) -> None:
        self.day = root / f"day-{policy}"
        self.aeron_dir = aeron_dir
        self.proc = procs.spawn(f"sequencer-{policy}", tape_argv(
            "sequencer", "run", "--day", str(self.day), "--aeron-dir", aeron_dir,
            "--driver", "embedded", "--fsync", policy, *extra))
        self.proc.wait_file(self.day / "sequencer.status.json", timeout=30,
                            what="the sequencer's status")

    def close(self) -> dict[str, Any]:
        """Stop it; its last status (counters)."""
        try:
            self.proc.stop(60)
            status: dict[str, Any] = json.loads((self.day / "sequencer.status.json").read_text())
        finally:
            shutil.rmtree(self.day, ignore_errors=True)
            remove_aeron_dir(self.aeron_dir)
        return status


def _throughput(procs: ProcGroup, day: Path, n: int, publishers: int) -> dict[str, Any]:
    per = n // publishers
    total = per * publishers
    sub = _worker(procs, "subscribe", day, total, sources.bench(0))
    pubs = [_worker(procs, "publish", day, sources.bench(i), per) for i in range(publishers)]
    for p in pubs:
        p.send("go")
    for p in pubs:
        _finish(p, "offered")
    r = _finish(sub, "seen")
    r["msgs_per_s"] = r["seen"] / r["span_s"] if r["span_s"] > 0 else 0.0
    r["expected"] = total
    return r


def _rtt(procs: ProcGroup, day: Path, n: int, rate: float, source: int) -> dict[str, Any]:
    w = _worker(procs, "rtt", day, source, n, rate)
    w.send("go")
    return _finish(w, "samples")


def run_bench(
    messages: int, always_messages: int, rtt_messages: int, rate: float, publishers: int,
    progress: Any = None, policies: tuple[str, ...] = POLICIES,
) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="tape-bench-seq-"))
    try:
        # Every process's stderr in root/logs: a failure quotes the tail of its log.
        with ProcGroup(root / "logs", stop_timeout=30.0) as procs:
            return _run(procs, root, messages, always_messages, rtt_messages, rate,
                        publishers, progress, policies)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(
    procs: ProcGroup, root: Path, messages: int, always_messages: int, rtt_messages: int,
    rate: float, publishers: int, progress: Any, policies: tuple[str, ...],
) -> dict[str, Any]:
    from sequencer.transport import start_driver, stop_driver

    res: dict[str, Any] = {}
    base_dir = f"/dev/shm/tape-bench-{os.getpid()}"
    steps = 2 + len(policies)

    def step(what: str) -> None:
        if progress is not None:
            progress(what, steps)

    # Raw baseline: two processes on one embedded driver.
    step("baseline")
    drv = start_driver(base_dir + "-raw")
    try:
        sub = _worker(procs, "raw_sub", drv.dir, messages)
        pub = _worker(procs, "raw_pub", drv.dir, messages)
        pub.send("go")
        _finish(pub, "offered")
        r = _finish(sub, "seen")
        res["baseline_msgs_per_s"] = r["seen"] / r["span_s"]
        echo = _worker(procs, "raw_echo", drv.dir)
        ping = _worker(procs, "raw_ping", drv.dir, rtt_messages, rate)
        ping.send("go")
        r = _finish(ping, "samples")
        echo.wait(30)  # the ping's last message told it to stop
        res["baseline_rtt_p50_us"] = r["p50_us"]
        res["baseline_rtt_p99_us"] = r["p99_us"]
        res["baseline_rtt_p999_us"] = r["p999_us"]
    finally:
        stop_driver(drv)

    for policy in policies:
        step(f"fsync {policy}")
        seqp = SequencerProc(procs, root, policy, f"{base_dir}-{policy}")
        try:
            n = always_messages if policy == "always" else messages
            t = _throughput(procs, seqp.day, n, publishers)
            res[f"{policy}_msgs_per_s"] = t["msgs_per_s"]
            res[f"{policy}_lost"] = t["expected"] - t["seen"]
            res[f"{policy}_gaps"] = t["gaps"] + t["out_of_order"]
            rn = rtt_messages if policy != "always" else min(rtt_messages, 2000)
            rrate = rate if policy != "always" else min(rate, 1000.0)
            r = _rtt(procs, seqp.day, rn, rrate, sources.bench(100))
            for k in ("p50", "p99", "p999"):
                res[f"{policy}_rtt_{k}_us"] = r[f"{k}_us"]
            res[f"{policy}_rtt_rate_per_s"] = rrate
            r = _rtt(procs, seqp.day, rn, 0, sources.bench(101))
            for k in ("p50", "p99", "p999"):
                res[f"{policy}_sat_rtt_{k}_us"] = r[f"{k}_us"]
        finally:
            status = seqp.close()
        res[f"{policy}_fsyncs"] = status["counters"]["fsyncs"]
        res[f"{policy}_duplicates"] = status["counters"]["duplicates"]
    step("done")
    base = res["baseline_msgs_per_s"]
    for policy in policies:
        res[f"{policy}_msgs_ratio"] = res[f"{policy}_msgs_per_s"] / base
        for k in ("p50", "p99", "p999"):
            b = res[f"baseline_rtt_{k}_us"]
            res[f"{policy}_rtt_{k}_ratio"] = res[f"{policy}_rtt_{k}_us"] / b
            res[f"{policy}_sat_rtt_{k}_ratio"] = res[f"{policy}_sat_rtt_{k}_us"] / b
    return res


TARGETS = {
    "group_msgs_per_s": (">=", 500_000),
    "none_rtt_p50_us": ("<=", 20),
    "none_rtt_p99_us": ("<=", 100),
}


def bench_sequencer(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    messages: Annotated[int, typer.Option(help="Messages per throughput run.")] = 1_000_000,
    always_messages: Annotated[int, typer.Option(help="Messages for fsync=always.")] = 5_000,
    rtt_messages: Annotated[int, typer.Option(help="Round trips per latency run.")] = 20_000,
    rate: Annotated[float, typer.Option(help="Offered rate for latency, msgs/s.")] = 10_000,
    publishers: Annotated[int, typer.Option(help="Publisher processes.")] = 1,
    quick: Annotated[bool, typer.Option(help="Small counts, for a smoke run.")] = False,
    policy: Annotated[
        list[str] | None, typer.Option(help="Only this fsync policy (repeatable).")
    ] = None,
) -> None:
    """Sequencer throughput and round trip per fsync policy, against raw pyaeron."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    if quick:
        messages, always_messages, rtt_messages = 50_000, 500, 2_000
    policies = tuple(policy) if policy else POLICIES
    bad = [p for p in policies if p not in POLICIES]
    if bad:
        raise typer.BadParameter(f"unknown policy {bad}; choose from {list(POLICIES)}")
    err = Console(stderr=True)
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("bench sequencer", total=2 + len(policies))

        def progress(what: str, _total: int) -> None:
            prog.update(task, description=f"bench sequencer: {what}", advance=1)

        res = run_bench(
            messages, always_messages, rtt_messages, rate, publishers, progress, policies
        )
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        return
    out = Console()
    t = Table(title="tape bench sequencer (Aeron IPC, separate processes)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("ratio to raw pyaeron", justify="right")
    t.add_column("target")
    base = res["baseline_msgs_per_s"]
    t.add_row("baseline msgs/s (raw pub->sub)", f"{base:,.0f}", "1.00", "")
    for p in policies:
        key = f"{p}_msgs_per_s"
        tgt = TARGETS.get(key)
        t.add_row(f"{p}: msgs/s (lost {res[f'{p}_lost']}, gaps {res[f'{p}_gaps']})",
                  f"{res[key]:,.0f}", f"{res[key] / base:.2f}",
                  f"{tgt[0]} {tgt[1]:,}" if tgt else "")
    for k in ("p50", "p99", "p999"):
        b = res[f"baseline_rtt_{k}_us"]
        t.add_row(f"baseline rtt {k} us (raw ping-pong)", f"{b:.1f}", "1.00", "")
        for p in policies:
            v = res[f"{p}_rtt_{k}_us"]
            tgt = TARGETS.get(f"{p}_rtt_{k}_us")
            t.add_row(f"{p}: rtt {k} us @ {res[f'{p}_rtt_rate_per_s']:,.0f}/s", f"{v:.1f}",
                      f"{v / b:.2f}", f"{tgt[0]} {tgt[1]}" if tgt else "")
        for p in policies:
            v = res[f"{p}_sat_rtt_{k}_us"]
            t.add_row(f"{p}: rtt {k} us at saturation", f"{v:.1f}", f"{v / b:.2f}", "")
    out.print(t)


if __name__ == "__main__":
    import gc

    gc.disable()  # a worker's own collections would show up as transport latency
    ROLES[sys.argv[1]](sys.argv[2:])
