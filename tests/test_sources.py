"""Parsers of the mirror layout and FRED: clean input, and every kind of bad input."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shocklab.data.errors import DataFileError, DataQualityWarning
from shocklab.data.sources import mirror as sources_mirror
from shocklab.data.sources.mirror import epoch_to_utc, read_bars, read_fred_csv, read_funding

GOOD = (
    "time,open,high,low,close,volume\n"
    "2025-01-27T00:00:00Z,100,101,99,100.5,10\n"
    "2025-01-27T01:00:00Z,100.5,102,100,101,11\n"
    "2025-01-27T02:00:00Z,101,103,100,102,12\n"
)


def write(tmp_path: Path, text: str, name: str = "X.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_clean_file_parses_to_utc_index(tmp_path: Path) -> None:
    frame = read_bars(write(tmp_path, GOOD))
    assert list(frame.index) == list(pd.date_range("2025-01-27", periods=3, freq="1h"))
    assert frame.index.tz is None
    assert frame.loc["2025-01-27T01:00", "close"] == 101.0
    assert frame.attrs["quality_notes"] == []


def test_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    text = "time,close\n2025-01-27T02:00:00+02:00,5\n2025-01-27T01:00:00Z,6\n"
    frame = read_bars(write(tmp_path, text))
    assert frame.index[0] == pd.Timestamp("2025-01-27T00:00")


def test_naive_intraday_stamps_are_a_timezone_slip(tmp_path: Path) -> None:
    text = "time,close\n2025-01-27T00:00:00Z,5\n2025-01-27T01:00:00,6\n"
    with pytest.raises(DataFileError, match=r"without a time zone.*row 1"):
        read_bars(write(tmp_path, text))


def test_corrupt_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage-not-deflate")
    with pytest.raises(DataFileError, match=r"corrupt or truncated.*fetch it again"):
        read_bars(path)


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    blob = gzip.compress((GOOD * 200).encode())
    path = tmp_path / "BTCUSDT.csv.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match="corrupt or truncated"):
        read_bars(path)


def test_truncated_last_line_with_partial_stamp(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"row 3 .*truncated"):
        read_bars(write(tmp_path, GOOD + "2025-01-27T0"))


def test_truncated_last_line_with_partial_prices_is_flagged(tmp_path: Path) -> None:
    with pytest.warns(DataQualityWarning, match=r"1 row\(s\) with NaN/zero/negative"):
        frame = read_bars(write(tmp_path, GOOD + "2025-01-27T03:00:00Z,102,104"))
    assert np.isnan(frame["close"].iloc[-1])
    assert frame["close"].notna().sum() == 3  # nothing else lost


def test_exact_duplicates_dropped_and_reported(tmp_path: Path) -> None:
    text = GOOD + "2025-01-27T01:00:00Z,100.5,102,100,101,11\n"
    with pytest.warns(DataQualityWarning, match="1 exact duplicate"):
        frame = read_bars(write(tmp_path, text))
    assert len(frame) == 3


def test_conflicting_duplicates_are_an_error(tmp_path: Path) -> None:
    text = GOOD + "2025-01-27T01:00:00Z,100.5,102,100,999,11\n"
    with pytest.raises(DataFileError, match=r"more than once with different values.*01:00"):
        read_bars(write(tmp_path, text))


def test_unsorted_rows_are_sorted_and_reported(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    text = "\n".join([lines[0], lines[3], lines[1], lines[2]]) + "\n"
    with pytest.warns(DataQualityWarning, match="not in time order"):
        frame = read_bars(write(tmp_path, text))
    assert frame.index.is_monotonic_increasing
    assert frame["close"].tolist() == [100.5, 101.0, 102.0]


@pytest.mark.parametrize("bad", ["nan", "0", "-5"])
def test_invalid_prices_become_nan_and_are_flagged(tmp_path: Path, bad: str) -> None:
    text = GOOD.replace("100.5,102,100,101,11", f"100.5,102,100,{bad},11")
    with pytest.warns(DataQualityWarning, match="2025-01-27 01:00"):
        frame = read_bars(write(tmp_path, text))
    assert frame.loc["2025-01-27T01:00"].drop("volume").isna().all()  # whole bar invalid
    assert frame["close"].notna().sum() == 2


def test_missing_close_column(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match=r"missing column\(s\) \['close'\]"):
        read_bars(write(tmp_path, "time,price\n2025-01-27T00:00:00Z,1\n"))


def test_close_only_rate_file_has_no_fake_ohlc(mirror: Path) -> None:
    # IRX (13-week bill yield) is a level that sat at 0.00 in 2020: not an invalid price
    frame = read_bars(mirror / "macro/1d/IRX.csv", positive=False)
    assert frame[["open", "high", "low", "volume"]].isna().all().all()
    assert frame["close"].notna().all()


def test_fred_csv_new_and_old_spelling() -> None:
    new = io.StringIO("observation_date,DFF\n2025-01-27,4.33\n2025-01-28,\n")
    old = io.StringIO("DATE,DFF\n2025-01-27,4.33\n2025-01-28,.\n")
    a, b = read_fred_csv(new), read_fred_csv(old)
    pd.testing.assert_frame_equal(a, b)
    assert a["value"].iloc[0] == 4.33
    assert np.isnan(a["value"].iloc[1])


def test_fred_mirror_file(mirror: Path) -> None:
    dff = read_fred_csv(mirror / "macro/fred/DFF.csv", "DFF")
    assert dff.index[0] == pd.Timestamp("2021-08-06")
    assert dff.loc["2021-08-06", "value"] == pytest.approx(0.10)


def test_funding_file(mirror: Path) -> None:
    funding = read_funding(mirror / "crypto/binance/usdm-funding/BTCUSDT.csv")
    assert funding.loc["2020-01-01T00:00", "funding_rate"] == pytest.approx(-0.00012359)
    assert funding.index.is_unique


def test_epoch_ms_and_us_mixed() -> None:
    ms = 1735689600000  # 2025-01-01T00:00Z in milliseconds
    stamps = epoch_to_utc(np.array([ms, (ms + 3_600_000) * 1000]))
    assert list(pd.DatetimeIndex(stamps)) == [
        pd.Timestamp("2025-01-01T00:00"),
        pd.Timestamp("2025-01-01T01:00"),
    ]


def test_epoch_seconds_rejected() -> None:
    with pytest.raises(DataFileError, match="seconds"):
        epoch_to_utc(np.array([1735689600]))


@pytest.mark.parametrize(
    ("relpath", "positive"),
    [
        ("crypto/binance/spot/1h/RENDERUSDT.csv", True),  # has a months-long hole
        ("crypto/binance/spot/1h/BTCUSDT.csv.gz", True),
        ("equities/us/1d/NVDA.csv", True),  # session dates, IEX-only volume
        ("macro/1d/IRX.csv", False),  # close-only level series
    ],
)
def test_arrow_fast_path_equals_pandas_path(
    mirror: Path, relpath: str, positive: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files on disk take pyarrow's columns; a buffer takes the pandas parser: same bars."""
    path = mirror / relpath
    opener = gzip.open if path.suffix == ".gz" else open
    with monkeypatch.context() as patch:  # prove the file on disk never reaches pandas
        patch.setattr(sources_mirror, "_pandas_bars", None)
        fast = read_bars(path, positive=positive)
    with opener(path, "rb") as buffer:
        slow = read_bars(buffer, positive=positive)
    pd.testing.assert_frame_equal(fast, slow)
    # and both agree with a plain pandas read of the close column
    plain = pd.read_csv(path)
    assert np.array_equal(fast["close"].to_numpy(), plain["close"].to_numpy(dtype="float64"))


def test_unsorted_duplicate_and_zero_price_are_repaired(tmp_path: Path) -> None:
    """Unsorted rows, an exact duplicate and a zero price: sorted, deduplicated, NaN-ed."""
    text = (
        "time,open,high,low,close,volume\n"
        "2025-01-27T02:00:00Z,101,103,100,102,12\n"
        "2025-01-27T00:00:00Z,100,101,99,100.5,10\n"
        "2025-01-27T02:00:00Z,101,103,100,102,12\n"
        "2025-01-27T01:00:00Z,100.5,0,100,101,11\n"
    )
    with pytest.warns(DataQualityWarning) as caught:
        frame = read_bars(write(tmp_path, text))
    assert len(caught) == 1  # one warning naming every repair
    notes = frame.attrs["quality_notes"]
    assert notes[0] == "rows were not in time order (sorted)"
    assert notes[1] == "1 exact duplicate row(s) dropped"
    assert notes[2].startswith("1 row(s) with NaN/zero/negative prices set to NaN")
    expected = pd.read_csv(io.StringIO(text))
    expected.index = pd.DatetimeIndex(pd.to_datetime(expected.pop("time")).dt.tz_localize(None))
    expected = expected[~expected.index.duplicated()].sort_index()
    assert frame.index.equals(expected.index.rename("time"))
    assert frame.loc["2025-01-27T01:00", ["open", "high", "low", "close"]].isna().all()
    assert frame.loc["2025-01-27T01:00", "volume"] == 11  # volume is not a price
    assert frame.loc["2025-01-27T02:00", "close"] == 102
