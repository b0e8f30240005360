"""The volume-curve plot and `tape refdata curve SYMBOL`.

The plot is drawn with matplotlib's object API on the Agg canvas (no pyplot,
no screen needed): the curve's shares per bin as bars over the clock times of
the regular session, each history day's shares at the same bin width as a
thin line over them, and the two auctions in a panel of their own on the
right (their own scale: a closing auction is worth ten or more minutes).

`tape refdata curve SYMBOL` computes the curve from the recorded history
before `--date` the way a ref data build does (the symbol's blend with the
shipped default curve, or that default itself, "*", drawn against the days
it was built from), or takes it from a built set (`--refdata`), writes the
PNG and prints the head of its bins. Exit codes: 0
done, 2 bad usage (bin width outside 1..30, unknown symbol, bad date or
path), 1 a failure (unreadable data or set, the PNG not written).
"""

# determinism: edge module, offline tooling: draws curves to files

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from refdata.model import REGULAR_OPEN_MS, VolumeCurve
from sequencer.cli import _fail, err, out

SESSION_MINUTES = 390
OPEN_MINUTE = REGULAR_OPEN_MS // 60_000


def clock(minute: int) -> str:
    """'09:30' for minute 0 of the session."""
    m = OPEN_MINUTE + minute
    return f"{m // 60:02d}:{m % 60:02d}"


def _bin(minutes: tuple[float, ...] | list[float], bin_minutes: int) -> list[float]:
    return [sum(minutes[i:i + bin_minutes]) for i in range(0, len(minutes), bin_minutes)]


def plot_curve(curve: VolumeCurve, bin_minutes: int, out: Path, *, title: str = "") -> Path:
    """Write the curve at `bin_minutes` (1 to 30) against its history days as a PNG at `out`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shares = curve.binned(bin_minutes)  # checks the bin width
    starts = list(range(0, SESSION_MINUTES, bin_minutes))
    widths = [min(bin_minutes, SESSION_MINUTES - s) for s in starts]
    days = [d for d in curve.day_shares if len(d) == SESSION_MINUTES + 2]

    fig = Figure(figsize=(12, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax, aux = fig.subplots(1, 2, width_ratios=[7, 1.3])

    ax.bar(starts, [100 * s for s in shares], width=widths, align="edge", color="#4c72b0",
           alpha=0.35, linewidth=0, zorder=1)
    # Each day: a dash per bin at coarse widths, a thin line through the bins'
    # midpoints at fine ones (many days stay legible either way).
    alpha = max(0.12, min(0.6, 3.0 / max(len(days), 1)))
    mids = [s + w / 2 for s, w in zip(starts, widths, strict=True)]
    for i, d in enumerate(days):
        day_ys = [100 * s for s in _bin(list(d[1:-1]), bin_minutes)]
        label = f"history days ({len(days)})" if i == 0 else None
        if bin_minutes >= 10:
            ax.hlines(day_ys, [s + 0.15 * w for s, w in zip(starts, widths, strict=True)],
                      [s + 0.85 * w for s, w in zip(starts, widths, strict=True)],
                      color="#dd8452", linewidth=1.2, alpha=alpha, zorder=2, label=label)
        else:
            ax.plot(mids, day_ys, color="#dd8452", linewidth=0.8, alpha=alpha, zorder=2,
                    label=label)
    ys = [100 * s for s in shares]
    ax.step([*starts, SESSION_MINUTES], [*ys, ys[-1]], where="post", color="#1f3b73",
            linewidth=1.6, zorder=3, label=f"curve ({curve.symbol})")
    ax.set_xlim(0, SESSION_MINUTES)
    ax.set_ylim(bottom=0)
    ticks = list(range(0, SESSION_MINUTES + 1, 30))
    ax.set_xticks(ticks, [clock(t) for t in ticks])
    ax.set_xlabel("New York time (bin start)")
    ax.set_ylabel(f"share of the day's volume per {bin_minutes}-minute bin (%)")
    ax.grid(axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    legend = ax.legend(handles[::-1], labels[::-1], loc="upper center", ncols=2,
                       framealpha=0.9)
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(0.9)

    names = ["open\nauction", "close\nauction"]
    values = [100 * curve.open_auction, 100 * curve.close_auction]
    bars = aux.bar([0, 1], values, width=0.6, color=["#55a868", "#c44e52"], alpha=0.75)
    for d in days:
        aux.plot([0, 1], [100 * d[0], 100 * d[-1]], linestyle="none", marker="_",
                 markersize=22, markeredgewidth=1.5, color="#dd8452", alpha=alpha, zorder=3)
    for b, v in zip(bars, values, strict=True):
        aux.text(b.get_x() + b.get_width() / 2, v / 2, f"{v:.2f}%", ha="center",
                 va="center", fontsize=9, color="white", fontweight="bold", zorder=4)
    aux.set_xticks([0, 1], names)
    aux.set_xlim(-0.6, 1.6)
    top = max([*values, *(100 * x for d in days for x in (d[0], d[-1]))], default=1.0)
    aux.set_ylim(0, top * 1.2 or 1.0)
    aux.set_ylabel("share of the day's volume (%)")
    aux.grid(axis="y", alpha=0.3)

    n_days = len(curve.days)
    head = title or (f"{curve.symbol} volume curve, {bin_minutes}-minute bins"
                     f" ({n_days} history day{'s' if n_days != 1 else ''})")
    fig.suptitle(head, fontsize=13)
    if curve.source:
        ax.set_title(_wrap(curve.source, 150), fontsize=8, color="#555555", loc="left")
    out = Path(out)
    fig.savefig(out, format="png")
    return out


def _wrap(text: str, width: int) -> str:
    lines: list[str] = []
    cur = ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return "\n".join(lines)


# ---------------------------------------------------------------- tape refdata curve


def _data_paths(data: Path | None) -> tuple[Path | None, Path | None]:
    """(data root, `us_equities_2013-10` folder) from `--data` or the default place."""
    from marketdata.recorded import default_data_dir
    from refdata.curves import EQUITIES

    if data is None:
        root = default_data_dir()
        return (root, root / EQUITIES) if (root / EQUITIES).is_dir() else (None, None)
    if not data.is_dir():
        raise _fail(f"--data {data}: no such folder", 2)
    if (data / EQUITIES).is_dir():
        return data, data / EQUITIES
    if (data / "tick").is_dir() or (data / "minute").is_dir() or (data / "daily").is_dir():
        return data.parent, data
    raise _fail(f"--data {data}: neither the recorded data root nor its {EQUITIES} folder", 2)


def _last_history_day(equities: Path, symbol: str) -> dt.date | None:
    from refdata import history as h

    if symbol == "*":
        tick = equities / "tick"
        syms = sorted(p.name for p in tick.iterdir() if p.is_dir()) if tick.is_dir() else []
    else:
        syms = [symbol]
    days = [d for s in syms for kind in ("trade", "quote")
            for d in (*h.tick_days(equities, s, kind), *h.minute_days(equities, s, kind))]
    return max(days) if days else None


def _curve_from_set(path: Path, symbol: str) -> tuple[VolumeCurve, dt.date]:
    import msgspec

    from refdata.model import RefDataSet

    file = path / "refdata.json" if path.is_dir() else path
    if not file.is_file():
        raise _fail(f"--refdata {path}: no refdata.json there", 2)
    try:
        data = msgspec.json.decode(file.read_bytes(), type=RefDataSet)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        raise _fail(f"{file}: cannot read the ref data set: {e}", 1) from None
    curves = {c.symbol: c for c in data.curves}
    names = {s.name for s in data.symbols}
    if symbol != "*" and symbol not in names and symbol not in curves:
        raise _fail(f"{symbol!r} is not in the ref data set {file}", 2)
    if "*" not in curves and symbol not in curves:
        raise _fail(f"{file}: no curve for {symbol!r} and no default curve", 1)
    return curves.get(symbol) or curves["*"], data.session_date


def _computed_curve(symbol: str, date_opt: str | None, data: Path | None
                    ) -> tuple[VolumeCurve, dt.date | None]:
    from refdata import history as h
    from refdata.curves import DEFAULTS_DIR, load_default_curve, symbol_curve
    from refdata.stats import load_default_stats

    root, equities = _data_paths(data)
    date: dt.date | None = None
    if date_opt is not None:
        try:
            date = dt.date.fromisoformat(date_opt)
        except ValueError:
            raise _fail(f"--date {date_opt!r} is not a date (YYYY-MM-DD)", 2) from None
    if symbol != "*":
        known = set(load_default_stats(DEFAULTS_DIR / "stats.csv"))
        if symbol not in known and not h.has_history(equities, symbol):
            where = f"the recorded data ({equities})" if equities else "the shipped defaults"
            raise _fail(f"unknown symbol {symbol!r}: not in {where}", 2)
    default = load_default_curve(DEFAULTS_DIR / "curve.csv")
    if equities is None:
        return default, date
    if date is None:
        last = _last_history_day(equities, symbol)
        date = last + dt.timedelta(days=1) if last else None
    own = symbol_curve(equities, symbol, date, default) \
        if symbol != "*" and date is not None else None
    return (own if own is not None else _with_history_days(default, root)), date


def _with_history_days(default: VolumeCurve, root: Path | None) -> VolumeCurve:
    """The shipped default curve with the per-day shares of the history it came from.

    For the plot only: the figures stay the shipped ones (what a build uses);
    the days are recomputed from the data as of the day after the last day the
    curve lists. Without that data the curve is drawn without day lines.
    """
    import msgspec

    from refdata.curves import SPY_2011, default_curve_from_history
    from refdata.history import HistoryError

    if root is None or not (root / SPY_2011).is_dir() or not default.days:
        return default
    try:
        as_of = dt.date.fromisoformat(max(default.days)) + dt.timedelta(days=1)
        hist = default_curve_from_history(root, before=as_of)
    except (HistoryError, OSError, ValueError):
        return default
    return msgspec.structs.replace(default, day_shares=hist.day_shares)


def curve_cmd(
    symbol: Annotated[str, typer.Argument(help="The symbol, or '*' for the default curve.")],
    out_file: Annotated[Path, typer.Option("--out", help="The PNG to write.")] = Path(
        "curve.png"),
    date: Annotated[str | None, typer.Option(
        "--date", help="Session date (YYYY-MM-DD): history strictly before it is used. "
                       "Default: the day after the last history day.")] = None,
    bin_minutes: Annotated[int, typer.Option("--bin", help="Bin width, 1 to 30 minutes.")] = 5,
    refdata: Annotated[Path | None, typer.Option(
        "--refdata", help="A built ref data set (folder or refdata.json) to take the curve "
                          "from instead of computing it.")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="The recorded data root (default: $TAPE_DATA_DIR or ../shared/data).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Plot a symbol's volume curve against the history days it was built from."""
    from refdata.history import HistoryError

    if not 1 <= bin_minutes <= 30:
        raise _fail(f"--bin {bin_minutes}: the bin width must be 1 to 30 minutes", 2)
    session: dt.date | None
    try:
        if refdata is not None:
            curve, session = _curve_from_set(refdata, symbol)
        else:
            curve, session = _computed_curve(symbol, date, data)
    except (HistoryError, OSError, ValueError) as e:
        raise _fail(str(e), 1) from None
    note = "" if curve.symbol == symbol else " (no curve of its own: the default \"*\")"
    name = 'the default ("*")' if symbol == "*" else symbol
    title = (f"{name} volume curve{note}, {bin_minutes}-minute bins"
             + (f", as of {session.isoformat()}" if session else "")
             + f" ({len(curve.days)} history days)")
    try:
        png = plot_curve(curve, bin_minutes, out_file, title=title)
    except (OSError, ValueError) as e:
        raise _fail(f"cannot write {out_file}: {e}", 1) from None
    bins = curve.binned(bin_minutes)
    if json_:
        doc: dict[str, Any] = {
            "symbol": symbol, "curve": curve.symbol,
            "date": session.isoformat() if session else None,
            "bin_minutes": bin_minutes, "png": str(png), "source": curve.source,
            "days": list(curve.days), "open_auction": curve.open_auction,
            "close_auction": curve.close_auction,
            "bins": [{"start": clock(i * bin_minutes), "share": round(s, 6)}
                     for i, s in enumerate(bins)],
        }
        out.print_json(json.dumps(doc))
        return
    out.print(f"wrote [bold]{png}[/bold]", highlight=False)
    out.print(f"{title}; {curve.source}", highlight=False, soft_wrap=True)
    t = Table(title=f"shares per {bin_minutes}-minute bin (head)")
    t.add_column("bin", justify="right")
    t.add_column("from")
    t.add_column("share %", justify="right")
    t.add_row("", "open auction", f"{100 * curve.open_auction:.3f}")
    head = 6
    for i, s in enumerate(bins[:head]):
        t.add_row(str(i), clock(i * bin_minutes), f"{100 * s:.3f}")
    if len(bins) > head + 1:
        t.add_row("...", "", "")
    if len(bins) > head:
        t.add_row(str(len(bins) - 1), clock((len(bins) - 1) * bin_minutes),
                  f"{100 * bins[-1]:.3f}")
    t.add_row("", "close auction", f"{100 * curve.close_auction:.3f}")
    out.print(t)
    if not curve.day_shares:
        err.print("note: the curve carries no per-day shares, so no history lines are drawn",
                  highlight=False)
