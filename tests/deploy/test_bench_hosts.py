"""`tape bench hosts` with tiny counts: two network namespaces (root), one JSON line
whose figures are there and positive, and a run under 1% loss that lost packets on
the link yet delivered every message, in order."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from deploy.netlab import available


def test_cli_json_one_line() -> None:
    assert not available(), available()  # root, with ip and nft: the tests run as root here
    r = subprocess.run(
        [sys.executable, "-m", "deploy", "bench", "hosts", "--json", "--messages", "500",
         "--rtt-messages", "300", "--loss-messages", "500", "--loss-rtt-messages", "300"],
        capture_output=True, text=True, timeout=180, check=False, env={**os.environ})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    fig = json.loads(lines[0])
    for key in ("udp_msgs_per_s", "udp_rtt_p50_us", "udp_rtt_p99_us", "raw_udp_msgs_per_s",
                "raw_udp_rtt_p50_us", "loss1_msgs_per_s", "loss1_rtt_p99_us",
                "udp_to_raw_rate_ratio", "udp_to_raw_rtt_p50_ratio"):
        assert isinstance(fig[key], float) and math.isfinite(fig[key]) and fig[key] > 0, key
    assert isinstance(fig["target_rate_met"], bool) and isinstance(fig["target_rtt_met"], bool)
    assert fig["target_rate_ratio_min"] == 0.5 and fig["target_rtt_p50_ratio_max"] == 2.0
    assert fig["udp_to_raw_rate_ratio"] == fig["udp_msgs_per_s"] / fig["raw_udp_msgs_per_s"]
    # Without loss: everything through, in order, both paths.
    assert fig["udp_lost"] == 0 and fig["udp_gaps"] == 0
    assert fig["raw_udp_lost"] == 0 and fig["raw_udp_out_of_order"] == 0
    # Under 1% loss the link dropped packets, and still every message sent was received,
    # in order (no gap in the sequence, every source's numbers one after the other).
    assert fig["loss1_dropped_packets"] > 0
    assert fig["loss1_seen"] == fig["loss1_sent"] == 500
    assert fig["loss1_lost"] == 0 and fig["loss1_gaps"] == 0
    assert fig["loss1_rtt_lost"] == 0
