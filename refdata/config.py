"""The ref data config file (TOML): where the sources are, and declared tables.

    bin_minutes = 5            # default bin width of volume curves, 1..30
    delimiter = ","            # of the files under [files]

    [files]                    # paths relative to this config file
    listings = "listings.csv"
    venues = "venues.csv"
    destinations = "destinations.csv"
    restricted = "restricted.csv"
    default_stats = "stats.csv"    # figures where recorded history is missing
    default_curve = "curve.csv"

    [curves]
    min_days = 2               # history days a symbol needs for a curve of its own
    prior_days = 3.0           # weight of the default curve when blending, in days

    [tables.borrow]            # any delimited file, available as RefData.table("borrow")
    path = "borrow.csv"
    key = "symbol"
    delimiter = ","
    columns = { symbol = "str", shares = "int", fee_bps = "float", as_of = "date" }

Every key has a default except a table's `path`, `key` and `columns`. A bad file
is refused with a `RefDataError` naming the file, the key and what was
expected. `refdata/defaults/refdata.toml` is the shipped config.
"""

# determinism: edge module, offline tooling: reads the build config

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from refdata.files import Problem, RefDataError
from sequencer.config import ConfigError, read_toml

DEFAULTS_DIR = Path(__file__).resolve().parent / "defaults"
DEFAULT_CONFIG = DEFAULTS_DIR / "refdata.toml"

ColumnType = Literal["str", "int", "float", "bool", "date", "price"]
_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilesConfig(_Strict):
    listings: str = "listings.csv"
    venues: str = "venues.csv"
    destinations: str = "destinations.csv"
    restricted: str = "restricted.csv"
    default_stats: str = "stats.csv"
    default_curve: str = "curve.csv"


class CurvesConfig(_Strict):
    min_days: int = Field(default=2, ge=1, le=10_000)
    prior_days: float = Field(default=3.0, ge=0.0, le=10_000.0)


class TableConfig(_Strict):
    path: str = Field(min_length=1)
    key: str = Field(min_length=1)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    columns: dict[str, ColumnType] = Field(min_length=1)

    @field_validator("columns")
    @classmethod
    def _names(cls, v: dict[str, ColumnType]) -> dict[str, ColumnType]:
        for name in v:
            if not name or name != name.strip():
                raise ValueError(f"a column name must be non-empty without surrounding "
                                 f"spaces, got {name!r}")
        return v


class RefDataConfig(_Strict):
    bin_minutes: int = Field(default=5, ge=1, le=30)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    files: FilesConfig = FilesConfig()
    curves: CurvesConfig = CurvesConfig()
    tables: dict[str, TableConfig] = Field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """A validated config and where it was read from (paths resolve against `base`)."""

    path: Path
    base: Path
    settings: RefDataConfig

    def resolve(self, name: str) -> Path:
        return self.base / name

    @staticmethod
    def display(name: str) -> str:
        """How a source is named in errors and `sources`: as the config spells it when
        relative, else by its file name, so a set's digest never depends on where
        the checkout lives."""
        p = Path(name)
        return p.name if p.is_absolute() else p.as_posix()


# pydantic error types as what the key should have held ({...} from the error's context)
_EXPECTATIONS = {
    "extra_forbidden": "unknown key", "missing": "required key is missing",
    "int_parsing": "expected an integer", "int_type": "expected an integer",
    "int_from_float": "expected an integer", "float_parsing": "expected a number",
    "float_type": "expected a number", "string_type": "expected a string",
    "dict_type": "expected a table", "model_type": "expected a table",
    "less_than_equal": "expected at most {le}", "greater_than_equal": "expected at least {ge}",
    "literal_error": "expected one of {expected}",
    "string_too_long": "expected at most {max_length} character(s)",
    "string_too_short": "expected at least {min_length} character(s)",
    "too_short": "expected at least {min_length} entry(ies)",
}


def _expectation(e: Any) -> str:
    """A pydantic error entry as "expected ..." (pydantic's own words where unmapped)."""
    template = _EXPECTATIONS.get(e["type"])
    if template is not None:
        return template.format(**(e.get("ctx") or {}))
    msg = str(e["msg"])
    if msg.startswith("Value error, "):  # raised by a validator here, already phrased
        return msg.removeprefix("Value error, ")
    return "expected: " + msg[0].lower() + msg[1:]


def _problem(path: Path, key: str, what: str) -> RefDataError:
    return RefDataError([Problem(str(path), what, key=key or "(top level)")])


def load_config(path: Path | None = None) -> Config:
    """Read and validate a ref data config; None is the shipped default config."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = read_toml(path)
    except ConfigError as exc:
        raise RefDataError([Problem(str(path), exc.what)]) from None
    try:
        settings = RefDataConfig.model_validate(raw)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "(top level)"
            value: Any = e.get("input")
            shown = "" if isinstance(value, dict) else f", got {value!r}"
            if e["type"] == "missing":
                shown = ""
            problems.append(Problem(str(path), _expectation(e) + shown, key=key))
        raise RefDataError(problems) from None
    for name, table in settings.tables.items():
        if not _TABLE_NAME.fullmatch(name):
            raise _problem(path, f"tables.{name}",
                           "expected a table name of lower-case letters, digits and '_', "
                           "starting with a letter")
        if table.key not in table.columns:
            raise _problem(path, f"tables.{name}.key",
                           f"expected one of the declared columns "
                           f"({', '.join(table.columns)}), got {table.key!r}")
    return Config(path, path.parent, settings)
