"""Fixtures of the database tests: one PostgreSQL cluster for the session (`pg`), and
`store_factory`, the contract tests' two back ends."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from post_trade.db.pgcluster import Cluster, cluster
from post_trade.db.stores import Store, open_store

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg() -> Iterator[Cluster]:
    with cluster() as c:
        yield c


#: What a contract test gets: a function that opens a new database of the back end for a
#: day folder (PostgreSQL: a new database each call), and the URL it used (None for
#: DuckDB, whose file is the day's).
StoreFactory = Callable[[Path], tuple[Store, str | None]]


@pytest.fixture(params=["duckdb", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    opened: list[Store] = []
    c: Cluster | None = request.getfixturevalue("pg") if backend == "postgres" else None

    def make(day: Path) -> tuple[Store, str | None]:
        url = c.fresh_db(f"t{next(_names)}") if c is not None else None
        s = open_store(day, url)
        opened.append(s)
        return s, url

    yield make
    for s in opened:
        s.close()
