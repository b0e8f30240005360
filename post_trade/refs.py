"""What the post-trade records read from the day's ref data, checked once, up front.

Four declared tables of the ref data set (`refdata/defaults/refdata.toml`), owned by
the post-trade records and checked by `tape refdata build` through the
`tape.refdata.checks` entry points below:

- `firm` (firm.csv): the firm's name, CAT Reporter IMID, submitter id, CRD number,
  the agency desk's CAT deptType, the clearing firm and the clock tolerance;
- `accounts` (accounts.csv): per client, the clearing account fills are allocated to,
  CAT accountHolderType and firmDesignatedID, affiliateFlag, the firm's capacity;
- `venue_fees` (venue_fees.csv): per venue (its MIC), the CAT id and the fee schedule
  in cents per 100 shares (positive paid, negative a rebate received);
- `cat_routes` (cat_routes.csv): per destination, the CAT destinationType and
  destination.

`refs_for(refdata, clients, destinations)` returns `Refs` or raises `MissingRefData`
naming the file and the field that is missing: a report is never made with a
blank where an identifier belongs.
"""

# determinism: pure, reads nothing but the ref data object it is given

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from refdata.model import RefData

_HOLDER_TYPES = ("A", "E", "F", "I", "O", "V", "P", "X")
_CAPACITIES = ("A", "P", "R")
_DEST_TYPES = ("E", "F", "O")


class MissingRefData(Exception):
    """The ref data lacks what a record needs: names the file and the field."""


@dataclass(frozen=True, slots=True)
class Firm:
    name: str
    imid: str
    submitter_id: str
    crd: str
    dept_type: str
    clearing_firm: str
    time_tolerance_ms: int


@dataclass(frozen=True, slots=True)
class Account:
    client: str
    account: str
    account_holder_type: str
    firm_designated_id: str
    affiliate: bool
    capacity: str


@dataclass(frozen=True, slots=True)
class VenueFees:
    venue: str
    cat_id: str
    add_per_100: float  # cents per 100 shares; positive paid, negative received
    remove_per_100: float
    auction_per_100: float

    def cents(self, liquidity: str, qty: int) -> float:
        """The fee (positive) or rebate (negative) of one fill, in cents."""
        rate = {"added": self.add_per_100, "removed": self.remove_per_100,
                "auction": self.auction_per_100}.get(liquidity, self.remove_per_100)
        return rate * qty / 100.0


@dataclass(frozen=True, slots=True)
class CatRoute:
    destination: str
    destination_type: str  # E exchange, F broker-dealer
    cat_destination: str
    session: str  # the destination's FIX session (destinations.csv)


@dataclass(frozen=True, slots=True)
class Refs:
    firm: Firm
    accounts: dict[str, Account]
    fees: dict[str, VenueFees]
    routes: dict[str, CatRoute]

    def account(self, client: str) -> Account:
        try:
            return self.accounts[client]
        except KeyError:
            raise MissingRefData(f"accounts.csv (ref data table 'accounts') has no row for "
                                 f"client {client!r}: field account_holder_type, "
                                 f"firm_designated_id and account are needed") from None

    def venue_fees(self, venue: str) -> VenueFees:
        try:
            return self.fees[venue]
        except KeyError:
            raise MissingRefData(f"venue_fees.csv (ref data table 'venue_fees') has no row "
                                 f"for venue {venue!r}: fields cat_id and the fee "
                                 f"schedule are needed") from None

    def route(self, destination: str) -> CatRoute:
        try:
            return self.routes[destination]
        except KeyError:
            raise MissingRefData(f"cat_routes.csv (ref data table 'cat_routes') has no row "
                                 f"for destination {destination!r}: fields destination_type "
                                 f"and cat_destination are needed") from None


def _table(rd: RefData, name: str) -> Any:
    try:
        return rd.table(name)
    except KeyError:
        raise MissingRefData(f"{name}.csv: the day's ref data set has no table {name!r} "
                             f"(declare [tables.{name}] in refdata.toml; "
                             f"refdata/defaults/{name}.csv is the shipped one)") from None


def _field(row: dict[str, Any], table: str, key: str, field: str) -> Any:
    v = row.get(field)
    if v is None or v == "":
        raise MissingRefData(f"{table}.csv: row {key!r} has no {field}")
    return v


def refs_for(rd: RefData, clients: Iterable[str] = (),
             destinations: Iterable[str] = ()) -> Refs:
    """The post-trade ref data, with every client and destination the day used checked
    for a complete row (else `MissingRefData` names file and field)."""
    firm_rows = _table(rd, "firm").rows
    if len(firm_rows) != 1:
        raise MissingRefData(f"firm.csv: expected exactly one row (the firm), got "
                             f"{len(firm_rows)}")
    (fkey, frow), = firm_rows.items()
    firm = Firm(**{f: _field(frow, "firm", fkey, f) for f in (
        "name", "imid", "submitter_id", "crd", "dept_type", "clearing_firm",
        "time_tolerance_ms")})
    accounts = {k: Account(client=k, account=str(r.get("account") or ""),
                           account_holder_type=str(r.get("account_holder_type") or ""),
                           firm_designated_id=str(r.get("firm_designated_id") or ""),
                           affiliate=bool(r.get("affiliate")),
                           capacity=str(r.get("capacity") or "A"))
                for k, r in _table(rd, "accounts").rows.items()}
    fees = {k: VenueFees(venue=k, cat_id=str(r.get("cat_id") or ""),
                         add_per_100=float(r.get("add_per_100") or 0.0),
                         remove_per_100=float(r.get("remove_per_100") or 0.0),
                         auction_per_100=float(r.get("auction_per_100") or 0.0))
            for k, r in _table(rd, "venue_fees").rows.items()}
    sessions = {d.name: d.session for d in rd.destinations}
    routes = {k: CatRoute(destination=k, destination_type=str(r.get("destination_type") or ""),
                          cat_destination=str(r.get("cat_destination") or ""),
                          session=sessions.get(k, ""))
              for k, r in _table(rd, "cat_routes").rows.items()}
    refs = Refs(firm=firm, accounts=accounts, fees=fees, routes=routes)
    for c in sorted(set(clients)):
        a = refs.account(c)
        for f in ("account", "account_holder_type", "firm_designated_id"):
            _field({f: getattr(a, f)}, "accounts", c, f)
    for d in sorted(set(destinations)):
        r = refs.route(d)
        for f in ("destination_type", "cat_destination", "session"):
            if not getattr(r, f):
                raise MissingRefData(f"cat_routes.csv: row {d!r} has no {f}" if f != "session"
                                     else f"destinations.csv: destination {d!r} has no session")
    return refs


# ----------------------------------------------------------- checks at `tape refdata build`

def check_accounts(rows: dict[str, dict[str, Any]],
                   symbols: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Problems in the accounts table, as (row key, column, what was expected)."""
    out: list[tuple[str, str, str]] = []
    fdids: dict[str, str] = {}
    for key, row in rows.items():
        for col in ("account", "firm_designated_id"):
            if not row.get(col):
                out.append((key, col, "expected a non-empty identifier"))
        if row.get("account_holder_type") not in _HOLDER_TYPES:
            out.append((key, "account_holder_type",
                        f"expected one of {', '.join(_HOLDER_TYPES)} (CAT accountHolderType)"))
        if row.get("capacity") not in _CAPACITIES:
            out.append((key, "capacity",
                        "expected A (agency), P (principal) or R (riskless principal)"))
        fdid = str(row.get("firm_designated_id") or "")
        if fdid and fdid in fdids:
            out.append((key, "firm_designated_id",
                        f"expected a unique FDID ({fdid!r} is also {fdids[fdid]!r}'s)"))
        fdids.setdefault(fdid, key)
    return out


def check_venue_fees(rows: dict[str, dict[str, Any]],
                     symbols: tuple[str, ...]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for key, row in rows.items():
        if not row.get("cat_id"):
            out.append((key, "cat_id", "expected the venue's CAT id"))
        for col in ("add_per_100", "remove_per_100", "auction_per_100"):
            v = row.get(col)
            if v is None or not -1000.0 <= float(v) <= 1000.0:
                out.append((key, col, "expected cents per 100 shares, -1000 to 1000"))
    return out


def check_cat_routes(rows: dict[str, dict[str, Any]],
                     symbols: tuple[str, ...]) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for key, row in rows.items():
        if row.get("destination_type") not in _DEST_TYPES:
            out.append((key, "destination_type", "expected E (exchange), F (broker-dealer) or O"))
        if not row.get("cat_destination"):
            out.append((key, "cat_destination",
                        "expected the exchange's CAT id or the broker's IMID"))
    return out
