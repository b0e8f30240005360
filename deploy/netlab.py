"""A network of hosts on one machine: Linux network namespaces joined by a bridge.

The multi-host tests and `tape bench hosts` need real network stacks between the
parts of a day, without several machines. `NetLab` makes them (root only):

- one namespace per host (`tape-<lab>-<host>`), its `eth0` a veth whose peer sits
  on a bridge in a switch namespace of its own (`tape-<lab>-sw`), so the machine's
  own network is never touched; each host has an address of 10.<n>.0.0/24 and
  multicast routed to its eth0;
- faults on a host's link, applied in the switch (nftables, bridge family), so the
  host sees a lossy network and not errors from its own stack: `loss(host, pct)`
  drops that share of the packets to and from the host at random, `cut(host)` all
  of them, `heal(host)` neither.

- `delay(host, ms, jitter_ms)`: every UDP packet the host sends and receives held
  for `ms` plus or minus up to `jitter_ms` (uniform, from a seed), so that packets
  closer together than the jitter come out of order. The kernel here has no `netem`
  queueing discipline (CONFIG_NET_SCH_NETEM is not set), so the packets are queued
  to user space instead (iptables' NFQUEUE in the host's namespace) and let go by
  `Delayer`, a process in that namespace speaking nfnetlink_queue itself; it counts
  what it held and what it let go out of order. If it dies, packets pass
  (`--queue-bypass`).

`run(host, argv)` and `popen(host, argv)` run a command inside a host
(`ip netns exec`). `close()` removes everything; a lab left behind by a killed
run is removed by the next one of the same name.
"""

# determinism: edge module, test and benchmark tooling that configures the kernel

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class LabError(RuntimeError):
    """The lab cannot be made here (not root, no `ip` or `nft`)."""


def available() -> str:
    """Empty when a lab can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "iptables-legacy"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, nftables, iptables)"
    return ""


def _sh(argv: Sequence[str], check: bool = True, input: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, input=input,
                       check=False)
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


class NetLab:
    """Hosts as network namespaces on a bridge. Use as a context manager."""

    def __init__(self, hosts: Sequence[str], name: str = "lab", subnet: int = 77) -> None:
        why = available()
        if why:
            raise LabError(why)
        if not 1 <= len(hosts) <= 200:
            raise ValueError("1 to 200 hosts")
        self.name = name
        self.switch = f"tape-{name}-sw"
        self.hosts: dict[str, str] = {h: f"10.{subnet}.0.{i + 1}" for i, h in enumerate(hosts)}
        self._faults: dict[str, str] = {}
        self._delayers: dict[str, subprocess.Popen[bytes]] = {}
        self._up = False

    # ---- names

    def ns(self, host: str) -> str:
        return f"tape-{self.name}-{host}"

    def address(self, host: str) -> str:
        return self.hosts[host]

    def _port(self, host: str) -> str:
        # The veth's end on the bridge (interface names have at most 15 characters).
        return f"tl{self.name[:4]}{list(self.hosts).index(host)}"

    # ---- life

    def __enter__(self) -> NetLab:
        self.open()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def open(self) -> None:
        self.close()  # what a killed run left behind
        _sh(["ip", "netns", "add", self.switch])
        self._up = True
        sw = ["ip", "-n", self.switch]
        _sh([*sw, "link", "add", "br0", "type", "bridge"])
        _sh([*sw, "link", "set", "br0", "up"])
        _sh([*sw, "link", "set", "lo", "up"])
        for host, addr in self.hosts.items():
            ns, port = self.ns(host), self._port(host)
            _sh(["ip", "netns", "add", ns])
            _sh(["ip", "link", "add", port, "netns", self.switch, "type", "veth",
                 "peer", "name", "eth0", "netns", ns])
            _sh([*sw, "link", "set", port, "master", "br0"])
            _sh([*sw, "link", "set", port, "up"])
            h = ["ip", "-n", ns]
            _sh([*h, "link", "set", "lo", "up"])
            _sh([*h, "addr", "add", f"{addr}/24", "dev", "eth0"])
            _sh([*h, "link", "set", "eth0", "up"])
            _sh([*h, "route", "add", "224.0.0.0/4", "dev", "eth0"])
        # One table in the switch for the faults; the bridge forwards everything else.
        _sh(["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input=(
            "table bridge lab {\n"
            "  chain faults { type filter hook forward priority 0; policy accept; }\n"
            "}\n"))

    def close(self) -> None:
        for d in self._delayers.values():
            _stop(d)
        self._delayers.clear()
        for host in self.hosts:
            _sh(["ip", "netns", "del", self.ns(host)], check=False)
        _sh(["ip", "netns", "del", self.switch], check=False)  # takes the bridge and veths
        self._up = False
        self._faults.clear()

    # ---- faults

    def _apply(self) -> None:
        rules = []
        for host, rule in self._faults.items():
            port = self._port(host)
            rules.append(f"iifname {port} {rule}")
            rules.append(f"oifname {port} {rule}")
        body = "\n".join(f"    {r}" for r in rules)
        _sh(["ip", "netns", "exec", self.switch, "nft", "-f", "-"], input=(
            "flush chain bridge lab faults\n"
            f"table bridge lab {{\n  chain faults {{\n{body}\n  }}\n}}\n"))

    def loss(self, host: str, pct: float) -> None:
        """Drop `pct` percent of the packets to and from `host`, at random."""
        if not 0 < pct < 100:
            raise ValueError("loss is a percentage between 0 and 100")
        per_10k = round(pct * 100)
        self._faults[host] = f"numgen random mod 10000 < {per_10k} drop"
        self._apply()

    def cut(self, host: str) -> None:
        """Drop every packet to and from `host` (its link is cut)."""
        self._faults[host] = "drop"
        self._apply()

    def heal(self, host: str | None = None) -> None:
        """No fault on `host`'s link (every host's, without one)."""
        if host is None:
            self._faults.clear()
        else:
            self._faults.pop(host, None)
        self._apply()

    def delay(self, host: str, ms: float, jitter_ms: float = 0.0, seed: int = 1,
              report: Path | None = None) -> None:
        """Hold every UDP packet to and from `host` for `ms` +- `jitter_ms`."""
        if not 0 <= jitter_ms <= ms <= 1000:
            raise ValueError("delay: 0 <= jitter <= delay <= 1000 ms")
        self.undelay(host)
        queue = 100 + list(self.hosts).index(host)
        for chain in ("OUTPUT", "INPUT"):
            _sh(["ip", "netns", "exec", self.ns(host), "iptables-legacy", "-A", chain, "-p",
                 "udp", "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"])
        argv = [sys.executable, "-m", "deploy.netlab", "delayer", "--queue", str(queue),
                "--ms", str(ms), "--jitter-ms", str(jitter_ms), "--seed", str(seed)]
        if report is not None:
            argv += ["--report", str(report)]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        p = subprocess.Popen(self.argv(host, argv), env=env, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._delayers[host] = p
        line = p.stderr.readline().decode() if p.stderr is not None else ""
        if not line.startswith("delayer ready"):
            _stop(p)
            raise LabError(f"the delayer on {host} did not start: {line.strip()}")

    def undelay(self, host: str) -> None:
        """No delay on `host` (what was held is let go at once)."""
        for chain in ("OUTPUT", "INPUT"):
            _sh(["ip", "netns", "exec", self.ns(host), "iptables-legacy", "-F", chain],
                check=False)
        d = self._delayers.pop(host, None)
        if d is not None:
            _stop(d)

    def dropped(self) -> str:
        """The switch's fault rules as nft lists them (for a report)."""
        return _sh(["ip", "netns", "exec", self.switch, "nft", "list", "chain", "bridge",
                    "lab", "faults"]).stdout

    # ---- running things on a host

    def argv(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def run(self, host: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(host, argv), capture_output=True, text=True,
                              check=False, **kw)

    def popen(self, host: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
              log: Path | None = None, **kw: Any) -> subprocess.Popen[bytes]:
        out: Any = subprocess.DEVNULL
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            out = open(log, "ab")  # noqa: SIM115 - the child holds it; closed with the process
        return subprocess.Popen(self.argv(host, argv), stdout=out, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None,
                                start_new_session=True, **kw)


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# ---------------------------------------------------------------- the delayer (NFQUEUE)

_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_QUEUE = 3
_MSG_PACKET, _MSG_VERDICT, _MSG_CONFIG = 0, 1, 2
_CFG_CMD, _CFG_PARAMS, _CFG_QUEUE_MAXLEN = 1, 2, 3
_CMD_BIND, _CMD_PF_BIND, _CMD_PF_UNBIND = 1, 3, 4
_PACKET_HDR, _VERDICT_HDR = 1, 2
_NF_ACCEPT = 1
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NLHDR = struct.Struct("=IHHII")  # length, type, flags, seq, port id


def _attr(kind: int, payload: bytes) -> bytes:
    a = struct.pack("=HH", 4 + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


class Delayer:
    """Holds the packets of an NFQUEUE queue and lets each go after its delay.

    nfnetlink_queue spoken directly (no library): bind the queue, ask for packet
    metadata only (the verdict needs the packet's id, not its bytes), then for each
    packet a verdict of accept once its time has come. Verdicts may be given in any
    order: a packet drawn a shorter delay overtakes one queued before it."""

    def __init__(self, queue: int, ms: float, jitter_ms: float, seed: int) -> None:
        self.queue = queue
        self.delay_s = ms / 1000
        self.jitter_s = jitter_ms / 1000
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self._seq = 0
        self.held = 0
        self.released = 0
        self.reordered = 0
        self._last_arrival = -1  # arrival number of the last packet let go
        self._heap: list[tuple[float, int, int]] = []  # (due, arrival number, packet id)
        self._arrivals = 0
        af = socket.AF_INET
        self._config(0, _attr(_CFG_CMD, struct.pack("=BB", _CMD_PF_UNBIND, 0)
                              + struct.pack(">H", af)))
        self._config(0, _attr(_CFG_CMD, struct.pack("=BB", _CMD_PF_BIND, 0)
                              + struct.pack(">H", af)))
        self._config(queue, _attr(_CFG_CMD, struct.pack("=BB", _CMD_BIND, 0)
                                  + struct.pack(">H", af)))
        self._config(queue, _attr(_CFG_PARAMS, struct.pack(">IB", 0, 1))  # metadata only
                     + _attr(_CFG_QUEUE_MAXLEN, struct.pack(">I", 1 << 16)))

    def _send(self, kind: int, res_id: int, attrs: bytes) -> None:
        self._seq += 1
        body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", res_id) + attrs
        msg_type = (_NFNL_SUBSYS_QUEUE << 8) | kind
        self.sock.send(_NLHDR.pack(16 + len(body), msg_type, _NLM_F_REQUEST, self._seq, 0)
                       + body)

    def _config(self, res_id: int, attrs: bytes) -> None:
        self._send(_MSG_CONFIG, res_id, attrs)

    def _take(self, data: bytes) -> None:
        now = time.monotonic()
        off = 0
        while off + 16 <= len(data):
            length, msg_type, _flags, _seq, _pid = _NLHDR.unpack_from(data, off)
            if length < 16:
                break
            if msg_type == (_NFNL_SUBSYS_QUEUE << 8) | _MSG_PACKET:
                a = off + 20  # past the netlink and nfgen headers
                end = off + length
                while a + 4 <= end:
                    alen, akind = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if akind & 0x7FFF == _PACKET_HDR:
                        pid = struct.unpack_from(">I", data, a + 4)[0]
                        due = now + self.delay_s + self.rng.uniform(-self.jitter_s,
                                                                     self.jitter_s)
                        heapq.heappush(self._heap, (due, self._arrivals, pid))
                        self._arrivals += 1
                        self.held += 1
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3

    def _release(self) -> None:
        now = time.monotonic()
        while self._heap and self._heap[0][0] <= now:
            _due, n, pid = heapq.heappop(self._heap)
            if n < self._last_arrival:
                self.reordered += 1
            self._last_arrival = max(self._last_arrival, n)
            self._send(_MSG_VERDICT, self.queue,
                       _attr(_VERDICT_HDR, struct.pack(">II", _NF_ACCEPT, pid)))
            self.released += 1

    def run(self, stop: list[bool]) -> None:
        while not stop[0]:
            wait = max(0.0, self._heap[0][0] - time.monotonic()) if self._heap else 0.2
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                # ENOBUFS: the kernel dropped some notices; those packets pass (bypass).
                with contextlib.suppress(OSError):
                    self._take(self.sock.recv(1 << 20))
            self._release()
        self.delay_s = self.jitter_s = 0.0
        self._release()


def _delayer_main(args: argparse.Namespace) -> None:
    stop = [False]

    def _end(*_: object) -> None:
        stop[0] = True

    signal.signal(signal.SIGTERM, _end)
    signal.signal(signal.SIGINT, _end)
    d = Delayer(args.queue, args.ms, args.jitter_ms, args.seed)
    print(f"delayer ready on queue {args.queue}", file=sys.stderr, flush=True)
    try:
        d.run(stop)
    finally:
        if args.report:
            Path(args.report).write_text(json.dumps(
                {"held": d.held, "released": d.released, "reordered": d.reordered}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m deploy.netlab")
    sub = ap.add_subparsers(dest="what", required=True)
    dl = sub.add_parser("delayer", help="hold an NFQUEUE queue's packets (inside a host)")
    dl.add_argument("--queue", type=int, required=True)
    dl.add_argument("--ms", type=float, required=True)
    dl.add_argument("--jitter-ms", type=float, default=0.0)
    dl.add_argument("--seed", type=int, default=1)
    dl.add_argument("--report", default="")
    _delayer_main(ap.parse_args())
