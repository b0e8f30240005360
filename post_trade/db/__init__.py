"""The database writer: a day's stream in DuckDB (the default) or PostgreSQL.

`tape db run --day DAY` follows the day's stream as an app does and writes
every frame into typed tables, exactly once; `tape db query | views | load |
export | digest` read it back. The manual is `docs/db.md`.

- `schema`: the tables, read off the stream's message types (one per type,
  plus `frames`, the name tables and the writer's own), their SQL per
  database, the schema fingerprint a database is checked against, and the
  `v_<table>` views with prices as decimals;
- `batch`: frames into Arrow columns, one table per database table;
- `stores`: `DuckDbStore` and `PostgresStore` behind one `Store`: creation,
  the schema check, the one-writer claim, the transaction that writes a batch
  with the writer's position, queries;
- `views`: the canned views supervisors ask for (blotter, fills with the
  NBBO, client and venue activity, open orders, rejects, slowest orders);
- `load`: one-shot loads of journals (`tape db load`), the day's date and
  symbols, and the per-table `digest` that says two databases hold the same rows;
- `writer`: the live writer (batches by frame count and stream time, lag and
  its Alerts, the database going away and coming back, the status file);
- `service`: queries to a running writer, which holds its DuckDB file;
- `pgcluster`: a throwaway PostgreSQL cluster (tests, `tape bench db`);
- `cli`: `tape db ...`.

Imports: `sequencer` for the stream, `refdata.load` for the day's symbols;
nothing of the apps.
"""
