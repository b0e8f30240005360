"""What every feed adapter produces: a day of market data events as columns.

A `FeedBatch` holds quote and trade events for any number of symbols in
numpy columns, sorted by exchange time (ties keep the adapter's order). The
recorded-data reader, the user CSV reader and the simulator all produce one;
the ticker plant walks it in chunks of Python lists, which is what makes a
3.5-million-row day fast enough to stream.

Columns (one entry per event):

- `kind`: `QUOTE` (0) or `TRADE` (1)
- `t_ns`: exchange time, ns since the Unix epoch (UTC)
- `symbol`: index into `symbols` (names as the security master spells them)
- `exchange`: index into `exchanges` (SIP letters such as "N", or venue codes)
- `price`, `size`: the trade's price (fixed point, `PRICE_SCALE`) and shares;
  for a quote, its bid price and size
- `ask_px`, `ask_size`: a quote's ask (0 for a trade)
- `condition`: index into `conditions` (the vendor's condition text)
- `suspicious`: the vendor flagged the row as far from the market
- `line`: the row's line in its source file (for reports), 0 if generated

A quote row may update one side only: a side with size 0 and price 0 in a
vendor file that sends one side per row means "unchanged", which the plant
reads through `one_sided`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

QUOTE = 0
TRADE = 1

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
BOOL = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class BadRow:
    """A row an adapter could not read: reported and counted, never fatal."""

    file: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.why}"


@dataclass
class FeedBatch:
    symbols: tuple[str, ...]
    exchanges: tuple[str, ...]
    conditions: tuple[str, ...]
    kind: I8
    t_ns: I64
    symbol: I32
    exchange: I32
    price: I64
    size: I64
    ask_px: I64
    ask_size: I64
    condition: I32
    suspicious: BOOL
    line: I64
    one_sided: bool = False  # quotes update one side per row (the vendor format)
    bad: list[BadRow] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t_ns)

    @property
    def quote_rows(self) -> int:
        return int(np.count_nonzero(self.kind == QUOTE))

    @property
    def trade_rows(self) -> int:
        return int(np.count_nonzero(self.kind == TRADE))

    def chunks(self, size: int = 65_536) -> Iterator[tuple[list[int], ...]]:
        """The columns as Python lists, `size` rows at a time, in column order:
        kind, t_ns, symbol, exchange, price, size, ask_px, ask_size, condition,
        suspicious, line."""
        cols = (self.kind, self.t_ns, self.symbol, self.exchange, self.price, self.size,
                self.ask_px, self.ask_size, self.condition, self.suspicious, self.line)
        for start in range(0, len(self), size):
            yield tuple(c[start:start + size].tolist() for c in cols)

    def select(self, mask: npt.NDArray[np.bool_] | I64) -> FeedBatch:
        """The rows a boolean mask (or an index array) picks, in that order."""
        return FeedBatch(
            self.symbols, self.exchanges, self.conditions,
            self.kind[mask], self.t_ns[mask], self.symbol[mask], self.exchange[mask],
            self.price[mask], self.size[mask], self.ask_px[mask], self.ask_size[mask],
            self.condition[mask], self.suspicious[mask], self.line[mask],
            self.one_sided, list(self.bad), list(self.files),
        )


def empty() -> FeedBatch:
    z64 = np.zeros(0, np.int64)
    z32 = np.zeros(0, np.int32)
    return FeedBatch((), (), (), np.zeros(0, np.int8), z64, z32, z32, z64, z64, z64, z64,
                     z32, np.zeros(0, np.bool_), z64)


def _remap(codes: I32, names: Sequence[str], table: dict[str, int]) -> I32:
    """Codes into `names` turned into codes into the merged table (extended in place)."""
    lut = np.array([table.setdefault(n, len(table)) for n in names] or [0], np.int32)
    return lut[codes] if len(codes) else codes


def merge(batches: Sequence[FeedBatch]) -> FeedBatch:
    """One batch of all events in time order; equal times keep batch order, then row order."""
    if not batches:
        return empty()
    syms: dict[str, int] = {}
    exs: dict[str, int] = {}
    conds: dict[str, int] = {}
    parts = [
        (_remap(b.symbol, b.symbols, syms), _remap(b.exchange, b.exchanges, exs),
         _remap(b.condition, b.conditions, conds))
        for b in batches
    ]
    t = np.concatenate([b.t_ns for b in batches])
    order = np.argsort(t, kind="stable")

    def cat(name: str) -> Any:  # the column's own array type
        return np.concatenate([getattr(b, name) for b in batches])[order]

    return FeedBatch(
        tuple(syms), tuple(exs), tuple(conds),
        cat("kind"), t[order],
        np.concatenate([p[0] for p in parts])[order],
        np.concatenate([p[1] for p in parts])[order],
        cat("price"), cat("size"), cat("ask_px"), cat("ask_size"),
        np.concatenate([p[2] for p in parts])[order],
        cat("suspicious"), cat("line"),
        any(b.one_sided for b in batches),
        [r for b in batches for r in b.bad],
        [f for b in batches for f in b.files],
    )
