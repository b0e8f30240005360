"""`tape bench post-trade` on a small generated order day: one JSON line whose figures
carry their units, every report written, the ratio against the decode-only pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def test_cli_json_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "deploy", "bench", "post-trade", "--json",
                        "--oms-messages", "20000", "--no-recorded"], capture_output=True,
                       text=True, timeout=600, check=False, env={**os.environ})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    fig = json.loads(lines[0])
    assert fig["orders_frames"] > 20_000
    assert fig["post_trade_s"] > 0 and fig["decode_s"] > 0
    # the seconds are rounded to 1 ms: the ratio of the rounded figures, within 2%
    assert fig["post_trade_ratio"] == pytest.approx(fig["post_trade_s"] / fig["decode_s"],
                                                    rel=0.02)
    assert fig["orders_files"] >= 15  # every report wrote its files
    assert fig["target_ratio"] == 8.0 and isinstance(fig["target_met"], bool)
