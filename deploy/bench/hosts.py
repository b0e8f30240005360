"""`tape bench hosts`: throughput and round trip over Aeron UDP between two hosts.

Two hosts, `a` and `b`, are Linux network namespaces on a bridge (`deploy.netlab`,
root only), each with its own standalone media driver (`tape driver`, the shared
thread with its default back-off). Every role runs in its own process inside its
host (`python -P deploy/bench/hosts.py ROLE ...`). In the same run:

- raw pyaeron, the baseline: a publisher on b offers 88-byte messages (the size of
  a sequenced Probe frame) one at a time to a relay on a, which offers what each
  poll brought on to a subscriber on b in one message (as the sequencer publishes
  its frames in chunks), over channels of the same kinds as the Tape path's, from
  the same function (`deploy.topology.channels`: unicast to a's endpoint; back to b
  by multi-destination cast with dynamic control, min flow control, 16 MiB terms
  and a 2 MiB receive window), on ports of their own;
- the Tape path: a `StreamPublisher` on b -> the sequencer on a (journal on a,
  a journal server beside it) -> a `StreamSubscriber` on b, which catches up
  through the journal server and checks there is no gap, no loss and every
  source's messages in order. The sequencer's fsync is `none` by default, as for
  the round-trip targets of `tape bench sequencer` (`none_rtt_p50_us`): this bench
  measures the network, and with `group` every round trip also waits for the next
  group commit (about +1.1 ms at the median here, the disk's cost, which `tape
  bench sequencer` reports as `group_rtt_p50_us`); `--fsync group` measures it;
- the Tape path again with 1% of the packets to and from b dropped at random in
  the switch (`lab.loss("b", 1)`), and the raw round trip under the same loss.

The raw baseline goes b -> a -> b, not b -> a, so that it is like the Tape path:
two trips across the link, one relaying process on a in the middle, publisher and
subscriber in two processes on b. Both paths' processes back off when idle (the
sequencer's own idle strategy, `sequencer.transport.make_idle`); none busy-spins,
since there are two cores for six processes.

Figures (as `tape bench sequencer` defines them):
- `*_msgs_per_s`: messages through per second, from the publisher's first offer
  to the subscriber seeing the last message (one clock: CLOCK_MONOTONIC), the
  publisher offering as fast as it can;
- `*_rtt_p50_us` (p99, p99.9): from the offer on b to seeing the message come back
  on b (sequenced, or relayed), at a fixed offered rate (2,000/s by default);
- `loss1_dropped_packets`: frames the two hosts sent minus frames they received
  while the loss was on (what the switch dropped, give or take a stray IPv6
  announcement of the bridge's).

Targets: the Tape rate at least half the raw one; its median round trip at most
twice the raw one.
"""

# determinism: edge module, benchmark tooling: network namespaces, processes, wall-clock timing

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from deploy.procs import Proc, ProcGroup, remove_aeron_dir, tape_argv

HOSTS = ("a", "b")
LAB_NAME = "bench"
LAB_SUBNET = 78  # 10.78.0.0/24: clear of the tests' labs (10.77...)
BASE_PORT = 40200  # Tape: +0 .. +6 (`deploy.topology.Network.ports`)
RAW_BASE_PORT = 40220  # raw pyaeron: the same layout (to a, a's control for the way back)
LOSS_PCT = 1.0
FRAME_BYTES = 88  # an 80-byte header plus a Probe payload: what a subscriber gets
RAW_IN_STREAM = 3001
RAW_OUT_STREAM = 3002
RELAY_CHUNK_BYTES = 32 << 10  # the sequencer's publish_chunk_bytes
RESULT_TIMEOUT_S = 300.0

#: A worker: this file run as a script, not `python -m deploy.bench.hosts`, which would
#: import the `deploy.bench` package and with it every bench (QuickFIX, numpy: two
#: seconds a worker on a busy machine); `-P` keeps this file's folder, whose modules
#: would shadow the top-level packages (`sequencer`), off `sys.path`.
WORKER_ARGV = (sys.executable, "-P", str(Path(__file__).resolve()))

TARGET_RATE_RATIO_MIN = 0.5
TARGET_RTT_P50_RATIO_MAX = 2.0


def _pct(sorted_us: list[float], p: float) -> float:
    if not sorted_us:
        return float("nan")
    i = min(len(sorted_us) - 1, max(0, round(p / 100 * (len(sorted_us) - 1))))
    return sorted_us[i]


# ---------------------------------------------------------------- worker roles


def _mono() -> float:
    """CLOCK_MONOTONIC, the one clock of every process on the machine (the hosts are
    network namespaces, not time namespaces): a publisher's start and a subscriber's
    end, read in two processes, make one span."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _emit(obj: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _idle() -> Any:
    """The sequencer's own idle strategy (back-off, then sleeps once traffic stops)."""
    from sequencer.config import TransportConfig
    from sequencer.transport import make_idle

    return make_idle(TransportConfig())


def _until(pred: Callable[[], Any], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.001)


def _on_term() -> list[bool]:
    """A flag SIGTERM sets, so a loop can end and close its Aeron client."""
    stop = [False]

    def handler(*_: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _offer(pub: Any, data: bytes, idle: Any, timeout_s: float = 30.0) -> None:
    """Offer until taken, backing off meanwhile (as `sequencer.transport.offer` does)."""
    if pub.offer(data):
        return
    deadline = time.monotonic() + timeout_s
    while not pub.offer(data):
        if time.monotonic() > deadline:
            raise SystemExit(f"could not offer to {pub.channel} for {timeout_s}s")
        idle.idle(0)
    idle.reset()


def role_relay(aeron_dir: str, in_channel: str, out_channel: str) -> None:
    """Raw baseline, on a: the messages from b offered on, unchanged, back to b; what one
    poll brought goes out as one message (up to `RELAY_CHUNK_BYTES`), as the sequencer
    publishes its frames in chunks."""
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription(in_channel, RAW_IN_STREAM)
    pub = a.add_exclusive_publication(out_channel, RAW_OUT_STREAM)
    idle = _idle()
    stop = _on_term()
    out = bytearray()
    relayed = 0

    def h(buf: Any, _h: Any) -> None:
        out.extend(buf.tobytes())
        if len(out) >= RELAY_CHUNK_BYTES:
            _offer(pub, bytes(out), idle)
            out.clear()

    _emit({"ready": True})
    while not stop[0]:
        n = sub.poll(h, 256)
        if out:
            _offer(pub, bytes(out), idle)
            out.clear()
        relayed += n
        idle.idle(n)
    _emit({"relayed": relayed})
    a.close()


def role_raw_pub(aeron_dir: str, channel: str, count: int) -> None:
    """Raw baseline, on b: `count` messages as fast as the relay takes them, numbered."""
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    pub = a.add_exclusive_publication(channel, RAW_IN_STREAM)
    _until(lambda: pub.is_connected, f"the relay on {channel}")
    pad = b"x" * (FRAME_BYTES - 8)
    idle = _idle()
    _emit({"ready": True})
    sys.stdin.readline()
    t0 = _mono()
    for i in range(count):
        _offer(pub, i.to_bytes(8, "little") + pad, idle)
    _emit({"offered": count, "t0": t0, "offer_s": _mono() - t0})
    a.close()


def role_raw_sub(aeron_dir: str, channel: str, count: int, timeout_s: float) -> None:
    """Raw baseline, on b: the relayed messages, checked in order."""
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    sub = a.add_subscription(channel, RAW_OUT_STREAM)
    _until(lambda: sub.is_connected, f"the relay's publication on {channel}")
    state = {"seen": 0, "out_of_order": 0}
    t_last = 0.0

    def h(buf: Any, _h: Any) -> None:
        data = buf.tobytes()
        n = state["seen"]
        for off in range(0, len(data), FRAME_BYTES):
            if int.from_bytes(data[off : off + 8], "little") != n:
                state["out_of_order"] += 1
            n += 1
        state["seen"] = n

    idle = _idle()
    _emit({"ready": True})
    deadline = time.monotonic() + timeout_s
    while state["seen"] < count and time.monotonic() < deadline:
        n = sub.poll(h, 256)
        if n:
            t_last = _mono()
        idle.idle(n)
    _emit({**state, "t_last": t_last})
    a.close()


def _rtt_loop(count: int, rate: float, send: Callable[[int], None],
              poll: Callable[[], int], sent: dict[int, int]) -> None:
    """Offer `count` (after a warm-up) at `rate` per second, polling for what comes back
    in between; the idle strategy backs off between two offers."""
    idle = _idle()
    clock = time.perf_counter_ns
    period = int(1e9 / rate)
    warm = min(1000, count // 10)
    t_next = clock()
    for i in range(count + warm):
        while clock() < t_next:
            idle.idle(poll())
        t_next += period
        send(i - warm)
        poll()
    deadline = time.monotonic() + 10
    while sent and time.monotonic() < deadline:
        idle.idle(poll())


def _rtt_report(lat: list[float], lost: int) -> dict[str, Any]:
    lat.sort()
    return {"samples": len(lat), "lost": lost, "p50_us": _pct(lat, 50),
            "p99_us": _pct(lat, 99), "p999_us": _pct(lat, 99.9),
            "max_us": lat[-1] if lat else 0.0}


def role_raw_ping(aeron_dir: str, out_channel: str, in_channel: str, count: int,
                  rate: float) -> None:
    """Raw baseline, on b: round trips through the relay at a fixed rate."""
    import pyaeron

    a = pyaeron.Aeron(dir=aeron_dir)
    pub = a.add_exclusive_publication(out_channel, RAW_IN_STREAM)
    sub = a.add_subscription(in_channel, RAW_OUT_STREAM)
    _until(lambda: pub.is_connected and sub.is_connected, "the relay")
    lat: list[float] = []
    clock = time.perf_counter_ns
    sent: dict[int, int] = {}

    def h(buf: Any, _h: Any) -> None:
        now = clock()
        data = buf.tobytes()
        for off in range(0, len(data), FRAME_BYTES):  # the relay may have joined a few
            t0 = sent.pop(int.from_bytes(data[off : off + 8], "little", signed=True), None)
            if t0 is not None:
                lat.append((now - t0) / 1000)

    pad = b"x" * (FRAME_BYTES - 8)
    idle = _idle()

    def send(i: int) -> None:
        data = i.to_bytes(8, "little", signed=True) + pad
        if i >= 0:
            sent[i] = clock()
        _offer(pub, data, idle)

    _emit({"ready": True})
    sys.stdin.readline()
    _rtt_loop(count, rate, send, lambda: int(sub.poll(h, 64)), sent)
    _emit(_rtt_report(lat, len(sent)))
    a.close()


def role_publish(day: str, source_id: int, count: int) -> None:
    """Tape path, on b: `count` Probes as one source, as fast as the sequencer takes them."""
    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID, encode
    from sequencer.messages.control import Probe
    from sequencer.transport import StreamPublisher, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, source_id)
    tid = TYPE_ID[Probe]
    payloads = [encode(Probe(n=i)) for i in range(256)]
    _emit({"ready": True})
    sys.stdin.readline()
    t0 = _mono()
    for i in range(count):
        pub.publish_raw(tid, payloads[i & 255], timeout_s=60)
    t1 = _mono()
    # Stay until the sequencer has taken everything (a resend it asks for comes from us).
    _emit({"offered": count, "t0": t0, "offer_s": t1 - t0, "resent": pub.resent,
           "refused": len(pub.refused)})
    sys.stdin.readline()
    aeron.close()


def role_subscribe(day: str, expect: int, first_source: int, from_seq: int,
                   timeout_s: float) -> None:
    """Tape path, on b: the sequenced stream from `from_seq`, checked (no gap, every
    source's messages in order), until `expect` messages of the bench's sources."""
    from sequencer.config import TransportConfig
    from sequencer.transport import StreamSubscriber, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    sub = StreamSubscriber(aeron, cfg, Path(day) / "journal", from_seq)
    idle = _idle()
    # Catch up (through a's journal server), then wait until the live stream flows here
    # (the sequencer's clock ticks, ten a second), so that no message is timed through
    # a gap fill.
    deadline = time.monotonic() + 30
    while not sub.from_live:
        if time.monotonic() > deadline:
            raise SystemExit("no live frame from the sequencer within 30 s")
        idle.idle(len(sub.poll()))
    _emit({"ready": True})
    seen = gaps = out_of_order = 0
    last_seq = sub.next_seq - 1
    t_last = 0.0
    per_source: dict[int, int] = {}
    unpack = struct.Struct("<8xQ16xI4xQ").unpack_from  # seq, source_id, source_seq
    deadline = time.monotonic() + timeout_s
    while seen < expect and time.monotonic() < deadline:
        batch = sub.poll()
        idle.idle(len(batch))
        if not batch:
            continue
        now = _mono()
        for raw in batch:
            seq, src, sseq = unpack(raw)
            if seq != last_seq + 1:
                gaps += 1
            last_seq = seq
            if src >= first_source:
                if sseq != per_source.get(src, 0) + 1:
                    out_of_order += 1
                per_source[src] = sseq
                seen += 1
        t_last = now
    _emit({"seen": seen, "gaps": gaps, "out_of_order": out_of_order,
           "t_last": t_last, "gap_fills": sub.gap_fills,
           "remote_reads": sub.remote_reads, "from_journal": sub.from_journal,
           "last_seq": last_seq})
    aeron.close()


def role_rtt(day: str, source_id: int, count: int, rate: float) -> None:
    """Tape path, on b: from offering a Probe to seeing it sequenced, at a fixed rate."""
    from sequencer.config import TransportConfig
    from sequencer.messages import TYPE_ID, encode
    from sequencer.messages.control import Probe
    from sequencer.transport import StreamPublisher, connect

    cfg = TransportConfig.for_day(Path(day))
    aeron = connect(cfg)
    pub = StreamPublisher(aeron, cfg, source_id)
    sub = aeron.add_subscription(cfg.output_subscription, cfg.output_stream)
    _until(lambda: sub.is_connected, "the sequencer's output")
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
                t0 = sent.pop(sseq, None)
                if t0 is not None:
                    lat.append((now - t0) / 1000)
            off += length

    tid = TYPE_ID[Probe]
    payload = encode(Probe(n=0))

    def send(i: int) -> None:
        if i >= 0:
            sent[pub.next_source_seq] = clock()
        pub.publish_raw(tid, payload, timeout_s=30)

    _emit({"ready": True})
    sys.stdin.readline()
    _rtt_loop(count, rate, send, lambda: int(sub.poll(on_chunk, 64)), sent)
    _emit(_rtt_report(lat, len(sent)))
    aeron.close()


def _main(argv: Sequence[str]) -> None:
    p = argparse.ArgumentParser(prog="python -P deploy/bench/hosts.py",
                                description="A worker of `tape bench hosts`.")
    roles = p.add_subparsers(dest="role", required=True)
    r = roles.add_parser("relay")
    r.add_argument("aeron_dir")
    r.add_argument("in_channel")
    r.add_argument("out_channel")
    r = roles.add_parser("raw_pub")
    r.add_argument("aeron_dir")
    r.add_argument("channel")
    r.add_argument("count", type=int)
    r = roles.add_parser("raw_sub")
    r.add_argument("aeron_dir")
    r.add_argument("channel")
    r.add_argument("count", type=int)
    r.add_argument("timeout_s", type=float)
    r = roles.add_parser("raw_ping")
    r.add_argument("aeron_dir")
    r.add_argument("out_channel")
    r.add_argument("in_channel")
    r.add_argument("count", type=int)
    r.add_argument("rate", type=float)
    r = roles.add_parser("publish")
    r.add_argument("day")
    r.add_argument("source_id", type=int)
    r.add_argument("count", type=int)
    r = roles.add_parser("subscribe")
    r.add_argument("day")
    r.add_argument("expect", type=int)
    r.add_argument("first_source", type=int)
    r.add_argument("from_seq", type=int)
    r.add_argument("timeout_s", type=float)
    r = roles.add_parser("rtt")
    r.add_argument("day")
    r.add_argument("source_id", type=int)
    r.add_argument("count", type=int)
    r.add_argument("rate", type=float)
    a = p.parse_args(argv)
    if a.role == "relay":
        role_relay(a.aeron_dir, a.in_channel, a.out_channel)
    elif a.role == "raw_pub":
        role_raw_pub(a.aeron_dir, a.channel, a.count)
    elif a.role == "raw_sub":
        role_raw_sub(a.aeron_dir, a.channel, a.count, a.timeout_s)
    elif a.role == "raw_ping":
        role_raw_ping(a.aeron_dir, a.out_channel, a.in_channel, a.count, a.rate)
    elif a.role == "publish":
        role_publish(a.day, a.source_id, a.count)
    elif a.role == "subscribe":
        role_subscribe(a.day, a.expect, a.first_source, a.from_seq, a.timeout_s)
    else:
        role_rtt(a.day, a.source_id, a.count, a.rate)


# ---------------------------------------------------------------- orchestration


class HostProc(Proc):
    """A process inside one of the lab's hosts, in a session (process group) of its own
    (`setsid`, which execs without forking since a fresh child leads no group: the
    process group's id is the child's pid), so that stopping it stops whatever it
    started too."""

    def __init__(self, name: str, argv: Sequence[str], log_dir: Path,
                 env: Mapping[str, str] | None = None) -> None:
        super().__init__(name, ["setsid", *argv], log_dir, env)

    def _killpg(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            if self.alive():  # not yet in a group of its own (setsid had not run)
                self.popen.send_signal(sig)

    def stop(self, timeout: float = 20.0) -> int:
        if self.alive():
            self._killpg(signal.SIGCONT)
            self._killpg(signal.SIGTERM)
            try:
                rc = self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg(signal.SIGKILL)
                rc = self._reap()
        else:
            rc = self._reap()
        self._killpg(signal.SIGKILL)  # anything of its group still there
        return rc

    def kill9(self) -> int:
        self._killpg(signal.SIGKILL)
        return self._reap()


class Hosts:
    """The lab's two hosts, each with its media driver, and the processes started on
    them (stopped in the reverse of their start order)."""

    def __init__(self, lab: Any, procs: ProcGroup, tag: str) -> None:
        self.lab = lab
        self.procs = procs
        self.aeron_dirs = {h: f"/dev/shm/{tag}-{h}" for h in HOSTS}

    def env(self, host: str) -> dict[str, str]:
        return {"TAPE_HOST": host, "TAPE_AERON_DIR": self.aeron_dirs[host]}

    def spawn(self, host: str, name: str, argv: Sequence[str]) -> HostProc:
        return self.procs.add(HostProc(self.procs.unique_name(f"{host}-{name}"),
                                       self.lab.argv(host, argv), self.procs.log_dir,
                                       self.env(host)))

    def workers(self, *specs: tuple[str, str, Sequence[object]]) -> list[HostProc]:
        """Workers (`WORKER_ARGV ROLE ARGS`), each (host, role, args),
        started side by side; once all are ready."""
        ps = [self.spawn(host, role, [*WORKER_ARGV, role, *map(str, args)])
              for host, role, args in specs]
        for p in ps:
            p.wait_ready(60)
        return ps

    def start_drivers(self) -> None:
        """A standalone media driver per host (`tape driver`, its module run directly:
        the `tape` command's imports take seconds on a busy machine)."""
        from sequencer.transport import driver_active

        drivers = [self.spawn(h, "driver", [sys.executable, "-m", "sequencer.driver",
                                            "--aeron-dir", self.aeron_dirs[h]])
                   for h in HOSTS]
        for h, p in zip(HOSTS, drivers, strict=True):
            p.wait_until(functools.partial(driver_active, self.aeron_dirs[h]),
                         f"the media driver of host {h}", timeout=30)

    def link_packets(self) -> int:
        """Frames the hosts sent minus frames they received, so far."""
        total = 0
        for h in HOSTS:
            r = self.lab.run(h, ["ip", "-j", "-s", "link", "show", "eth0"])
            stats = json.loads(r.stdout)[0]["stats64"]
            total += int(stats["tx"]["packets"]) - int(stats["rx"]["packets"])
        return total

    def cleanup(self) -> None:
        from sequencer.driver import pid_file

        for d in self.aeron_dirs.values():
            remove_aeron_dir(d)
            pid_file(d).unlink(missing_ok=True)


def _rate(n: int, span_s: float) -> float:
    return n / span_s if span_s > 0 else 0.0


def _finish(p: Proc, key: str) -> dict[str, Any]:
    """The worker's report (the line holding `key`), once it has exited."""
    r = p.expect(key, RESULT_TIMEOUT_S)
    p.wait(60)
    p.close()
    return r


def _channels(a_addr: str, base_port: int = BASE_PORT) -> dict[str, Any]:
    """The day's transport across the two hosts (the sequencer on a), exactly as a
    multi-host topology derives it (`deploy.topology.channels`)."""
    from deploy.topology import Network, channels

    return channels("a", a_addr, Network(base_port=base_port))


def _toml(cfg: Mapping[str, Any], fsync: str) -> str:
    lines = ["[sequencer]", 'driver = "external"', f'fsync = "{fsync}"', "",
             "[sequencer.transport]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in cfg.items()]
    return "\n".join(lines) + "\n"


class Paths:
    """The two paths measured: raw pyaeron through the relay, and the Tape day."""

    def __init__(self, hosts: Hosts, day: Path) -> None:
        a_addr = hosts.lab.address("a")
        self.hosts = hosts
        self.day = day
        self.b_dir = hosts.aeron_dirs["b"]
        # The raw path on channels of the same kinds as the day's (unicast in, MDC back
        # with the same flow control, term and window), on ports of its own.
        raw = _channels(a_addr, RAW_BASE_PORT)
        self.to_a = raw["input_channel"]
        self.relay_out = raw["output_channel"]
        self.from_a = raw["output_sub_channel"]
        self.timeout_s = RESULT_TIMEOUT_S - 60

    def raw_throughput(self, n: int) -> dict[str, Any]:
        sub, pub = self.hosts.workers(("b", "raw_sub", (self.b_dir, self.from_a, n,
                                                        self.timeout_s)),
                                      ("b", "raw_pub", (self.b_dir, self.to_a, n)))
        pub.send("go")
        offered = _finish(pub, "offered")
        r = _finish(sub, "seen")
        r["msgs_per_s"] = _rate(r["seen"], r["t_last"] - offered["t0"])
        r["expected"] = n
        return r

    def raw_rtt(self, n: int, rate: float) -> dict[str, Any]:
        (w,) = self.hosts.workers(("b", "raw_ping", (self.b_dir, self.to_a, self.from_a, n,
                                                     rate)))
        w.send("go")
        return _finish(w, "samples")

    def tape_throughput(self, n: int, source: int) -> dict[str, Any]:
        from sequencer.sources import bench

        status = json.loads((self.day / "sequencer.status.json").read_text())
        sub, pub = self.hosts.workers(
            ("b", "subscribe", (self.day, n, bench(0), status["last_seq"] + 1,
                                self.timeout_s)),
            ("b", "publish", (self.day, source, n)))
        pub.send("go")
        offered = pub.expect("offered", RESULT_TIMEOUT_S)
        r = _finish(sub, "seen")
        pub.send("done")  # the publisher stayed, in case the sequencer asked for a resend
        pub.wait(60)
        pub.close()
        r["msgs_per_s"] = _rate(r["seen"], r["t_last"] - offered["t0"])
        r["expected"] = n
        r["resent"] = offered["resent"]
        return r

    def tape_rtt(self, n: int, rate: float, source: int) -> dict[str, Any]:
        (w,) = self.hosts.workers(("b", "rtt", (self.day, source, n, rate)))
        w.send("go")
        return _finish(w, "samples")


def run_bench(messages: int, rtt_messages: int, rate: float, loss_messages: int,
              loss_rtt_messages: int, fsync: str = "none",
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    from deploy.netlab import NetLab

    root = Path(tempfile.mkdtemp(prefix="tape-bench-hosts-"))
    hosts: Hosts | None = None
    try:
        with NetLab(list(HOSTS), name=LAB_NAME, subnet=LAB_SUBNET) as lab, \
                ProcGroup(root / "logs", stop_timeout=20.0) as procs:
            # Every process's stderr in root/logs: a failure quotes the tail of its log.
            hosts = Hosts(lab, procs, f"tape-bench-hosts-{os.getpid()}")
            return _run(hosts, root, messages, rtt_messages, rate, loss_messages,
                        loss_rtt_messages, fsync, progress or (lambda _w: None))
    finally:
        if hosts is not None:
            hosts.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _run(hosts: Hosts, root: Path, messages: int, rtt_messages: int, rate: float,
         loss_messages: int, loss_rtt_messages: int, fsync: str,
         step: Callable[[str], None]) -> dict[str, Any]:
    from sequencer.journal_server import STATUS_FILE as JS_STATUS_FILE
    from sequencer.sources import bench

    lab = hosts.lab
    res: dict[str, Any] = {"hosts": 2, "frame_bytes": FRAME_BYTES, "rtt_rate_per_s": rate,
                           "loss_pct": LOSS_PCT, "messages": messages,
                           "loss_messages": loss_messages, "fsync": fsync,
                           "raw_path": "b->a->b"}
    t_start = time.monotonic()

    step("media drivers")
    hosts.start_drivers()

    # Everything on a at once (their start-up takes seconds): the sequencer (journal on
    # a), its journal server, and the raw baseline's relay.
    step("sequencer, journal server, relay")
    day = root / "day"
    day.mkdir()
    (day / "seq.toml").write_text(_toml(_channels(lab.address("a")), fsync))
    paths = Paths(hosts, day)
    seq = hosts.spawn("a", "sequencer", tape_argv(
        "sequencer", "run", "--day", str(day), "--config", str(day / "seq.toml"),
        "--aeron-dir", hosts.aeron_dirs["a"], "--driver", "external"))
    js = hosts.spawn("a", "journal-server", tape_argv("journal", "serve", "--day", str(day)))
    hosts.workers(("a", "relay", (hosts.aeron_dirs["a"], paths.to_a, paths.relay_out)))
    seq.wait_file(day / "sequencer.status.json", lambda s: s.get("state") == "running",
                  timeout=60, what="the sequencer's status")
    js.wait_file(day / JS_STATUS_FILE, timeout=60, what="the journal server's status")
    res["setup_s"] = time.monotonic() - t_start

    # Throughput: raw pyaeron (b -> relay on a -> b), then the Tape path (publisher on
    # b -> sequencer on a -> subscriber on b); then the round trips, raw then Tape, one
    # right after the other (this machine's load drifts).
    step("throughput")
    r = paths.raw_throughput(messages)
    res["raw_udp_msgs_per_s"] = r["msgs_per_s"]
    res["raw_udp_lost"] = r["expected"] - r["seen"]
    res["raw_udp_out_of_order"] = r["out_of_order"]
    t = paths.tape_throughput(messages, bench(0))
    res["udp_msgs_per_s"] = t["msgs_per_s"]
    res["udp_lost"] = t["expected"] - t["seen"]
    res["udp_gaps"] = t["gaps"] + t["out_of_order"]
    res["udp_gap_fills"] = t["gap_fills"]
    step("round trip")
    r = paths.raw_rtt(rtt_messages, rate)
    for k in ("p50", "p99", "p999"):
        res[f"raw_udp_rtt_{k}_us"] = r[f"{k}_us"]
    r = paths.tape_rtt(rtt_messages, rate, bench(100))
    for k in ("p50", "p99", "p999"):
        res[f"udp_rtt_{k}_us"] = r[f"{k}_us"]

    # The same with 1% of the packets to and from b dropped in the switch.
    step(f"{LOSS_PCT:g}% loss")
    before = hosts.link_packets()
    lab.loss("b", LOSS_PCT)
    try:
        t = paths.tape_throughput(loss_messages, bench(1))
        r = paths.tape_rtt(loss_rtt_messages, rate, bench(101))
        rr = paths.raw_rtt(loss_rtt_messages, rate)
    finally:
        lab.heal()
    res["loss1_dropped_packets"] = max(0, hosts.link_packets() - before)
    res["loss1_msgs_per_s"] = t["msgs_per_s"]
    res["loss1_sent"] = t["expected"]
    res["loss1_seen"] = t["seen"]
    res["loss1_lost"] = t["expected"] - t["seen"]
    res["loss1_gaps"] = t["gaps"] + t["out_of_order"]
    res["loss1_gap_fills"] = t["gap_fills"]
    res["loss1_resent"] = t["resent"]
    for k in ("p50", "p99", "p999"):
        res[f"loss1_rtt_{k}_us"] = r[f"{k}_us"]
        res[f"raw_loss1_rtt_{k}_us"] = rr[f"{k}_us"]
    res["loss1_rtt_lost"] = r["lost"]

    step("done")
    res["udp_to_raw_rate_ratio"] = res["udp_msgs_per_s"] / res["raw_udp_msgs_per_s"]
    res["udp_to_raw_rtt_p50_ratio"] = res["udp_rtt_p50_us"] / res["raw_udp_rtt_p50_us"]
    res["udp_to_raw_rtt_p99_ratio"] = res["udp_rtt_p99_us"] / res["raw_udp_rtt_p99_us"]
    res["loss1_to_raw_rtt_p99_ratio"] = res["loss1_rtt_p99_us"] / res["raw_loss1_rtt_p99_us"]
    res["target_rate_ratio_min"] = TARGET_RATE_RATIO_MIN
    res["target_rtt_p50_ratio_max"] = TARGET_RTT_P50_RATIO_MAX
    res["target_rate_met"] = res["udp_to_raw_rate_ratio"] >= TARGET_RATE_RATIO_MIN
    res["target_rtt_met"] = res["udp_to_raw_rtt_p50_ratio"] <= TARGET_RTT_P50_RATIO_MAX
    res["total_s"] = time.monotonic() - t_start
    return res


def bench_hosts(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object on one line.")] = False,
    messages: Annotated[int, typer.Option(help="Messages per throughput run.")] = 500_000,
    rtt_messages: Annotated[int, typer.Option(help="Round trips per latency run.")] = 20_000,
    rate: Annotated[float, typer.Option(help="Offered rate for latency, msgs/s.")] = 2_000,
    loss_messages: Annotated[
        int, typer.Option(help="Messages for the throughput run under 1% loss.")] = 200_000,
    loss_rtt_messages: Annotated[
        int, typer.Option(help="Round trips per latency run under 1% loss.")] = 20_000,
    fsync: Annotated[str, typer.Option(help="The sequencer's fsync policy: always | group | "
                                            "none (the network alone).")] = "none",
) -> None:
    """Throughput and round trip over Aeron UDP between two network namespaces, against
    raw pyaeron over the same links; then with 1% loss (root only)."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from deploy.netlab import available

    err = Console(stderr=True)
    why = available() or ("" if shutil.which("setsid") else "`setsid` is not installed")
    if why:
        err.print(f"tape bench hosts: cannot make the hosts here: {why}", highlight=False)
        raise typer.Exit(2)
    if min(messages, rtt_messages, loss_messages, loss_rtt_messages) < 1 or rate <= 0:
        raise typer.BadParameter("counts and the rate must be positive")
    if fsync not in ("always", "group", "none"):
        raise typer.BadParameter(f"unknown fsync policy {fsync!r}: always | group | none")
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("bench hosts", total=6)

        def progress(what: str) -> None:
            prog.update(task, description=f"bench hosts: {what}", advance=1)

        res = run_bench(messages, rtt_messages, rate, loss_messages, loss_rtt_messages,
                        fsync, progress)
    if json_:
        print(json.dumps(res, separators=(",", ":")))
        return
    out = Console()
    t = Table(title="tape bench hosts (Aeron UDP between two network namespaces, b -> a -> b)")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_column("ratio to raw pyaeron", justify="right")
    t.add_column("target")
    base = res["raw_udp_msgs_per_s"]
    t.add_row("raw msgs/s (pub b -> relay a -> sub b)", f"{base:,.0f}", "1.00", "")
    t.add_row(f"tape msgs/s (pub b -> sequencer a -> sub b; lost {res['udp_lost']}, "
              f"gaps {res['udp_gaps']})", f"{res['udp_msgs_per_s']:,.0f}",
              f"{res['udp_to_raw_rate_ratio']:.2f}",
              f">= {TARGET_RATE_RATIO_MIN} {'met' if res['target_rate_met'] else 'MISSED'}")
    t.add_row(f"tape msgs/s at {LOSS_PCT:g}% loss (lost {res['loss1_lost']}, gaps "
              f"{res['loss1_gaps']}, {res['loss1_dropped_packets']} packets dropped)",
              f"{res['loss1_msgs_per_s']:,.0f}", f"{res['loss1_msgs_per_s'] / base:.2f}", "")
    for k in ("p50", "p99", "p999"):
        b = res[f"raw_udp_rtt_{k}_us"]
        t.add_row(f"raw rtt {k} us @ {rate:,.0f}/s", f"{b:.1f}", "1.00", "")
        v = res[f"udp_rtt_{k}_us"]
        tgt = ""
        if k == "p50":
            tgt = (f"<= {TARGET_RTT_P50_RATIO_MAX} x raw "
                   f"{'met' if res['target_rtt_met'] else 'MISSED'}")
        t.add_row(f"tape rtt {k} us @ {rate:,.0f}/s", f"{v:.1f}", f"{v / b:.2f}", tgt)
        rl = res[f"raw_loss1_rtt_{k}_us"]
        t.add_row(f"raw rtt {k} us at {LOSS_PCT:g}% loss", f"{rl:.1f}", f"{rl / b:.2f}", "")
        v = res[f"loss1_rtt_{k}_us"]
        t.add_row(f"tape rtt {k} us at {LOSS_PCT:g}% loss", f"{v:.1f}", f"{v / b:.2f}", "")
    out.print(t)


if __name__ == "__main__":
    import gc

    gc.disable()  # a worker's own collections would show up as transport latency
    _main(sys.argv[1:])
