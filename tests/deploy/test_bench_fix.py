"""`tape bench fix` end to end on a small scale: the figures are there, named with
their units, and no order was lost on the way (the bench's own checks). No
timing is asserted: the figures are the bench's business."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, child_env

pytestmark = pytest.mark.slow


def test_bench_fix_reports_every_figure_and_loses_nothing() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "deploy", "bench", "fix", "--json", "--seconds", "0.3",
         "--orders", "300", "--window", "100", "--no-group"],
        cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("orders_per_s", "p50_us", "p99_us", "p999_us", "baseline_p50_us",
                "baseline_orders_per_s", "latency_ratio", "throughput_ratio"):
        assert isinstance(res[key], float) and res[key] > 0, key
    assert res["p50_us"] <= res["p99_us"] <= res["p999_us"]
    assert (res["lost"], res["venue_lost"]) == (0, 0)
    assert res["latency_orders"] == 300 and res["burst_orders"] == 300
    assert res["fsync"] == "none" and "group_p50_us" not in res
    assert set(res["cpu_us_per_order"]) == {"sequencer", "oms", "algo", "venue_sim",
                                             "venue_gw", "client_gw", "bench_client"}


def test_bench_fix_refuses_bad_usage() -> None:
    r = subprocess.run([sys.executable, "-m", "deploy", "bench", "fix", "--fsync", "sometimes"],
                       cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 2 and "--fsync" in r.stderr


def test_order_tool_refuses_an_unknown_session() -> None:
    r = subprocess.run([sys.executable, "-m", "deploy", "gateway", "order", "--session", "NOPE",
                        "--symbol", "IBM", "--side", "buy", "--qty", "100", "--venue", "ARCX"],
                       cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 2 and "NOPE" in r.stderr
