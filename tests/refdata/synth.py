"""Small synthetic history in the recorded data's formats, for the stats, curve and plot tests.

`make_root(tmp)` writes a data root like `../shared/data`: `us_equities_2013-10`
with one symbol, AAA (daily bars; minute bars on D0..D3; ticks, trades and
quotes, on D1..D3), BBB with daily bars only, and `spy_minute_2011` with two
days (one in winter time, one in summer time, to exercise the UTC stamps).
"""

from __future__ import annotations

import datetime as dt
import math
import zipfile
from pathlib import Path

EQ = "us_equities_2013-10"
D0, D1, D2, D3 = (dt.date(2013, 10, d) for d in (4, 7, 8, 9))
OPEN_MS = 9 * 3_600_000 + 30 * 60_000
MIN = 60_000


def write_zip(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(path.stem + ".csv", "\n".join(lines) + ("\n" if lines else ""))
    return path


def daily_rows(n: int, end: dt.date, close0: int = 1_000_000) -> list[tuple[dt.date, int, int]]:
    """n weekday bars ending at `end`: closes alternating +1%/-1% in log terms, volume 1e6+i."""
    days: list[dt.date] = []
    d = end
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d -= dt.timedelta(days=1)
    days.reverse()
    out = []
    for i, day in enumerate(days):
        close = round(close0 * math.exp(0.01 * (i % 2)))
        out.append((day, close, 1_000_000 + 1_000 * i))
    return out


def write_daily(eq: Path, sym: str, rows: list[tuple[dt.date, int, int]]) -> Path:
    return write_zip(eq / "daily" / f"{sym.lower()}.zip",
                     [f"{d:%Y%m%d} 00:00,{c},{c},{c},{c},{v}" for d, c, v in rows])


def write_trades(eq: Path, sym: str, day: dt.date,
                 rows: list[tuple[float, int, int, str, str, int]]) -> Path:
    return write_zip(eq / "tick" / sym.lower() / f"{day:%Y%m%d}_trade.zip",
                     [f"{ms:g},{px},{sz},{ex},{cond},{sus}" for ms, px, sz, ex, cond, sus in rows])


def write_quotes(eq: Path, sym: str, day: dt.date,
                 rows: list[tuple[float, int, int, int, int, str]]) -> Path:
    return write_zip(eq / "tick" / sym.lower() / f"{day:%Y%m%d}_quote.zip",
                     [f"{ms:g},{bp},{bs},{ap},{as_},{ex},1,0"
                      for ms, bp, bs, ap, as_, ex in rows])


def write_minute_trades(eq: Path, sym: str, day: dt.date, vols: dict[int, int]) -> Path:
    """`vols`: minute after midnight -> volume."""
    return write_zip(eq / "minute" / sym.lower() / f"{day:%Y%m%d}_trade.zip",
                     [f"{m * MIN},100,100,100,100,{v}" for m, v in sorted(vols.items())])


def write_minute_quotes(eq: Path, sym: str, day: dt.date, bid: int, ask: int) -> Path:
    return write_zip(eq / "minute" / sym.lower() / f"{day:%Y%m%d}_quote.zip",
                     [f"{OPEN_MS + i * MIN},{bid},{bid},{bid},{bid},100,{ask},{ask},{ask},{ask},100"
                      for i in range(390)])


def tick_day(scale: int = 1) -> list[tuple[float, int, int, str, str, int]]:
    """A trade day with known parts (x scale):

    open auction 1,100 (Arca: pieces 1,000 and an official print 1,100: the
    larger counts) + 500 (NYSE cross at 09:31:43) = 1,600; close auction 3,000
    (NYSE cross at 16:00:47) + 100 (Nasdaq official close) = 3,100; 100 shares
    each continuous minute, 200 more at 09:30 and 15:59; a suspicious print, and
    prints before 09:30 and after 16:00 that count nowhere.
    """
    s = scale
    rows: list[tuple[float, int, int, str, str, int]] = [
        (8 * 3_600_000, 1_000_000, 700 * s, "P", "2000", 0),  # pre-market
        (OPEN_MS + 100, 1_000_000, 600 * s, "P", "20000040", 0),
        (OPEN_MS + 101, 1_000_000, 400 * s, "P", "20000040", 0),
        (OPEN_MS + 102, 1_000_000, 1_100 * s, "P", "4000000", 0),
        (OPEN_MS + 103_000, 1_000_000, 500 * s, "N", "40", 0),  # 09:31:43
        (OPEN_MS + 5 * MIN, 1_000_000, 9_999 * s, "D", "1", 1),  # suspicious
    ]
    for m in range(390):
        size = 100 + (200 if m in (0, 389) else 0)
        rows.append((OPEN_MS + m * MIN + 500.5, 1_000_000, size * s, "Q", "1", 0))
    rows += [
        (16 * 3_600_000 + 4_000, 1_000_000, 100 * s, "Q", "1000000", 0),
        (16 * 3_600_000 + 47_000, 1_000_000, 3_000 * s, "N", "80", 0),
        (17 * 3_600_000, 1_000_000, 800 * s, "P", "2000", 0),  # after hours
    ]
    return sorted(rows, key=lambda r: r[0])


def quote_day() -> list[tuple[float, int, int, int, int, str]]:
    """National best rows: 10.00 x 10.01 all day, the exchanges at the best changing."""
    rows: list[tuple[float, int, int, int, int, str]] = [
        (4 * 3_600_000, 0, 0, 1_001_000, 100, "P"),
        (4 * 3_600_000, 1_050_000, 100, 0, 0, "N"),  # N bids 10.50 early, then leaves
        (OPEN_MS - 1_000, 1_000_000, 100, 0, 0, "Q"),
        (OPEN_MS - 1_000, 0, 0, 1_001_000, 100, "K"),
    ]
    for i in range(1, 390):  # every minute the best moves between exchanges
        ex = "QPZ"[i % 3]
        rows.append((OPEN_MS + i * MIN, 1_000_000, 100 + i, 0, 0, ex))
        rows.append((OPEN_MS + i * MIN, 0, 0, 1_001_000, 100 + i, "KJY"[i % 3]))
    return rows


SPY_DAYS = (dt.date(2011, 1, 3), dt.date(2011, 3, 14))  # EST (UTC-5), EDT (UTC-4)


def spy_2011_volume(day_index: int, minute: int) -> int:
    """A U shape: heavier at the ends, one day twice the other's midday."""
    edge = 3_000 if minute in (0, 389) else 0
    return 1_000 + edge + 10 * abs(195 - minute) * (1 + day_index)


def write_spy_2011(root: Path) -> Path:
    folder = root / "spy_minute_2011"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, day in enumerate(SPY_DAYS):
        offset = 5 if day.month == 1 else 4
        for m in range(-10, 400):  # some bars outside the session too
            start = dt.datetime.combine(day, dt.time(9, 30)) + dt.timedelta(minutes=m)
            end_utc = start + dt.timedelta(minutes=1, hours=offset)
            v = spy_2011_volume(k, m) if 0 <= m < 390 else 77
            lines.append(f"{end_utc:%Y%m%d %H%M%S};1;1;1;1;{v}")
    (folder / "spy.csv").write_text("\n".join(lines) + "\n")
    return folder


def make_root(tmp: Path) -> Path:
    root = tmp / "data"
    eq = root / EQ
    write_daily(eq, "AAA", daily_rows(80, D3))
    write_daily(eq, "BBB", daily_rows(30, D3, close0=500_000))
    for k, day in enumerate((D1, D2, D3)):
        write_trades(eq, "AAA", day, tick_day(scale=k + 1))
        write_quotes(eq, "AAA", day, quote_day())
    for day in (D0, D1, D2, D3):
        # The bars differ from the ticks on purpose: a test sees which was read.
        write_minute_trades(eq, "AAA", day, {570 + m: 50 + m for m in range(390)})
        write_minute_quotes(eq, "AAA", day, 1_000_000, 1_002_000)
    write_spy_2011(root)
    return root
