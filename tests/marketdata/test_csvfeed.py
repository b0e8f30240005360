"""The user CSV feed: exact prices, both time forms, bad rows reported, bad files refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from marketdata.csvfeed import FeedFileError, parse_price, parse_size, read_csv_feed
from marketdata.feed import QUOTE, TRADE

SAMPLE = Path(__file__).resolve().parents[2] / "marketdata" / "samples" / "user_feed.csv"
DAY = dt.date(2013, 10, 8)
T0930 = 1_381_239_000 * 10**9  # 2013-10-08 09:30 New York (EDT) = 13:30 UTC
HEADER = "time,symbol,kind,venue,bid,bid_size,ask,ask_size,price,size,condition\n"


def write(tmp_path: Path, text: str, name: str = "feed.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_sample_reads_clean_with_exact_prices() -> None:
    b = read_csv_feed(SAMPLE, day=DAY)
    assert b.bad == [] and b.files == [str(SAMPLE)]
    assert len(b) == 30 and (b.quote_rows, b.trade_rows) == (18, 12)
    assert b.symbols == ("AIG", "IBM") and not b.one_sided
    assert np.all(np.diff(b.t_ns) >= 0)
    # first data row (line 4, after two comment lines and the header)
    assert (b.line[0], b.kind[0], b.t_ns[0]) == (4, QUOTE, T0930 + 18_000_000)
    assert (b.price[0], b.size[0], b.ask_px[0], b.ask_size[0]) == (48_7800, 1200, 48_8100, 900)
    opening = b.select(b.condition == b.conditions.index("40"))
    assert (opening.kind[0], opening.price[0], opening.size[0]) == (TRADE, 48_8000, 51000)
    assert b.exchanges[opening.exchange[0]] == "N"
    odd = b.select(b.condition == b.conditions.index("80000000"))
    assert sorted(odd.size.tolist()) == [30, 45]
    pulled = b.select((b.kind == QUOTE) & (b.ask_size == 0))  # IBM's Q quote without an ask
    assert (len(pulled), pulled.price[0], pulled.ask_px[0]) == (1, 181_8200, 0)
    ibm = b.select((b.symbol == 1) & (b.kind == QUOTE))
    assert np.all(ibm.price[ibm.ask_size > 0] < ibm.ask_px[ibm.ask_size > 0])
    assert b.t_ns[-1] == T0930 + 59_987_000_000


@pytest.mark.parametrize(("text", "fixed"), [
    ("0.0001", 1), ("48.19", 48_1900), ("180", 180_0000), ("48.1", 48_1000),
    ("48.123400", 48_1234), ("0", 0), ("007.50", 7_5000), ("179.8698", 179_8698),
    ("99999999999.9999", 10**15 - 1),
])
def test_prices_convert_exactly(text: str, fixed: int) -> None:
    assert parse_price(text) == fixed


@pytest.mark.parametrize("text", [
    "48.12345", "0.00001", "-1", "+1", "1e3", "", " ", "4 8", ".5", "48.", "48,19", "nan",
    "100000000000", "\u0664\u0668.19",
])
def test_prices_refused(text: str) -> None:
    with pytest.raises(ValueError, match="column bid: expected"):
        parse_price(text, "bid")


def test_sizes() -> None:
    assert parse_size("300") == 300
    for text in ("300.0", "-5", "1e2", "", "x", "\u0663\u0660\u0660"):
        with pytest.raises(ValueError, match="column size: expected a whole number"):
            parse_size(text)


def test_each_kind_of_bad_row_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    rows = [
        "09:30:00.000,AIG,Q,N,48.18,500,48.20,700,,,1",  # 2: good
        "09:30:01,AIG,T,P,,,,,48.12345,100,",  # 3: too many decimals
        "9:30:02,AIG,T,P,,,,,48.19,100,",  # 4: time form
        "09:30:03,AIG,X,P,,,,,48.19,100,",  # 5: kind
        "09:30:04,AIG,Q,N,48.20,500,48.19,700,,,",  # 6: crossed at one venue
        "09:30:05,AIG,Q,N,48.19,500,48.19,700,,,",  # 7: locked at one venue
        "09:30:06,AIG,T,P,,,,,48.19,1.5,",  # 8: fractional size
        "09:30:07,AIG,T,P,48.18,,,,48.19,100,",  # 9: a bid on a trade
        "09:30:08,AIG,Q,N,48.18,500,48.20,700,48.19,,",  # 10: a price on a quote
        "09:30:09,AIG,T,P,,,,,48.19,100",  # 11: a field short
        "09:30:10,,T,P,,,,,48.19,100,",  # 12: no symbol
        "09:30:11,AIG,T,P,,,,,48.19,100,4G",  # 13: condition not hex
        "2013-10-09T09:30:12,AIG,T,P,,,,,48.19,100,",  # 14: another day
        "09:30:13,AIG,Q,N,48.18,500,,700,,,",  # 15: an ask size without a price
        "09:30:14,AIG,T,P,,,,,0,100,",  # 16: a trade at 0
        "09:30:15,AIG,T,P,,,,,48.19,0,",  # 17: a trade of 0 shares
        "25:30:16,AIG,T,P,,,,,48.19,100,",  # 18: no such hour
        "2013-02-30T09:30:17,AIG,T,P,,,,,48.19,100,",  # 19: no such date
        "09:30:18,AIG,T,,,,,,48.19,100,",  # 20: no venue
        "09:30:19.5,AIG,t,z,,,,,48.19,300,0040",  # 21: good (lower-case kind, padded hex)
        "09:30:20,AIG,Q,N,48.18,500,48.20,0,,,",  # 22: an ask price without a size
    ]
    b = read_csv_feed(write(tmp_path, HEADER + "\n".join(rows) + "\n"), day=DAY)
    got = {r.line: r.why for r in b.bad}
    assert all(r.file == str(tmp_path / "feed.csv") for r in b.bad)
    expected = {
        3: "column price: expected a price in whole 0.0001 (at most 4 decimals), got '48.12345'",
        4: "column time: expected YYYY-MM-DDTHH:MM:SS",
        5: "column kind: expected Q (quote) or T (trade), got 'X'",
        6: "columns bid, ask: expected a bid below the ask at one venue, got bid 48.20 and ask",
        7: "columns bid, ask: expected a bid below the ask",
        8: "column size: expected a whole number of shares, got '1.5'",
        9: "column bid: expected empty on a trade row, got '48.18'",
        10: "column price: expected empty on a quote row, got '48.19'",
        11: "expected 11 fields as in the header, found 10",
        12: "column symbol: expected a symbol",
        13: "column condition: expected hex condition flags",
        14: "column time: expected a time on the session date 2013-10-08",
        15: "column ask: expected a price when ask_size is 700",
        16: "column price: expected a trade price above 0, got '0'",
        17: "column size: expected a trade size of at least 1 share",
        18: "column time: expected hours 00-23",
        19: "column time: expected a real calendar date",
        20: "column venue: expected a venue",
        22: "column ask: expected empty or 0 when ask_size is empty or 0, got '48.20'",
    }
    assert sorted(got) == sorted(expected)
    for line, why in expected.items():
        assert got[line].startswith(why), (line, got[line])
    assert len(b) == 2 and b.line.tolist() == [2, 21]
    assert b.conditions == ("1", "40") and b.exchanges == ("N", "z")
    assert b.kind.tolist() == [QUOTE, TRADE] and b.price.tolist() == [48_1800, 48_1900]
    assert str(b.bad[0]) == f"{tmp_path / 'feed.csv'}:3: {expected[3]}"


def test_a_row_that_is_not_utf8_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(HEADER.encode() + b"09:30:00,AIG,T,P,,,,,48.19,100,\n"
                     + b"09:30:01,A\xefG,T,P,,,,,48.19,100,\n"
                     + b"09:30:02,AIG,T,P,,,,,48.20,100,\n")
    b = read_csv_feed(path, day=DAY)
    assert [(r.line, r.why) for r in b.bad] == [(3, "not UTF-8 text")]
    assert b.price.tolist() == [48_1900, 48_2000]


def test_time_forms_zones_and_order(tmp_path: Path) -> None:
    text = HEADER + "\n".join([
        "09:30:00.123456789,AIG,T,P,,,,,48.19,100,",
        "2013-10-08T09:30:00,AIG,T,P,,,,,48.18,100,",
        "2013-10-08 09:29:59.5,AIG,T,P,,,,,48.17,100,",
        "09:30:00,AIG,T,Q,,,,,48.16,100,",  # the same time as line 3: stays after it
    ]) + "\n"
    b = read_csv_feed(write(tmp_path, text), day=DAY)
    assert b.bad == []
    assert b.t_ns.tolist() == [T0930 - 500_000_000, T0930, T0930, T0930 + 123_456_789]
    assert b.line.tolist() == [4, 3, 5, 2]  # sorted by time, file order between equals
    assert b.price.tolist() == [48_1700, 48_1800, 48_1600, 48_1900]
    # winter: New York is UTC-5, not UTC-4; and another zone entirely
    winter = read_csv_feed(write(tmp_path, HEADER + "09:30:00,AIG,T,P,,,,,48.19,100,\n"),
                           day=dt.date(2014, 1, 6))
    assert winter.t_ns[0] == 1_389_018_600 * 10**9  # 2014-01-06 14:30 UTC
    london = read_csv_feed(write(tmp_path, HEADER + "08:00:00,VOD,T,L,,,,,2.315,100,\n"),
                           day=dt.date(2014, 1, 6), tz="Europe/London")
    assert london.t_ns[0] == 1_388_995_200 * 10**9 and london.price[0] == 2_3150
    with pytest.raises(ValueError, match="unknown time zone"):
        read_csv_feed(SAMPLE, day=DAY, tz="Mars/Olympus_Mons")


def test_header_in_any_order_case_and_extra_columns(tmp_path: Path) -> None:
    text = ("# a comment first\n\n"
            " Symbol ,TIME,Kind,venue,Price,Size,bid,BID_SIZE,ask,ask_size,note\n"
            "AIG,09:30:00,T,N,48.19,100,,,,,first print\n"
            "# a comment between rows\n"
            "AIG,09:30:01,Q,N,,,48.18,300,,0,bid only\n")
    b = read_csv_feed(write(tmp_path, text), day=DAY)
    assert b.bad == [] and len(b) == 2
    assert b.conditions == ("",)  # no condition column: no flags
    assert (b.price[1], b.size[1], b.ask_px[1], b.ask_size[1]) == (48_1800, 300, 0, 0)
    assert b.line.tolist() == [4, 6]


def test_missing_file_and_missing_columns_are_clear_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(FeedFileError, match=r"nope\.csv: no such feed file") as e:
        read_csv_feed(missing, day=DAY)
    assert isinstance(e.value, OSError)
    with pytest.raises(FeedFileError, match="cannot read"):
        read_csv_feed(tmp_path, day=DAY)  # a directory
    no_ask_size = HEADER.replace(",ask_size", "")
    path = write(tmp_path, no_ask_size + "09:30:00,AIG,T,P,,,,48.19,100,\n")
    with pytest.raises(FeedFileError, match=r"feed\.csv: header lacks column 'ask_size'"):
        read_csv_feed(path, day=DAY)
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(FeedFileError, match="lacks columns 'time', 'symbol'"):
        read_csv_feed(path, day=DAY)
    with pytest.raises(FeedFileError, match="no header row"):
        read_csv_feed(write(tmp_path, "# only a comment\n\n"), day=DAY)
    with pytest.raises(FeedFileError, match="'price' twice"):
        read_csv_feed(write(tmp_path, HEADER.strip() + ",price\n"), day=DAY)


def test_an_empty_table_is_an_empty_batch(tmp_path: Path) -> None:
    b = read_csv_feed(write(tmp_path, HEADER), day=DAY)
    assert len(b) == 0 and b.bad == [] and b.symbols == ()
    assert b.t_ns.dtype == np.int64 and b.kind.dtype == np.int8 and b.symbol.dtype == np.int32


def test_a_row_the_csv_module_refuses_is_a_bad_row(tmp_path: Path) -> None:
    huge = "A" * 200_000  # over the csv module's field size limit
    text = (HEADER + "09:30:00,AIG,T,P,,,,,48.19,100,\n"
            + f"09:30:01,{huge},T,P,,,,,48.19,100,\n" + "09:30:02,AIG,T,P,,,,,48.20,100,\n")
    b = read_csv_feed(write(tmp_path, text), day=DAY)
    assert [(r.line, r.why.split(":")[0]) for r in b.bad] == [(3, "not a CSV row")]
    assert b.line.tolist() == [2, 4]
