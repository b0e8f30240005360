"""Reference data: the day's security master, venues, statistics, curves and tables.

Once per session date, `tape refdata build --date D --out DIR` combines
delimited source files and (where present) the recorded market data into one
ref data set: `DIR/refdata.json`, whose SHA-256 digest goes into the day's
`SystemStart`, and `DIR/manifest.json`. Apps read it, never write it, as
`ctx.refdata` (a `refdata.model.RefData`).

What lives where:

- `model`: the set's types (`RefDataSet`, `Symbol`, `Venue`, `Destination`,
  `SymbolStats`, `VolumeCurve`, `Table`) and `RefData`, the loaded set with
  its lookups. The only module apps need.
- `files`: reading delimited files (header, delimiter, `#` comments), the
  column types rows are validated with, and `RefDataError`, whose problems
  each name file, line, column and what was expected.
- `config`: the ref data config (TOML): source paths, curve parameters,
  declared tables (`[tables.NAME]`: any delimited file, typed by column).
- `build`: reads and cross-checks the sources, assigns symbol ids (the
  1-based position in name order), merges statistics and curves, and writes
  the set atomically (nothing is written unless all of it is good).
- `load`: `load(dir) -> RefData` (checking the digest against the manifest),
  `digest_of(dir)`, `verify(dir)`.
- `stats`, `curves`, `history`: symbol statistics and volume curves from
  history strictly before the session date; `plot` draws curves.
- `cli`: `tape refdata build | show | verify`.
- `defaults/`: the shipped sources (listings, venues, destinations, the
  restricted list, an example declared table `borrow.csv`), default figures
  for statistics and the volume curve, and `refdata.toml`, so the system runs
  where the recorded data is absent.

Imports: the app-facing `model` and `load` import nothing outside `refdata`
and `sequencer`, so an app that reads ref data brings no market data code in.
The offline builders (`build`, `stats`, `curves`, `history`, `plot`) read the
recorded market data through `marketdata`'s reader: the one arrow that runs
back up, on purpose (DESIGN.md), checked by `tests/test_house.py`.
"""
